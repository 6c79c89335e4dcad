"""Facts from compact YAML/dict data, for planner, check and doctor tests (no host).

``facts_from(d)`` is a fact store that answers whatever a resource asks for from ``d``, with the
value a host would give when ``d`` does not say (a package dpkg does not know, a missing file, no
candidate); asking for a kind of fact it has no data rule for is an error.
"""

from __future__ import annotations

from typing import Any

from provision.facts import (
    HOST,
    AptLists,
    Candidate,
    DpkgAudit,
    Fact,
    Facts,
    FileContent,
    FileState,
    Host,
    HostFacts,
    ListsAge,
    OsRelease,
    PackageState,
    PackageStatus,
    Removal,
    WslFacts,
)
from provision.facts.packages import InstallEstimate, InstallSize, RemovalSim
from provision.java.alternatives import AltEntry
from provision.java.jdksdoctor import JdkLayoutFact
from provision.java.resolve import AvailableJdks, JdkHome, JdkInstall
from provision.java.temurin import TemurinInstalled
from provision.resources.ca_certificate import TrustState

NOW = 1_800_000_000


def host_from(d: dict[str, Any]) -> HostFacts:
    wsl = d.get("wsl", 0)
    return HostFacts(
        os=OsRelease(**{"id": "debian", "version_id": "12", "codename": "bookworm", **d.get("os", {})}),
        arch=d.get("arch", "amd64"), kernel=d.get("kernel", "6.1.0-28-amd64"), pid1=d.get("pid1", "systemd"),
        wsl=WslFacts(**wsl) if isinstance(wsl, dict) else WslFacts(version=wsl))


def answer(fact: Fact[Any], d: dict[str, Any]) -> object:
    apt = d.get("apt", {})
    if isinstance(fact, Host):
        return host_from(d)
    if isinstance(fact, PackageState):
        status, version = d.get("packages", {}).get(fact.name, ("un", ""))
        return PackageStatus(fact.name, status, version)
    if isinstance(fact, Candidate):
        return apt.get("candidates", {}).get(fact.name)
    if isinstance(fact, AptLists):
        age = apt.get("lists_age", 3600)
        return ListsAge(None if age is None else NOW - age, NOW)
    if isinstance(fact, Removal):
        removals = apt.get("removals", {})
        key = ",".join(fact.packages)
        if key not in removals:  # a jdk (vendor auto) also names Temurin's packages
            key = ",".join(p for p in fact.packages if not p.startswith("temurin-"))
        sim = removals.get(key, [])
        if isinstance(sim, dict):
            return RemovalSim(list(sim.get("removes", [])), list(sim.get("orphans", [])))
        return RemovalSim(list(sim), [])
    if isinstance(fact, DpkgAudit):
        return list(d.get("dpkg_audit", []))
    if isinstance(fact, AvailableJdks):
        return list(apt.get("available_jdks", []))
    if isinstance(fact, FileContent):
        content = d.get("files", {}).get(fact.path)
        if content is None:
            return FileState(fact.path, exists=False)
        mode = int(str(d.get("modes", {}).get(fact.path, "644")), 8)
        return FileState(fact.path, exists=True, content=content.encode(), mode=mode)
    if isinstance(fact, TemurinInstalled):
        return sorted(p for p, (status, _) in d.get("packages", {}).items()
                      if p.startswith("temurin-") and status[:1] in "ih")
    if isinstance(fact, JdkInstall):
        table = d.get("jdks" if fact.vendor == "distro" else "temurin_jdks", {})
        j = table.get(fact.version) or table.get(str(fact.version)) or {}
        alts = [AltEntry(kind=a[0], name=a[1], path=a[2], registered=a[3], current=a[4])
                for a in j.get("alternatives", [])]
        return JdkHome(fact.version, home=j.get("home", ""), has_java=j.get("java", False),
                       has_javac=j.get("javac", False), release=j.get("release", ""), alternatives=alts,
                       package=j.get("package", ""))
    if isinstance(fact, TrustState):  # the fact script's lines, as the host would print them
        return fact.parse(list(d.get("trust", [])))
    if isinstance(fact, JdkLayoutFact):  # the probe's own output lines, read by its parser
        return fact.parse(str(d.get("jdk_layout", "")).splitlines())
    if isinstance(fact, InstallSize):
        size = apt.get("sizes", {}).get(",".join(fact.packages))
        return InstallEstimate(*size) if size else InstallEstimate()
    raise AssertionError(f"factsdata has no rule for {fact.describe()}")


class DataFacts(Facts):
    """Every fact is known: taken from the data on first use."""

    def __init__(self, d: dict[str, Any]) -> None:
        super().__init__()
        self.data = d
        self.asked: list[Fact[Any]] = []

    def _known(self, fact: Fact[Any]) -> None:
        if not super().__contains__(fact):
            self.asked.append(fact)
            self.set(fact, answer(fact, self.data))

    def get(self, fact):  # noqa: ANN001, ANN201
        self._known(fact)
        return super().get(fact)

    def peek(self, fact):  # noqa: ANN001, ANN201
        self._known(fact)
        return super().peek(fact)

    def __contains__(self, fact: object) -> bool:
        if isinstance(fact, Fact):
            self._known(fact)
        return True

    def missing(self, facts):  # noqa: ANN001, ANN201
        for f in facts:
            self._known(f)
        return []


def facts_from(d: dict[str, Any]) -> DataFacts:
    facts = DataFacts(d)
    facts.get(HOST)
    return facts
