"""Runs a playbook on hosts: connect → facts (one round trip) → per resource: render, plan, apply.

Each resource is planned right before it is applied, with the facts kept current by earlier
applies and the real outputs of earlier resources (in plan/check mode, their predicted outputs).
A failure stops that host (later resources may depend on the failed one); other hosts go on.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from provision import __version__
from provision.connections import Connection, open_target
from provision.errors import ConnectError, FactError, PlaybookError, ProvisionError, ResourceError
from provision.facts import FactRequest, Facts, gather
from provision.plan import Change, ResourcePlan
from provision.playbook import Decl, Playbook
from provision.render import RenderError, eval_condition, render_template_file, render_value
from provision.resources.base import STATE_DIR, ApplyContext, Renderer, Resource
from provision.targets import Target

PLAN, CHECK, APPLY = "plan", "check", "apply"


@dataclass
class ResourceResult:
    id: str
    type: str
    label: str
    status: str  # ok | changed | skipped | failed
    reason: str = ""
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "name": self.label, "status": self.status,
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
    facts: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    restart_required: dict[str, Any] | None = None  # {"reason", "commands", "pending"} or None

    @property
    def changed(self) -> int:
        return sum(1 for r in self.resources if r.status == "changed")

    def count(self, status: str) -> int:
        return sum(1 for r in self.resources if r.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "changed": self.changed, "failed": self.failed,
                "unreachable": self.unreachable, "error": self.error,
                "duration": round(self.duration, 3), "facts": self.facts, "run_id": self.run_id or None,
                "restart_required": self.restart_required,
                "resources": [r.as_dict() for r in self.resources]}


class Reporter(Protocol):
    def host_started(self, host: str) -> None: ...
    def facts_gathered(self, host: str, facts: Facts) -> None: ...
    def progress(self, host: str, message: str) -> None: ...
    def output(self, host: str, line: str) -> None: ...
    def resource_done(self, host: str, result: ResourceResult, mode: str) -> None: ...
    def host_done(self, host: str, result: HostResult, mode: str) -> None: ...


def fact_request(playbook: Playbook) -> FactRequest:
    req = FactRequest()
    for d in playbook.resources:
        req.merge(d.cls.request(d.partial))
    return req


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _label(d: Decl, ctx: dict[str, Any], fallback: str) -> str:
    if d.name:
        try:
            return str(render_value(d.name, ctx))
        except RenderError:
            return d.name
    return fallback


def run_host(playbook: Playbook, target: Target, mode: str, reporter: Reporter,
             connect: Callable[[Target], Connection] = open_target) -> HostResult:
    started = time.monotonic()
    name = target.name
    result = HostResult(name)
    reporter.host_started(name)
    try:
        conn = connect(target)
    except ProvisionError as exc:
        result.failed = True
        result.unreachable = isinstance(exc, ConnectError)
        result.error = str(exc)
        result.duration = time.monotonic() - started
        reporter.host_done(name, result, mode)
        return result
    try:
        _run_on(conn, playbook.for_host(target.vars), mode, reporter, result)
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing must not hide the result
            pass
        result.duration = time.monotonic() - started
        reporter.host_done(name, result, mode)
    return result


def _run_on(conn: Connection, playbook: Playbook, mode: str, reporter: Reporter,
            result: HostResult) -> None:
    host = result.host
    try:
        facts = gather(conn, fact_request(playbook))
    except (FactError, ConnectError) as exc:
        result.failed = True
        result.unreachable = isinstance(exc, ConnectError)
        result.error = str(exc)
        return
    result.facts = facts.summary()
    reporter.facts_gathered(host, facts)
    ctx: dict[str, Any] = {**playbook.vars, "facts": facts}
    run_id = new_run_id()
    actx = ApplyContext(conn=conn, facts=facts, run_id=run_id,
                        progress=lambda msg: reporter.progress(host, msg),
                        output=lambda line: reporter.output(host, line))
    stop_reason = ""
    for d in playbook.resources:
        t0 = time.monotonic()
        res = ResourceResult(d.id, d.type, _label(d, ctx, d.type), "ok")
        try:
            if stop_reason:
                res.status, res.reason = "skipped", stop_reason
                continue
            resource = resolve(d, ctx, playbook)
            if resource is None:
                res.status, res.reason = "skipped", f"when: {d.when} is false"
                continue
            if not d.name:
                res.label = resource.label()
            plan: ResourcePlan = resource.plan(facts)
            res.changes, res.notes = plan.changes, plan.notes
            if plan.skip:
                res.status, res.reason, res.changes = "skipped", plan.skip, []
                ctx[d.id] = plan.outputs
                continue
            if not plan.changed:
                res.status, res.reason = "ok", plan.reason
                ctx[d.id] = plan.outputs
                if plan.restart and result.restart_required is None:  # pending from an earlier
                    result.restart_required = {**plan.restart, "pending": True}  # run, until restarted
                continue
            res.status = "changed"
            res.reason = "; ".join(c.reason for c in plan.changes if c.reason)
            if mode != APPLY:
                ctx[d.id] = plan.outputs
                if plan.restart:
                    result.restart_required = {**plan.restart, "pending": False}
                continue
            outputs = resource.apply(plan, actx)
            res.notes = plan.notes
            ctx[d.id] = outputs or plan.outputs
            if plan.restart:
                result.restart_required = {**plan.restart, "pending": False}
        except (ResourceError, PlaybookError, ConnectError, FactError) as exc:
            res.status, res.reason = "failed", str(exc)
            result.failed = True
            result.error = f"{res.label}: {exc}"
            stop_reason = f"not run: {res.label} failed"
        except Exception as exc:  # noqa: BLE001 - one host's surprise must not stop the others
            res.status, res.reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
            result.failed = True
            result.error = f"{res.label}: {res.reason}"
            stop_reason = f"not run: {res.label} failed"
        finally:
            res.duration = time.monotonic() - t0
            result.resources.append(res)
            reporter.resource_done(host, res, mode)
    if mode == APPLY and actx.journal:
        result.run_id = run_id
        _write_journal(conn, playbook, run_id, result, actx)


def resolve(d: Decl, ctx: dict[str, Any], playbook: Playbook) -> Resource | None:
    """The resource as this host sees it: ``when:`` evaluated (None when false), values rendered
    with ``ctx`` (vars, facts, earlier outputs). Shared by apply and verify. Raises PlaybookError."""
    if d.when is not None:
        try:
            go = eval_condition(d.when, ctx)
        except RenderError as exc:
            raise d.src.error(d.path[:-1] + ("when",), str(exc)) from None
        if not go:
            return None
    spec = d.render(ctx)
    return d.cls(spec, Renderer(lambda name: _render(name, ctx, playbook, d)))


def _render(name: str, ctx: dict[str, Any], playbook: Playbook, d: Decl) -> str:
    try:
        return render_template_file(name, ctx, playbook.template_dirs())
    except RenderError as exc:
        raise d.error((), str(exc)) from None


def _write_journal(conn: Connection, playbook: Playbook, run_id: str, result: HostResult,
                   actx: ApplyContext) -> None:
    doc = {"provision": __version__, "run_id": run_id, "playbook": playbook.name,
           "file": playbook.file, "vars": playbook.vars, "host": result.host,
           "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "failed": result.failed,
           "entries": actx.journal,
           "resources": [{"id": r.id, "status": r.status} for r in result.resources]}
    data = (json.dumps(doc, indent=2, default=str) + "\n").encode()
    try:
        conn.write_file(f"{STATE_DIR}/runs/{run_id}.json", data, mode=0o600)
    except ProvisionError as exc:
        result.resources[-1].notes.append(f"could not record the run journal: {exc}")


def run(playbook: Playbook, targets: list[Target], mode: str, reporter: Reporter,
        forks: int = 10, connect: Callable[[Target], Connection] = open_target) -> list[HostResult]:
    if len(targets) == 1:
        return [run_host(playbook, targets[0], mode, reporter, connect)]
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(targets)))) as pool:
        futures = [pool.submit(run_host, playbook, t, mode, reporter, connect) for t in targets]
        return [f.result() for f in futures]
