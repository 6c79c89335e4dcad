"""Plan values: what a resource would change on a host, and why (or why nothing), and what a run
did. Shared by every resource type, the engine and the reports."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from provision.errors import ResourceError
from provision.restarts import Restarter

D = TypeVar("D")

OutputValue = str | int | bool | None | list[dict[str, str | int]] | dict[str, str]  # lists: one per item
Outputs = dict[str, OutputValue]  # what later resources read as {{ <id>.<name> }}


class Status(StrEnum):
    OK = "ok"  # already in the desired state
    CHANGED = "changed"  # changed (apply) or would change (plan)
    SKIPPED = "skipped"  # not applicable here, when: false, or not run after a failure
    FAILED = "failed"


class Mode(StrEnum):
    PLAN = "plan"  # read facts and plan; change nothing
    CHECK = "check"  # apply --check: the same, worded as a dry run
    APPLY = "apply"
    VERIFY = "verify"  # plan every resource (failures do not stop the others) for its checks


@dataclass
class Change:
    summary: str  # what would be done, e.g. "install openjdk-17-jdk-headless"
    reason: str = ""  # why, e.g. "not installed; candidate 17.0.15 from bookworm-security"
    diff: str | None = None  # unified diff for file changes (``plan --diff``): see unified_diff
    done: str = ""  # the change as made, for apply's report, e.g. "installed openjdk-17-jdk-headless"

    @property
    def as_done(self) -> str:
        return self.done or f"{self.summary} (done)"

    def as_dict(self) -> dict[str, str]:
        d = {"summary": self.summary, "reason": self.reason}
        if self.diff:
            d["diff"] = self.diff
        return d


@dataclass(frozen=True)
class Restart:
    """The host must restart for a resource's state to take effect (made now, or pending)."""

    reason: str
    where: str  # who runs the commands, e.g. "From Windows (PowerShell), stop the distro ..."
    commands: tuple[str, ...]
    notes: tuple[str, ...] = ()
    by: Restarter | None = None  # how ``apply --restart`` can restart the host itself
    pending: bool = False  # the change was made earlier and the host has not restarted since
    hint: str = ""  # how provision itself can restart it (the engine puts its connection's own here)

    def as_dict(self) -> dict[str, object]:
        notes = [self.hint, *self.notes] if self.hint else list(self.notes)
        return {"reason": self.reason, "where": self.where, "commands": list(self.commands),
                "notes": notes, "pending": self.pending, **(self.by.as_dict() if self.by else {})}


@dataclass
class ResourcePlan(Generic[D]):
    """The plan of one resource on one host. No changes means "ok", and ``reason`` says why."""

    changes: list[Change] = field(default_factory=list)
    reason: str = ""
    outputs: Outputs = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # things the user should know (not changes)
    data: D | None = None  # private to the resource, handed back to its apply()
    skip: str = ""  # not applicable to this host (e.g. "not WSL: ..."): status skipped, this reason
    restart: Restart | None = None  # the host needs a restart (after these changes, or pending)

    @property
    def changed(self) -> bool:
        return bool(self.changes) and not self.skip

    def payload(self) -> D:
        """``data``, for apply() (a plan with changes always carries it)."""
        if self.data is None:
            raise ResourceError("internal error: a plan with changes carries no data for apply")
        return self.data


REDACTED = b"<redacted>"
_ASSIGN = re.compile(rb"^(\s*(?:export\s+)?[A-Za-z0-9_.]+\s*=)")


def never(line: bytes) -> bool:
    return False


def redact(data: bytes, keep: Callable[[bytes], bool] = never) -> bytes:
    """A file that is not world-readable, as it may be shown (facts, diffs, JSON): blank lines and
    the lines ``keep`` accepts (the ones this tool manages) as they are, ``KEY=<redacted>`` for
    other assignments, ``<redacted>`` for anything else."""
    out: list[bytes] = []
    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        if not body.strip() or keep(body):
            out.append(line)
            continue
        m = _ASSIGN.match(body)
        out.append((m.group(1) if m else b"") + REDACTED + line[len(body):])
    return b"".join(out)


def world_readable(mode: int) -> bool:
    return bool(mode & 0o004)


def unified_diff(path: str, before: bytes | None, after: bytes | None, *, secret: bool = False,
                 keep: Callable[[bytes], bool] = never) -> str:
    """A unified diff; with ``secret`` (the file is not world-readable), lines other than the
    ones ``keep`` accepts are redacted on both sides."""
    if secret:
        before = None if before is None else redact(before, keep)
        after = None if after is None else redact(after, keep)
    a = (before or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = (after or b"").decode("utf-8", "replace").splitlines(keepends=True)
    for lines in (a, b):
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n\\ No newline at end of file\n"
    return "".join(difflib.unified_diff(
        a, b,
        fromfile=f"{path} (before)" if before is not None else "/dev/null",
        tofile=f"{path} (after)" if after is not None else "/dev/null"))
