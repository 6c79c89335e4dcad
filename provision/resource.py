"""What a resource type is. Each type is one module in provision/resources/ (or a plugin's module,
found through the ``provision.resources`` entry-point group) and owns all of it:

- ``spec_type``: its keys, a pydantic model whose field descriptions are its documentation and
  whose JSON Schema is part of the playbook schema;
- ``facts(known)``: what it reads from the host, from its rendered spec (and what is known so far);
- ``plan(facts)``: a pure function of the spec and those facts → changes with reasons, or a no-op
  with its reason;
- ``apply(plan, ctx)``: the effects, through the apply context (atomic writes, facts kept current);
- ``checks(rid, outputs, env)``: the testinfra checks that prove its state (``provision verify``);
- ``export(out)``: its part of cloud-init user data (``provision export cloud-init``), or
  NotExportable when it cannot be expressed faithfully there;
- ``template_fields``: which keys name a template file (checked when the playbook loads).

See docs/extending.md for a worked example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from provision.cloudconfig import CloudConfig
from provision.connections.base import CommandResult, Connection, Stream
from provision.errors import NotExportable, ResourceError
from provision.facts import Fact, Facts, FileContent, FileState, gather
from provision.findings import Examiner
from provision.journal import STATE_DIR, Event
from provision.plan import Outputs, ResourcePlan
from provision.verify.checks import Check, CheckEnv

S = TypeVar("S", bound="Spec")
D = TypeVar("D")
T = TypeVar("T")

Render = Callable[[str], str]  # template name → text, rendered with the run's context


def absolute_path(v: str) -> str:
    """A spec field validator: ``field_validator("path")(absolute_path)``. An absolute path
    without ``.`` or ``..`` parts, control characters or NUL, at most 4096 bytes; ``//``
    becomes ``/``."""
    if not v.startswith("/"):
        raise ValueError("must be an absolute path")
    if len(v.encode()) > 4096 or any(ord(c) < 0x20 or c == "\x7f" for c in v):
        raise ValueError("must be a path of at most 4096 bytes without control characters or NUL")
    parts = [p for p in v.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError("must not have '.' or '..' parts (write the path it means)")
    return "/" + "/".join(parts) + ("/" if v.endswith("/") and parts else "")


class Spec(BaseModel):
    """Base of resource specs: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _quiet(message: str) -> None:
    pass


Record = Callable[[dict[str, object]], None]  # appends an entry to the run's journal on the target


@dataclass
class ApplyContext:
    """What apply() may use: the connection, the facts (kept current), progress output, the run's
    journal (``record``: written on the target as the run goes, for rollback)."""

    conn: Connection
    facts: Facts
    run_id: str
    progress: Callable[[str], None] = _quiet
    status: Callable[[str], None] = _quiet  # a long step's live state (apt's progress): shown in place
    output: Stream | None = None  # streams long commands' output when verbose
    recorded: list[dict[str, object]] = field(default_factory=list)
    sink: Record | None = None
    touched: set[str] = field(default_factory=set)  # paths this run wrote or removed (backed up once)

    def record(self, entry: dict[str, object]) -> None:
        self.recorded.append(entry)
        if self.sink is not None:
            self.sink(entry)

    def run(self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None,
            stream: bool = False) -> CommandResult:
        return self.conn.run(argv, input=input, timeout=timeout, stream=self.output if stream else None)

    def check(self, argv: Sequence[str], *, what: str, input: bytes | None = None, timeout: float | None = None,
              stream: bool = False) -> CommandResult:
        return self.conn.check(argv, what=what, input=input, timeout=timeout,
                               stream=self.output if stream else None)

    def invalidate(self, *topics: str) -> None:
        """What a step changed (e.g. ``DPKG`` after apt-get install): those facts are read again
        when a later resource asks for them."""
        self.facts.invalidate(*topics)

    def gather(self, facts: Iterable[Fact[object]]) -> None:
        """Read ``facts`` again now (one round trip), e.g. to check what a step did."""
        wanted = list(dict.fromkeys(facts))
        self.facts.update(gather(self.conn, wanted))

    def fresh(self, fact: Fact[T]) -> T:
        self.gather([fact])
        return self.facts.get(fact)

    def backup_path(self, path: str) -> str:
        return f"{STATE_DIR}/backups/{self.run_id}{path}"

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int | str = 0,
                   gid: int | str = 0, follow: bool = False) -> None:
        """Atomic write with a backup, refused if the file changed since its fact was read, and
        through a link unless ``follow`` (Connection.write_file says which links)."""
        fact = FileContent(path, follow)
        before = self.facts.get(fact).writable()
        # the first change of a path in this run keeps its backup: a second write (two resources
        # editing /etc/environment) must not replace it with what the first one wrote
        backup = self.backup_path(path) if before.exists and path not in self.touched else None
        self.touched.add(path)
        expect = hashlib.sha256(before.content).hexdigest() if before.exists else "-"
        self.record({"event": Event.WRITE, "path": path, "backup": backup, "created": not before.exists,
                     "sha256": hashlib.sha256(data).hexdigest(), "mode": f"{mode:04o}",
                     "owner": f"{uid}:{gid}", **({"follow": True} if follow else {})})
        self.conn.write_file(path, data, mode=mode, owner=f"{uid}:{gid}", backup=backup, expect=expect,
                             follow=follow)
        after = FileState(path, True, data, mode)
        after.uid, after.owner = (int(uid), before.owner) if str(uid).isdigit() else (before.uid, str(uid))
        after.gid, after.group = (int(gid), before.group) if str(gid).isdigit() else (before.gid, str(gid))
        self.facts.set(fact, after)

    def undo_with(self, argv: Sequence[str], *, what: str) -> None:
        """Tell rollback how to undo a change this run makes by a command (not by ``write_file``
        or ``remove_file``, which rollback undoes itself): ``provision rollback`` runs ``argv`` on
        the target after it has put the run's files back, the last recorded first. Record it
        before making the change, so that a run cut short is undone too."""
        self.record({"event": Event.UNDO, "argv": [str(a) for a in argv], "what": what})

    def remove_file(self, path: str, *, follow: bool = False) -> None:
        """Remove ``path`` with a backup (a link: the link itself; links among its parents only
        with ``follow``)."""
        backup = None if path in self.touched else self.backup_path(path)  # the first backup stays
        self.touched.add(path)
        self.record({"event": Event.REMOVE, "path": path, "backup": backup, **({"follow": True} if follow else {})})
        self.conn.remove_file(path, backup=backup, follow=follow)
        self.facts.set(FileContent(path, follow), FileState(path, exists=False))


