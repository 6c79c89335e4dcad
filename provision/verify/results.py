"""What verification found, per check and per host: read by the runner, the user's tests and
the output (summary, JSON, JUnit) alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # a user test that skipped itself


PASSED, FAILED, SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED


@dataclass
class CheckResult:
    name: str
    resource: str
    status: Outcome
    message: str = ""
    duration: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "resource": self.resource, "status": str(self.status),
                "message": self.message, "duration": round(self.duration, 3)}


@dataclass
class HostReport:
    host: str
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None  # the host could not be reached or its facts read
    skipped: list[str] = field(default_factory=list)  # resources whose when: is false here
    duration: float = 0.0
    facts: dict[str, object] = field(default_factory=dict)  # the host's facts, as every command reports them

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.status == PASSED)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if c.status == FAILED)

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    def as_dict(self) -> dict[str, object]:
        return {"host": self.host, "ok": self.ok, "passed": self.passed, "failed": self.failed,
                "error": self.error, "facts": self.facts, "skipped_resources": self.skipped,
                "duration": round(self.duration, 3), "checks": [c.as_dict() for c in self.checks]}
