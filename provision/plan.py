"""Plan values: what a resource would change on a host, and why (or why nothing)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Change:
    summary: str  # what would be done, e.g. "install openjdk-17-jdk-headless"
    reason: str = ""  # why, e.g. "not installed; candidate 17.0.15 from bookworm-security"
    diff: str | None = None  # unified diff for file changes

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"summary": self.summary, "reason": self.reason}
        if self.diff:
            d["diff"] = self.diff
        return d


@dataclass
class ResourcePlan:
    """The plan of one resource on one host. No changes means "ok", and ``reason`` says why."""

    changes: list[Change] = field(default_factory=list)
    reason: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)  # for later resources: {{ <id>.<name> }}
    notes: list[str] = field(default_factory=list)  # things the user should know (not changes)
    data: Any = None  # private to the resource, handed back to its apply()
    skip: str = ""  # not applicable to this host (e.g. "not WSL: ..."): status skipped, this reason
    restart: dict[str, Any] | None = None  # {"reason": ..., "commands": [...]}: the host needs a
    # restart for this resource's state to take effect (after its changes, or pending from before)

    @property
    def changed(self) -> bool:
        return bool(self.changes) and not self.skip

    def describe(self) -> str:
        if not self.changes:
            return self.reason
        return "; ".join(c.summary for c in self.changes)


def unified_diff(path: str, before: bytes | None, after: bytes | None) -> str:
    a = (before or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = (after or b"").decode("utf-8", "replace").splitlines(keepends=True)
    for lines in (a, b):
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n\\ No newline at end of file\n"
    return "".join(difflib.unified_diff(
        a, b,
        fromfile=f"{path} (before)" if before is not None else "/dev/null",
        tofile=f"{path} (after)" if after is not None else "/dev/null"))
