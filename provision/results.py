"""What a run did, per resource and per host: the engine's results, which the reports, the
rollback and ``--json`` read without depending on the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from provision.plan import Change, Restart, Status


@dataclass
class ResourceResult:
    id: str
    type: str
    label: str
    status: Status
    reason: str = ""
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "type": self.type, "name": self.label, "status": str(self.status),
                "reason": self.reason, "changes": [c.as_dict() for c in self.changes],
                "notes": self.notes, "duration": round(self.duration, 3)}


@dataclass
class HostResult:
    host: str
    resources: list[ResourceResult] = field(default_factory=list)
    failed: bool = False
    unreachable: bool = False
    error: str | None = None
    duration: float = 0.0
    facts: dict[str, object] = field(default_factory=dict)
    run_id: str = ""
    restart_required: Restart | None = None

    @property
    def changed(self) -> int:
        return self.count(Status.CHANGED)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.resources if r.status == status)

    def as_dict(self) -> dict[str, object]:
        return {"host": self.host, "changed": self.changed, "failed": self.failed,
                "unreachable": self.unreachable, "error": self.error,
                "duration": round(self.duration, 3), "facts": self.facts, "run_id": self.run_id or None,
                "restart_required": self.restart_required.as_dict() if self.restart_required else None,
                "resources": [r.as_dict() for r in self.resources]}
