"""Runs verification: per host (in parallel) connect → facts (one round trip) → the playbook's
resources resolved exactly as apply resolves them → their checks and the playbook's ``checks:``
→ then the user's own testinfra files (``--tests DIR``) against the same hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provision.connections.base import Connection
from provision.engine import _label, fact_request, resolve
from provision.errors import ProvisionError, ResourceError
from provision.facts import Facts, gather
from provision.playbook import Playbook
from provision.render import RenderError, eval_condition
from provision.verify.backend import make_host
from provision.verify.checks import CHECKS, Check, CheckEnv, Probe, generate, playbook_check

PASSED, FAILED = "passed", "failed"


@dataclass
class CheckResult:
    name: str
    resource: str
    status: str  # passed | failed
    message: str = ""
    duration: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "resource": self.resource, "status": self.status,
                "message": self.message, "duration": round(self.duration, 3)}


@dataclass
class HostReport:
    host: str
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None  # the host could not be reached or its facts read
    skipped: list[str] = field(default_factory=list)  # resources whose when: is false here
    duration: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.status == PASSED)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if c.status == FAILED)

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "ok": self.ok, "passed": self.passed, "failed": self.failed,
                "error": self.error, "skipped_resources": self.skipped,
                "duration": round(self.duration, 3), "checks": [c.as_dict() for c in self.checks]}


@dataclass
class VerifyOptions:
    user: str | None = None  # whose login shell is checked (default: first regular user, else root)
    tests: str | None = None  # a directory of the user's own testinfra test files
    forks: int = 10


def _static(name: str, resource: str, message: str) -> Check:
    """A check that fails with ``message`` (the resource could not even be resolved here)."""
    return Check(name, resource, lambda probe: (False, message))


def plan_checks(playbook: Playbook, facts: Facts, kind: str = "local") -> tuple[list[Check], list[str]]:
    """Every check of ``playbook`` for a host with ``facts`` (pure: nothing runs on the host).

    Returns (checks, the resources and checks not applicable here: ``when:`` false, or the
    resource's plan says it does not apply to this host, e.g. wsl_conf outside WSL).
    """
    env = CheckEnv(facts=facts, kind=kind)
    ctx: dict[str, Any] = {**playbook.vars, "facts": facts}
    checks: list[Check] = []
    skipped: list[str] = []
    for d in playbook.resources:
        label = d.name or d.type
        try:
            resource = resolve(d, ctx, playbook)
            if resource is None:
                skipped.append(f"{label} (when: {d.when} is false)")
                continue
            label = _label(d, ctx, resource.label())
            try:
                plan = resource.plan(facts)
            except ResourceError:
                outputs = {}  # the resource's own checks say what is wrong; later ones may not render
            else:
                outputs = plan.outputs
                if getattr(plan, "skip", ""):  # not applicable to this host (e.g. not WSL)
                    ctx[d.id] = outputs
                    skipped.append(f"{label} ({plan.skip})")
                    continue
            ctx[d.id] = outputs
            if resource.type_name not in CHECKS:
                checks.append(_static(f"{d.id}: has checks", label, f"provision cannot verify "
                                      f"{resource.type_name} resources yet (no checks registered)"))
                continue
            for check in generate(d.id, resource, outputs, env):
                check.resource = label  # the playbook's name for it, as apply shows it
                checks.append(check)
        except ProvisionError as exc:
            checks.append(_static(f"{d.id}: desired state is known", label,
                                  f"cannot work out the desired state here: {exc}"))
    for c in playbook.checks:
        name = c.label(ctx)
        try:
            if c.when is not None:
                try:
                    if not eval_condition(c.when, ctx):
                        skipped.append(f"check {name!r} (when: {c.when} is false)")
                        continue
                except RenderError as exc:
                    raise c.error(("when",), str(exc)) from None
            checks.append(playbook_check(name, c.render(ctx)))
        except ProvisionError as exc:
            checks.append(_static(name, "checks", str(exc)))
    return _unique(checks), skipped


def _unique(checks: list[Check]) -> list[Check]:
    seen: dict[str, int] = {}
    for c in checks:
        n = seen.get(c.name, 0) + 1
        seen[c.name] = n
        if n > 1:
            c.name = f"{c.name} ({n})"
    return checks


def run_check(check: Check, probe: Probe) -> CheckResult:
    t0 = time.monotonic()
    try:
        ok, message = check.test(probe)
    except AssertionError as exc:  # testinfra's check_output / run_expect
        text = str(exc).strip()
        ok, message = False, f"assertion failed: {text.splitlines()[0] if text else repr(exc)}"
    except ProvisionError as exc:
        ok, message = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a check's surprise is its own failure, not the run's
        ok, message = False, f"error: {type(exc).__name__}: {exc}"
    return CheckResult(check.name, check.resource, PASSED if ok else FAILED, message,
                       time.monotonic() - t0)


@dataclass
class _Session:
    report: HostReport
    conn: Connection | None = None
    probe: Probe | None = None


def _verify_host(playbook: Playbook, name: str, target: Any, connect: Callable[[Any], Connection],
                 options: VerifyOptions) -> _Session:
    started = time.monotonic()
    report = HostReport(name)
    session = _Session(report)
    try:
        session.conn = conn = connect(target)
    except ProvisionError as exc:
        report.error = str(exc)
        report.checks.append(CheckResult("provision: host is reachable", "connection", FAILED, str(exc)))
        report.duration = time.monotonic() - started
        return session
    try:
        if hasattr(playbook, "for_host"):  # the host's inventory variables, as apply uses them
            playbook = playbook.for_host(getattr(target, "vars", None) or {})
        facts = gather(conn, fact_request(playbook))
        checks, report.skipped = plan_checks(playbook, facts, conn.kind)
    except ProvisionError as exc:
        report.error = str(exc)
        report.checks.append(CheckResult("provision: facts are readable", "facts", FAILED, str(exc)))
        report.duration = time.monotonic() - started
        return session
    session.probe = probe = Probe(make_host(conn, name), conn, options.user)
    if options.user:
        exists = probe.run("id -u %s", options.user)
        if exists.rc != 0:
            report.checks.append(CheckResult("provision: --user exists", "options", FAILED,
                                             f"no user {options.user!r} on this host"))
    for check in checks:
        report.checks.append(run_check(check, probe))
    report.duration = time.monotonic() - started
    return session


def target_name(target: Any) -> str:
    return str(getattr(target, "name", target))


def verify(playbook: Playbook, targets: Sequence[Any], connect: Callable[[Any], Connection],
           options: VerifyOptions | None = None) -> list[HostReport]:
    """Verify every target (in parallel, ``options.forks`` at once); one report per target."""
    options = options or VerifyOptions()
    names = [target_name(t) for t in targets]
    sessions: list[_Session] = []
    try:
        if len(targets) == 1:
            sessions = [_verify_host(playbook, names[0], targets[0], connect, options)]
        else:
            with ThreadPoolExecutor(max_workers=max(1, min(options.forks, len(targets)))) as pool:
                futures = [pool.submit(_verify_host, playbook, n, t, connect, options)
                           for n, t in zip(names, targets)]
                sessions = [f.result() for f in futures]
        if options.tests:
            from provision.verify.usertests import run_user_tests

            probes = {s.report.host: s.probe for s in sessions if s.probe is not None}
            if probes:
                t0 = time.monotonic()
                for host, results in run_user_tests(options.tests, probes).items():
                    report = next(s.report for s in sessions if s.report.host == host)
                    report.checks += results
                    report.duration += time.monotonic() - t0
    finally:
        for s in sessions:
            if s.conn is not None:
                try:
                    s.conn.close()
                except Exception:  # noqa: BLE001 - closing must not hide the results
                    pass
    return [s.report for s in sessions]
