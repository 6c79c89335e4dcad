"""The one resolve loop: connect → facts → per resource: render, facts, plan, apply (or not).

``plan``, ``apply --check``, ``apply`` and ``verify`` all run it (``Mode``). Facts come in rounds:
the first round trip reads the host and everything the resources whose values are known before
facts ask for; a resource whose values need facts or an earlier resource's outputs asks for what
it still lacks once it is rendered; an apply invalidates what it changes, so the next resource that
needs it reads it again. A converged host costs one round trip.

Each resource is planned right before it is applied, with the real outputs of earlier resources
(in plan/check mode, their predicted outputs). A failure stops that host (later resources may
depend on the failed one), except in verify mode; other hosts go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from provision import journal
from provision.connections import RESTARTED_FROM_OUTSIDE, Connection, open_target
from provision.errors import ConnectError, FactError, Interrupted, PlaybookError, ProvisionError, ResourceError
from provision.facts import HOST, Fact, Facts, HostFacts, gather
from provision.facts.host import assume
from provision.fanout import fan_out
from provision.formats.proxy import hide_logins
from provision.journal import Event, RunStatus
from provision.plan import Mode, Outputs, ResourcePlan, Restart, Status
from provision.playbook import Decl, Playbook
from provision.render import RenderError, eval_condition, render_template_file, render_value
from provision.resource import AnyResource, ApplyContext
from provision.results import HostResult as HostResult  # re-exported: the results were defined here
from provision.results import ResourceResult as ResourceResult
from provision.targets import Target

FACT_ROUNDS = 5  # a resource that keeps asking for new facts after this many rounds is a bug

PLAN, CHECK, APPLY, VERIFY = Mode.PLAN, Mode.CHECK, Mode.APPLY, Mode.VERIFY


@dataclass
class Step:
    """One resource as this host resolved it (what verify makes its checks from)."""

    decl: Decl
    result: ResourceResult
    resource: AnyResource | None = None  # None: when: is false, or it could not be rendered
    plan: ResourcePlan[object] | None = None  # None: not planned (when: false, or planning failed)
    outputs: Outputs = field(default_factory=dict)
    error: ProvisionError | None = None


@dataclass
class HostRun:
    """What resolving a playbook on one host gave: the facts read and every step."""

    facts: Facts
    steps: list[Step] = field(default_factory=list)
    ctx: dict[str, object] = field(default_factory=dict)  # vars, facts, outputs: for checks' templates


class Reporter(Protocol):
    def host_started(self, host: str) -> None: ...
    def facts_gathered(self, host: str, facts: HostFacts) -> None: ...
    def progress(self, host: str, message: str) -> None: ...
    def status(self, host: str, message: str) -> None: ...
    def output(self, host: str, line: str) -> None: ...
    def resource_done(self, host: str, result: ResourceResult, mode: Mode) -> None: ...
    def host_done(self, host: str, result: HostResult, mode: Mode) -> None: ...


class Silent:
    """A reporter that says nothing (verify, facts)."""

    def host_started(self, host: str) -> None:
        pass

    def facts_gathered(self, host: str, facts: HostFacts) -> None:
        pass

    def progress(self, host: str, message: str) -> None:
        pass

    def status(self, host: str, message: str) -> None:
        pass

    def output(self, host: str, line: str) -> None:
        pass

    def resource_done(self, host: str, result: ResourceResult, mode: Mode) -> None:
        pass

    def host_done(self, host: str, result: HostResult, mode: Mode) -> None:
        pass


def label_of(d: Decl, ctx: dict[str, object], fallback: str) -> str:
    if d.name:
        try:
            return str(render_value(d.name, ctx))
        except (RenderError, Interrupted):  # an interrupted one: the loop sees the stop next
            return d.name
    return fallback


# --------------------------------------------------------------------------- facts in rounds

def ask(resource: AnyResource, facts: Facts, fetch: Callable[[list[Fact[object]]], None]) -> None:
    """Gather what ``resource`` reads, in as many rounds as its answers lead it to ask for more."""
    for _ in range(FACT_ROUNDS):
        missing = facts.missing(resource.facts(facts))
        if not missing:
            return
        fetch(missing)
    raise FactError(f"{resource.label()}: keeps asking for new facts (a bug in its facts())")


def first_round(playbook: Playbook) -> list[Fact[object]]:
    """The host, and what the resources known before facts read (their first answers)."""
    wanted: list[Fact[object]] = [HOST]
    nothing = Facts()
    for d in playbook.resources:
        if d.spec is not None:
            wanted += d.cls(d.spec).facts(nothing)
    return list(dict.fromkeys(wanted))


def resolve(d: Decl, ctx: dict[str, object], playbook: Playbook) -> AnyResource | None:
    """The resource as this host sees it: ``when:`` evaluated (None when false), values rendered
    with ``ctx`` (vars, facts, earlier outputs). Raises PlaybookError."""
    if d.when is not None:
        try:
            go = eval_condition(d.when, ctx)
        except RenderError as exc:
            raise d.src.error(d.path[:-1] + ("when",), str(exc)) from None
        if not go:
            return None
    spec = d.render(ctx)

    def render(name: str) -> str:
        try:
            return render_template_file(name, ctx, playbook.template_dirs())
        except RenderError as exc:
            raise d.error((), str(exc)) from None

    return d.cls(spec, render)


# --------------------------------------------------------------------------- the loop

Fetch = Callable[[list[Fact[object]]], None]  # reads facts from the host into the run's Facts


@dataclass
class RunOptions:
    """How apply treats each target: its lock and its run journal (see provision.journal)."""

    assume: dict[str, str] = field(default_factory=dict)  # --assume KEY=VALUE (facts.host.ASSUMPTIONS)
    lock_timeout: float = journal.LOCK_TIMEOUT
    keep_runs: int | None = None  # None: the count recorded on the target (journal.Session.open)
    command: str = "provision apply"  # named to a second run that waits for the lock
    stop: threading.Event = field(default_factory=threading.Event)  # set: stop after the current step


def resolve_host(conn: Connection, playbook: Playbook, mode: Mode, reporter: Reporter,
                 result: HostResult, options: RunOptions | None = None) -> HostRun:
    """Run the playbook's resources on a connected host (apply only in Mode.APPLY, under the
    target's lock, with its journal). Connection and fact errors of the first round are the
    host's (raised); later ones the resource's."""
    options = options or RunOptions()
    facts = Facts(estimates=mode in (PLAN, CHECK))

    def fetch(wanted: list[Fact[object]]) -> None:
        facts.update(gather(conn, wanted))

    actx = ApplyContext(conn=conn, facts=facts, run_id=journal.new_run_id(),
                        progress=lambda msg: reporter.progress(result.host, msg),
                        status=lambda msg: reporter.status(result.host, msg),
                        output=lambda line: reporter.output(result.host, line))
    def assumed() -> None:
        if options.assume:
            facts.set(HOST, assume(facts.get(HOST), options.assume))

    if mode != APPLY:
        fetch(first_round(playbook))
        assumed()
        return walk(playbook, facts, fetch, mode, reporter, result, None, options.stop)
    session, values = journal.Session.open(conn, actx.run_id, first_round(playbook), command=options.command,
                                           progress=actx.progress, lock_timeout=options.lock_timeout,
                                           keep=options.keep_runs, stop=options.stop)
    facts.update(values)
    assumed()
    given = {k: "…" for k in playbook.fixed}  # -e values may be secrets: the journal names only the keys
    shown = {k: hide_logins(v) if isinstance(v, str) else v for k, v in playbook.vars.items()}  # a proxy URL's
    session.header = {"playbook": playbook.name, "file": playbook.file, "vars": {**shown, **given},  # password
                      "host": result.host}
    actx.sink = session.record
    status = RunStatus.FAILED
    try:
        run = walk(playbook, facts, fetch, mode, reporter, result, actx, options.stop)
        status = (RunStatus.INTERRUPTED if options.stop.is_set() else RunStatus.FAILED if result.failed
                  else RunStatus.COMPLETE)
        return run
    finally:
        session.close(status)
        if session.started:
            result.run_id = actx.run_id


def walk(playbook: Playbook, facts: Facts, fetch: Fetch, mode: Mode, reporter: Reporter,
         result: HostResult, actx: ApplyContext | None = None,
         stop: threading.Event | None = None) -> HostRun:
    """Resolve, plan and (Mode.APPLY, through ``actx``) apply each resource in turn; ``facts``
    holds the host's facts (at least HOST), ``fetch`` reads what a resource still lacks."""
    host = result.host
    host_facts = facts.get(HOST)
    result.facts = host_facts.summary()
    reporter.facts_gathered(host, host_facts)
    ctx: dict[str, object] = {**playbook.vars, "facts": host_facts}
    run = HostRun(facts, ctx=ctx)
    stop_reason = ""
    first: dict[str, int] = {}  # resource id → its step's index in run.steps
    for d, again in schedule(playbook.resources):
        if again and mode != APPLY:  # nothing was applied since its first pass: it would plan the same
            continue
        t0 = time.monotonic()
        step = Step(d, ResourceResult(d.id, d.type, label_of(d, ctx, d.type), Status.OK))
        res = step.result
        if again:  # verify sees the resource as it was last planned
            run.steps[first[d.id]] = step
        else:
            first[d.id] = len(run.steps)
            run.steps.append(step)
        try:
            if stop is not None and stop.is_set() and not stop_reason:
                stop_reason = "not run: interrupted"
            if stop_reason:
                res.status, res.reason = Status.SKIPPED, stop_reason
                continue
            resource = resolve(d, ctx, playbook)
            if resource is None:
                res.status, res.reason = Status.SKIPPED, f"when: {d.when} is false"
                continue
            step.resource = resource
            if not d.name:
                res.label = resource.label()
            if again:
                res.label += AGAIN
            ask(resource, facts, fetch)
            plan = step.plan = resource.plan(facts)
            res.changes, res.notes = plan.changes, plan.notes
            step.outputs = plan.outputs
            if plan.skip:
                res.status, res.reason, res.changes = Status.SKIPPED, plan.skip, []
            elif not plan.changed:
                res.status, res.reason = Status.OK, plan.reason
                if plan.restart and result.restart_required is None:  # pending from an earlier
                    result.restart_required = _pending(plan.restart)  # run, until restarted
            else:
                res.status = Status.CHANGED
                res.reason = "; ".join(c.reason for c in plan.changes if c.reason)
                if mode == APPLY:
                    if actx is None:
                        raise ResourceError("internal error: apply without a connection")
                    resource.prepare(plan)  # a key fetch: before the journal records the step
                    actx.record({"event": Event.BEGIN, "resource": d.id, "label": res.label,
                                 "changes": [c.summary for c in plan.changes]})
                    try:
                        step.outputs = resource.apply(plan, actx) or plan.outputs
                    except BaseException:
                        actx.record({"event": Event.END, "resource": d.id, "status": Status.FAILED})
                        raise
                    actx.record({"event": Event.END, "resource": d.id, "status": Status.CHANGED})
                    res.notes = plan.notes
                if plan.restart:
                    result.restart_required = plan.restart
        except Interrupted:  # a render cut short by the first interrupt: nothing of it was done
            res.status, res.reason = Status.SKIPPED, "not run: interrupted"
            stop_reason = res.reason
        except (ResourceError, PlaybookError, ConnectError, FactError) as exc:
            _failed(step, result, str(exc), exc)
            if mode != VERIFY:
                stop_reason = f"not run: {res.label} failed"
        except Exception as exc:  # noqa: BLE001 - one host's surprise must not stop the others
            _failed(step, result, f"internal error: {type(exc).__name__}: {exc}", None)
            stop_reason = f"not run: {res.label} failed"
        finally:
            if step.resource is not None:
                ctx[d.id] = step.outputs
            res.duration = time.monotonic() - t0
            if not again or res.status in (Status.CHANGED, Status.FAILED):  # a second pass is shown
                result.resources.append(res)  # when it does something
                reporter.resource_done(host, res, mode)
    return run


