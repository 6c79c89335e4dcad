"""Runs verification: per host (in parallel) connect → facts (one round trip) → the playbook's
resources resolved exactly as apply resolves them → their checks and the playbook's ``checks:``
→ then the user's own testinfra files (``--tests DIR``) against the same hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from provision import engine
from provision.connections.base import Connection
from provision.errors import FactError, ProvisionError, ResourceError
from provision.facts import HOST, Fact, Facts, gather
from provision.fanout import fan_out
from provision.plan import Mode
from provision.playbook import Playbook
from provision.render import RenderError, eval_condition
from provision.verify.backend import make_host
from provision.verify.checks import Check, CheckEnv, Probe, failing
from provision.verify.custom import playbook_check
from provision.verify.results import FAILED as FAILED  # re-exported: the results were defined here
from provision.verify.results import PASSED as PASSED
from provision.verify.results import SKIPPED as SKIPPED
from provision.verify.results import CheckResult as CheckResult
from provision.verify.results import HostReport as HostReport
from provision.verify.results import Outcome as Outcome
from provision.verify.shell import Shells

T = TypeVar("T")  # a target, as the caller names it


@dataclass
class VerifyOptions:
    user: str | None = None  # whose login shell is checked (default: first regular user, else root)
    tests: str | None = None  # a directory of the user's own testinfra test files
    forks: int = 10


def _no_fetch(wanted: list[Fact[object]]) -> None:
    raise FactError(f"facts not known: {', '.join(f.describe() for f in wanted)}")


def plan_checks(playbook: Playbook, facts: Facts, kind: str = "local",
                fetch: engine.Fetch = _no_fetch) -> tuple[list[Check], list[str]]:
    """Every check of ``playbook`` for a host with ``facts`` (nothing runs on the host but the
    facts ``fetch`` reads): each resource resolved and planned as apply would, then its checks.

    Returns (checks, the resources and checks not applicable here: ``when:`` false, or the
    resource's plan says it does not apply to this host, e.g. wsl_conf outside WSL).
    """
    run = engine.walk(playbook, facts, fetch, Mode.VERIFY, engine.Silent(), engine.HostResult(""))
    env = CheckEnv(facts=facts, kind=kind)
    checks: list[Check] = []
    skipped: list[str] = []
    for step in run.steps:
        d, label = step.decl, step.result.label
        if step.resource is None:
            if step.error is None:
                skipped.append(f"{label} (when: {d.when} is false)")
            else:
                checks.append(failing(f"{d.id}: desired state is known", label,
                                      f"cannot work out the desired state here: {step.error}"))
            continue
        if step.error is not None and not isinstance(step.error, ResourceError):
            checks.append(failing(f"{d.id}: desired state is known", label,
                                  f"cannot work out the desired state here: {step.error}"))
            continue
        if step.plan is not None and step.plan.skip:  # not applicable to this host (e.g. not WSL)
            skipped.append(f"{label} ({step.plan.skip})")
            continue
        # a plan that failed (ResourceError): the resource's own checks say what is wrong
        try:
            made = step.resource.checks(d.id, step.outputs, env)
        except NotImplementedError:
            checks.append(failing(f"{d.id}: has checks", label, f"provision cannot verify "
                                  f"{d.type} resources yet (the type defines no checks)"))
            continue
        except ProvisionError as exc:
            checks.append(failing(f"{d.id}: desired state is known", label,
                                  f"cannot work out the desired state here: {exc}"))
            continue
        for check in made:
            check.resource = label  # the playbook's name for it, as apply shows it
            checks.append(check)
    for c in playbook.checks:
        name = c.label(run.ctx)
        try:
            if c.when is not None:
                try:
                    if not eval_condition(c.when, run.ctx):
                        skipped.append(f"check {name!r} (when: {c.when} is false)")
                        continue
                except RenderError as exc:
                    raise c.error(("when",), str(exc)) from None
            checks.append(playbook_check(name, c.render(run.ctx)))
        except ProvisionError as exc:
            checks.append(failing(name, "checks", str(exc)))
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


# A host's checks run this many at a time, each thread with its own shell (an SSH session). With
# one JVM start of ~0.1 s the checks are short: 2 keep the JVM's wait off the others' path.
CHECK_THREADS = 2


@dataclass
class _Session:
    report: HostReport
    conn: Connection | None = None
    probe: Probe | None = None
    shells: Shells | None = None


def _verify_host(playbook: Playbook, name: str, target: T, connect: Callable[[T], Connection],
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
        playbook = playbook.for_host(getattr(target, "vars", None) or {})  # as apply uses them
        facts = Facts()

        def fetch(wanted: list[Fact[object]]) -> None:
            facts.update(gather(conn, wanted))

        fetch(engine.first_round(playbook))
        report.facts = facts.get(HOST).summary()
        checks, report.skipped = plan_checks(playbook, facts, conn.kind, fetch)
    except ProvisionError as exc:
        report.error = str(exc)
        report.checks.append(CheckResult("provision: facts are readable", "facts", FAILED, str(exc)))
        report.duration = time.monotonic() - started
        return session
    session.shells = Shells(conn)
    session.probe = probe = Probe(make_host(conn, name, session.shells), conn, options.user)
    if options.user:
        exists = probe.run("id -u %s", options.user)
        if exists.rc != 0:
            report.checks.append(CheckResult("provision: --user exists", "options", FAILED,
                                             f"no user {options.user!r} on this host"))
    with ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix=f"verify-{name}") as pool:
        report.checks += list(pool.map(lambda c: run_check(c, probe), checks))  # in the checks' order
    report.duration = time.monotonic() - started
    return session


def target_name(target: object) -> str:
    return str(getattr(target, "name", target))


def verify(playbook: Playbook, targets: Sequence[T], connect: Callable[[T], Connection],
           options: VerifyOptions | None = None) -> list[HostReport]:
    """Verify every target (in parallel, ``options.forks`` at once); one report per target."""
    options = options or VerifyOptions()
    names = [target_name(t) for t in targets]
    sessions: list[_Session] = []
    try:
        sessions = fan_out(list(zip(names, targets, strict=True)),
                           lambda nt: _verify_host(playbook, nt[0], nt[1], connect, options), options.forks)
        if options.tests:
            from provision.verify.usertests import run_user_tests  # here: it imports pytest (0.15 s)

            probes = {s.report.host: s.probe for s in sessions if s.probe is not None}
            if probes:
                t0 = time.monotonic()
                for host, results in run_user_tests(options.tests, probes).items():
                    report = next(s.report for s in sessions if s.report.host == host)
                    report.checks += results
                    report.duration += time.monotonic() - t0
    finally:
        for s in sessions:
            if s.shells is not None:
                s.shells.close()
            if s.conn is not None:
                try:
                    s.conn.close()
                except Exception:  # noqa: BLE001 - closing must not hide the results
                    pass
    return [s.report for s in sessions]
