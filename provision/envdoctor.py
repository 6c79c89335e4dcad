"""doctor's pam_env part: /etc/environment as this host's pam_env reads it (1.7 on Debian 13 and
later, else 1.5): the line it stops at, lines it ignores, what 1.7 reads differently."""

from __future__ import annotations

from provision.facts import HOST, Facts, FileContent, FileState, HostFacts, version_tuple
from provision.findings import INFO, PROBLEM, WARN, Examiner, Finding
from provision.formats import pamenv
from provision.plan import world_readable

ENVIRONMENT = "/etc/environment"


def _environment(host: HostFacts, env: FileState) -> list[Finding]:
    """/etc/environment as this host's pam_env reads it (1.7 on Debian 13 and later, else 1.5)."""
    if not env.exists:
        return []
    d = pamenv.diagnose(env.content)
    newer = host.os.id == "debian" and version_tuple(host.os.version_id or "0") >= (13,)
    secret = not world_readable(env.mode)  # then name lines, never quote them
    out: list[Finding] = []
    if d.stop and not newer:
        out.append(Finding("environment", PROBLEM, f"{ENVIRONMENT} line {d.stop_line}: {d.stop}: pam_env stops "
                           "reading the file here, so this line and every line after it are ignored by "
                           "new sessions", f"shorten, fix or remove line {d.stop_line}"))
    for no, why in d.ignored:
        reason = "" if secret else f": {why}"
        out.append(Finding("environment", WARN, f"{ENVIRONMENT} line {no}: pam_env ignores this line{reason}",
                           f"fix or remove line {no}"))
    if newer and d.differs17:
        what = (", ".join(sorted({k.split(":", 1)[0] for k in d.differs17})) if secret
                else "; ".join(d.differs17))
        out.append(Finding("environment", INFO, f"{ENVIRONMENT}: pam_env 1.7 (this release) reads "
                           + what + " differently from older releases"))
    return out


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    return _environment(facts.get(HOST), facts.get(FileContent(ENVIRONMENT)))


EXAMINER = Examiner("environment", 40, (HOST, FileContent(ENVIRONMENT)), diagnose)