AGAIN = " (again, after the others)"


def schedule(decls: list[Decl]) -> list[tuple[Decl, bool]]:
    """The order resources run in: by phase (each type says which: resource.Phase), in playbook
    order within one; a resource in several phases once in each (``True``: not the first time;
    only apply runs those: plan, check and verify would plan the same again)."""
    phases = sorted({p for d in decls for p in d.cls.phases})
    seen: set[str] = set()
    out: list[tuple[Decl, bool]] = []
    for phase in phases:
        for d in decls:
            if phase in d.cls.phases:
                out.append((d, d.id in seen))
                seen.add(d.id)
    return out


def _pending(restart: Restart) -> Restart:
    return replace(restart, pending=True)


def _failed(step: Step, result: HostResult, reason: str, exc: ProvisionError | None) -> None:
    step.result.status, step.result.reason = Status.FAILED, reason
    step.error = exc
    result.failed = True
    result.error = f"{step.result.label}: {reason}"


# A host whose connection restarts it from outside (a wsl: distro) needs no `--restart` from inside
FROM_OUTSIDE_HINT = "(`provision apply` restarts it from this machine after the run, unless --no-restart is given)"


def run_host(playbook: Playbook, target: Target, mode: Mode, reporter: Reporter,
             connect: Callable[[Target], Connection] = open_target,
             options: RunOptions | None = None) -> HostResult:
    started = time.monotonic()
    result = HostResult(target.name)
    reporter.host_started(target.name)
    try:
        conn = connect(target)
    except ProvisionError as exc:
        result.failed = True
        result.unreachable = isinstance(exc, ConnectError)
        result.error = str(exc)
    else:
        try:
            _resolve_or_fail(conn, playbook.for_host(target.vars), mode, reporter, result, options)
        finally:
            close_quietly(conn)
    need = result.restart_required
    if need is not None and need.hint and target.kind in RESTARTED_FROM_OUTSIDE:
        result.restart_required = replace(need, hint=FROM_OUTSIDE_HINT)
    result.duration = time.monotonic() - started
    reporter.host_done(target.name, result, mode)
    return result


