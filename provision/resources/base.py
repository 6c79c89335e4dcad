"""What every resource type has: a typed spec, the facts it needs, a pure plan(), an apply()."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from provision import facts as factmod
from provision.connections.base import CommandResult, Connection
from provision.facts import FactRequest, Facts, FileFact
from provision.plan import ResourcePlan

STATE_DIR = "/var/lib/provision"


def absolute_path(v: str) -> str:
    """A spec field validator: ``field_validator("path")(absolute_path)``."""
    if not v.startswith("/"):
        raise ValueError("must be an absolute path")
    return v


class Spec(BaseModel):
    """Base of resource specs: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Renderer:
    """Renders a template from templates/ (or the playbook's directory) with the run's context."""

    render: Callable[[str], str]


@dataclass
class ApplyContext:
    """What apply() may use: the connection, the facts (kept current), progress output, the journal."""

    conn: Connection
    facts: Facts
    run_id: str
    progress: Callable[[str], None] = lambda msg: None
    output: Callable[[str], None] | None = None  # streams long commands' output when verbose
    journal: list[dict[str, Any]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None,
            stream: bool = False) -> CommandResult:
        return self.conn.run(argv, input=input, timeout=timeout,
                             stream=self.output if stream else None)

    def check(self, argv: Sequence[str], *, what: str, timeout: float | None = None,
              stream: bool = False) -> CommandResult:
        return self.conn.check(argv, what=what, timeout=timeout, stream=self.output if stream else None)

    def backup_path(self, path: str) -> str:
        return f"{STATE_DIR}/backups/{self.run_id}{path}"

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int | str = 0,
                   gid: int | str = 0) -> None:
        """Atomic write with a backup, refused if the file changed since the facts were read."""
        before = self.facts.file(path)
        backup = self.backup_path(path) if before.exists else None
        expect = hashlib.sha256(before.content).hexdigest() if before.exists else "-"
        self.conn.write_file(path, data, mode=mode, owner=f"{uid}:{gid}", backup=backup, expect=expect)
        self.journal.append({"action": "write", "path": path, "backup": backup,
                             "created": not before.exists, "time": time.time()})
        after = FileFact(path, True, data, mode)
        for attr, value in (("uid", uid), ("gid", gid)):
            if isinstance(value, int) or str(value).isdigit():
                setattr(after, attr, int(value))
            else:
                setattr(after, "owner" if attr == "uid" else "group", str(value))
        self.facts.files[path] = after

    def remove_file(self, path: str) -> None:
        backup = self.backup_path(path)
        self.conn.remove_file(path, backup=backup)
        self.journal.append({"action": "remove", "path": path, "backup": backup, "time": time.time()})
        self.facts.files[path] = FileFact(path, exists=False)

    def refresh(self, req: FactRequest) -> Facts:
        return factmod.refresh(self.conn, self.facts, req)


class Resource:
    """A resource type. Subclasses set ``type_name``, ``Spec`` and implement the three methods.

    ``plan()`` must be a pure function of the spec and the facts (unit-testable from data); all
    effects go through ``apply()``, which gets the plan back and returns the outputs later
    resources may use as ``{{ <id>.<output> }}``.
    """

    type_name: ClassVar[str] = ""
    Spec: ClassVar[type[Spec]] = Spec
    outputs: ClassVar[dict[str, str]] = {}  # output name -> description (documented)
    summary: ClassVar[str] = ""

    def __init__(self, spec: Spec, renderer: Renderer | None = None) -> None:
        self.spec = spec
        self.renderer = renderer

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        """Facts needed, from the spec as far as it is known before facts (missing keys = defaults)."""
        return FactRequest()

    def label(self) -> str:
        return self.type_name

    def plan(self, facts: Facts) -> ResourcePlan:
        raise NotImplementedError

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        raise NotImplementedError


def defaults(spec_cls: type[Spec], partial: dict[str, Any]) -> dict[str, Any]:
    """A partial spec completed with the model's defaults (for request())."""
    out = {name: f.default for name, f in spec_cls.model_fields.items() if not f.is_required()}
    out.update(partial)
    return out