class Phase(IntEnum):
    """When a resource runs on a host, whatever its place in the playbook: every resource of an
    earlier phase first, in playbook order within a phase. A type that is in several phases runs
    (is planned, and applied if it changes anything) in each."""

    NETWORK = 10  # what package and repository steps need to reach the network (proxy, CA)
    MAIN = 50  # the playbook's order
    SETTLE = 90  # again after everything else: configure what earlier steps installed


class Resource(Generic[S, D]):
    """A resource type: a typed spec, the facts it reads, a pure plan(), apply(), checks().

    ``S`` is its spec model, ``D`` the private data its plan hands to its apply.
    """

    type_name: ClassVar[str] = ""  # the key used in playbooks, e.g. "jdk"
    spec_type: ClassVar[type[Spec]] = Spec
    summary: ClassVar[str] = ""  # one line, for listings and docs
    output_docs: ClassVar[dict[str, str]] = {}  # output name → description (documented)
    template_fields: ClassVar[tuple[str, ...]] = ()  # keys that name a template file
    example: ClassVar[str] = ""  # a playbook's `resources:` item in YAML, for the docs
    examiners: ClassVar[tuple[Examiner, ...]] = ()  # what `provision doctor` checks for this type's domain
    phases: ClassVar[tuple[Phase, ...]] = (Phase.MAIN,)  # when it runs (see Phase)

    def __init__(self, spec: S, render: Render | None = None) -> None:
        self.spec = spec
        self._render = render

    def render(self, template: str) -> str:
        """Render one of the resource's templates with the run's context (vars, facts, outputs)."""
        if self._render is None:
            raise ResourceError(f"{self.label()}: templates cannot be rendered here")
        return self._render(template)

    def label(self) -> str:
        return self.type_name

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        """The facts plan() reads. Called again with what has been gathered since, until it asks
        for nothing new: ask for more once the first answers tell what else is needed (an install
        candidate only for a package that is missing). ``known.peek`` is None for what is unknown."""
        return ()

    def plan(self, facts: Facts) -> ResourcePlan[D]:
        raise NotImplementedError

    def prepare(self, plan: ResourcePlan[D]) -> None:
        """Before apply, in an apply (not in plan or --check): the controller-side work the plan
        only named, such as fetching a pinned key and checking it. Touches no host; a
        ResourceError here stops the run before anything is recorded or written."""

    def apply(self, plan: ResourcePlan[D], ctx: ApplyContext) -> Outputs:
        """Make the planned changes; return the outputs (the plan's, or what is known now)."""
        raise NotImplementedError

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        """The checks that prove this resource's desired state on a host (``rid``: its id)."""
        raise NotImplementedError

    def export(self, out: CloudConfig) -> Outputs:
        """Render this resource into cloud-init user data for the host ``out.host`` describes (its
        facts are given, not read); add a line to ``out.summary``; return the outputs later
        resources see. Raise NotExportable when it cannot be expressed faithfully."""
        raise NotExportable(f"the {self.type_name} resource type has no cloud-init export")


AnyResource = Resource[Any, Any]
ResourceType = type[AnyResource]
