"""Testing a resource type without a host: facts given as data, and a resource's plan and checks
made from them. Public and typed, for a plugin's own unit tests (docs/extending.md):

    facts = testing.facts(files={"/etc/timezone": "Etc/UTC\\n"}, values={LocalTime("Europe/Berlin"): ...})
    plan = testing.plan("timezone", {"name": "Europe/Berlin"}, facts)
    assert [c.summary for c in plan.changes] == [...]

What a host would answer when the data does not say: a file not given is absent, a package not
given is unknown to dpkg, dpkg's audit is clean (no interrupted run); any other fact not given is
an error that names it (a plan reads only what its ``facts()`` asked for, and the test says what
the host holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from provision.errors import FactError, ResourceError
from provision.facts import (
    HOST,
    DpkgAudit,
    Fact,
    Facts,
    FileContent,
    FileState,
    HostFacts,
    OsRelease,
    PackageState,
    PackageStatus,
    WslFacts,
)
from provision.plan import Outputs, ResourcePlan
from provision.registry import lookup
from provision.resource import AnyResource, Resource, ResourceType
from provision.verify.checks import Check, CheckEnv

T = TypeVar("T")

__all__ = ["DataFacts", "checks", "facts", "host", "make", "plan"]


def host(*, os_id: str = "debian", version_id: str = "12", codename: str = "bookworm", arch: str = "amd64",
         kernel: str = "6.1.0-28-amd64", pid1: str = "systemd", wsl: int = 0) -> HostFacts:
    """The ``HOST`` fact of a host (default: Debian 12 on amd64, systemd, not WSL)."""
    return HostFacts(os=OsRelease(id=os_id, version_id=version_id, codename=codename), arch=arch,
                     kernel=kernel, pid1=pid1, wsl=WslFacts(version=wsl))


class DataFacts(Facts):
    """Facts answered from data (see the module's docstring for what is answered when not given)."""

    def get(self, fact: Fact[T]) -> T:
        if fact in self:
            return super().get(fact)
        if isinstance(fact, FileContent):
            return FileState(fact.path, exists=False)  # type: ignore[return-value]  # T is FileState here
        if isinstance(fact, PackageState):
            return PackageStatus(fact.name, "un")  # type: ignore[return-value]  # T is PackageStatus here
        if isinstance(fact, DpkgAudit):
            return []  # type: ignore[return-value]  # T is list[str] here
        raise FactError(f"fact {fact.describe()} is not in the test's data (give it in values=)")


def facts(*, host_facts: HostFacts | None = None, files: Mapping[str, str | bytes] | None = None,
          modes: Mapping[str, int] | None = None, packages: Mapping[str, str] | None = None,
          values: Mapping[Fact[object], object] | None = None) -> DataFacts:
    """A host's facts: ``files`` path → content (``modes`` path → mode, default 0o644; root's),
    ``packages`` name → installed version, ``values`` any other fact → its value (a type's own
    facts, or a ``FileState`` with a link, an owner, a refusal)."""
    out = DataFacts()
    out.set(HOST, host_facts or host())
    for path, content in (files or {}).items():
        data = content.encode() if isinstance(content, str) else content
        out.set(FileContent(path), FileState(path, True, data, (modes or {}).get(path, 0o644)))
    for name, version in (packages or {}).items():
        out.set(PackageState(name), PackageStatus(name, "ii", version))
    out.update(values or {})
    return out


def make(type_: str | ResourceType, spec: Mapping[str, object]) -> AnyResource:
    """A resource of a type (its name, as playbooks say it, or its class) from its keys, validated
    as a playbook's are (a pydantic ValidationError says what is wrong)."""
    cls = lookup(type_) if isinstance(type_, str) else type_
    if cls is None:
        raise ResourceError(f"no resource type {type_!r} is installed")
    res: AnyResource = cls(cls.spec_type.model_validate(dict(spec)))
    return res


def plan(type_: str | ResourceType | AnyResource, spec: Mapping[str, object] | None,
         known: Facts) -> ResourcePlan[object]:
    """The resource's plan on the host ``known`` describes, as the engine makes it: ``facts()`` is
    asked until it asks for nothing new (each fact it asks for must be answerable), then ``plan()``."""
    res = type_ if isinstance(type_, Resource) else make(type_, spec or {})
    asked: list[Fact[object]] = []
    while True:
        new = [f for f in res.facts(known) if f not in asked]
        if not new:
            break
        for fact in new:
            known.get(fact)  # an error names a fact the data does not answer
        asked += new
    return res.plan(known)


def checks(type_: str | ResourceType | AnyResource, spec: Mapping[str, object] | None,
           known: Facts, outputs: Outputs | None = None, *, rid: str = "test", kind: str = "local") -> list[Check]:
    """The checks ``provision verify`` would run for the resource (made, not run: each is a name
    and a test of a ``Probe``), given its outputs (default: its plan's) and the connection kind."""
    res = type_ if isinstance(type_, Resource) else make(type_, spec or {})
    if outputs is None:
        outputs = plan(res, None, known).outputs
    return res.checks(rid, outputs, CheckEnv(known, kind))
