"""`provision doctor`: a read-only diagnosis of a host, with a cause and a fix for each problem.

The diagnosis is the examiners' (provision.findings.Examiner), contributed by the resource types
that know each domain (``Resource.examiners``): the WSL and systemd part recognises the manual
procedure's ``System has not been booted with systemd as init system (PID 1). Can't operate.``
and says why for this host (provision.wsldoctor), the Java part checks JAVA_HOME and the default
java (provision.java.doctor), the pam_env part how /etc/environment reads (provision.envdoctor);
a plugin type adds its own. Every examiner's facts are gathered in one round trip of read-only
commands; each diagnosis is a pure function of what came back, unit-tested from data.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass, field

from provision.connections.base import Connection
from provision.facts import HOST, Fact, Facts, gather
from provision.findings import INFO as INFO
from provision.findings import OK as OK
from provision.findings import PROBLEM as PROBLEM
from provision.findings import WARN as WARN
from provision.findings import Examiner, Finding
from provision.findings import Verdict as Verdict
from provision.registry import registry


def examiners() -> list[Examiner]:
    """Every installed type's examiners, each once, in report order."""
    found: dict[str, Examiner] = {}
    for cls in registry().values():
        for ex in cls.examiners:
            found.setdefault(ex.name, ex)
    return sorted(found.values(), key=lambda ex: (ex.order, ex.name))


def facts() -> list[Fact[object]]:
    """What the examiners read, each fact once."""
    return list(dict.fromkeys(f for ex in examiners() for f in ex.facts))


def diagnose(known: Facts, kind: str = "local") -> list[Finding]:
    """Findings for one host: a pure function of its facts (and the connection's kind)."""
    return [f for ex in examiners() for f in ex.diagnose(known, kind)]


@dataclass
class Report:
    host: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not any(f.status == PROBLEM for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        return {"host": self.host, "ok": self.ok, "error": self.error, "facts": self.facts,
                "problems": sum(f.status == PROBLEM for f in self.findings),
                "warnings": sum(f.status == WARN for f in self.findings),
                "findings": [f.as_dict() for f in self.findings]}


_COMMAND = re.compile(r"\bprovision (apply|plan|doctor|verify)((?: [a-z0-9][a-z0-9_-]*| --[a-z-]+)*)")


def for_target(fix: str, target: str) -> str:
    """A fix's provision commands as they must be typed for ``target`` (``-H <target>``), so that
    copying one never provisions the machine doctor runs on instead."""
    if target == "local":
        return fix
    return _COMMAND.sub(lambda m: f"{m.group(0)} -H {shlex.quote(target)}", fix)


def examine(conn: Connection, host: str, kind: str) -> Report:
    """Read the host with the examiners' facts (one round trip, read-only) and diagnose; the fixes
    name the target."""
    known = Facts()
    known.update(gather(conn, facts()))
    findings = [dataclasses.replace(f, fix=for_target(f.fix, host)) for f in diagnose(known, kind)]
    return Report(host, findings, facts=known.get(HOST).summary())


def text(report: Report) -> str:
    if report.error:
        return f"{report.host}: cannot examine: {report.error}"
    f = report.facts
    wslv = f", WSL{f.get('wsl')}" if f.get("wsl") else ""
    lines = [f"{report.host}: {f.get('os')} {f.get('arch')}, kernel {f.get('kernel')}, "
             f"PID 1 {f.get('pid1') or '?'}{wslv}"]
    for x in report.findings:
        lines.append(f"  {x.status:<8} {x.check}: {x.summary}")
        if x.fix and x.status != OK:
            lines.append(f"{' ' * 11}fix: {x.fix}")
    problems = sum(x.status == PROBLEM for x in report.findings)
    warns = sum(x.status == WARN for x in report.findings)
    lines.append(f"{report.host}: {problems} problem(s), {warns} warning(s)")
    return "\n".join(lines)