def _resolve_or_fail(conn: Connection, playbook: Playbook, mode: Mode, reporter: Reporter,
                     result: HostResult, options: RunOptions | None) -> HostRun | None:
    try:
        return resolve_host(conn, playbook, mode, reporter, result, options)
    except Interrupted as exc:  # the wait for the target's lock, stopped by an interrupt
        result.failed = True
        result.error = str(exc)
        return None
    except (FactError, ConnectError) as exc:  # the first round: the host, not a resource, failed
        result.failed = True
        result.unreachable = isinstance(exc, ConnectError)
        result.error = str(exc)
        return None


def close_quietly(conn: Connection) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing must not hide the result
        pass


def run(playbook: Playbook, targets: list[Target], mode: Mode, reporter: Reporter,
        forks: int = 10, connect: Callable[[Target], Connection] = open_target,
        options: RunOptions | None = None) -> list[HostResult]:
    """Every target, ``forks`` at once; with ``options.stop`` set (an interrupt), each host stops
    after its current step and the hosts not started are reported as not run."""
    options = options or RunOptions()

    def not_run(t: Target) -> HostResult:
        r = HostResult(t.name, failed=True, error="not run: interrupted")
        reporter.host_done(t.name, r, mode)
        return r

    return fan_out(targets, lambda t: run_host(playbook, t, mode, reporter, connect, options), forks,
                   stop=options.stop, not_run=not_run)
