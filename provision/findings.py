"""What ``provision doctor`` reports: findings (a status, what was seen, the fix) and the
examiners that make them. A domain (Java, WSL, pam_env) contributes examiners through the resource
type that knows it (``Resource.examiners``); doctor runs them all, in their ``order``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from provision.facts import Fact, Facts


class Verdict(StrEnum):
    """A finding's status, as ``doctor --json`` writes it."""

    OK = "ok"
    WARN = "warn"
    PROBLEM = "problem"  # exit 1
    INFO = "info"


OK, WARN, PROBLEM, INFO = Verdict.OK, Verdict.WARN, Verdict.PROBLEM, Verdict.INFO


@dataclass
class Finding:
    check: str  # what it is about: systemd | wsl | wsl.conf | JAVA_HOME | java | environment | …
    status: Verdict
    summary: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": str(self.status), "summary": self.summary, "fix": self.fix}


@dataclass(frozen=True)
class Examiner:
    """One part of the diagnosis: the read-only facts it needs (gathered with every other
    examiner's in one round trip) and a pure function of them and the connection's kind."""

    name: str
    order: int  # where its findings go in the report (lower first)
    facts: Sequence[Fact[object]]
    diagnose: Callable[[Facts, str], list[Finding]]
