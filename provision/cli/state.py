"""``rollback`` and ``history``: the run journals on the targets, ``--forks`` hosts at once."""

from __future__ import annotations

import functools
import sys
import threading
from typing import TYPE_CHECKING

import click

from provision import __version__
from provision.cli.common import Targets, edge, recorded_command, target_options
from provision.errors import PlaybookError, ProvisionError, UsageError
from provision.sanitise import echo

if TYPE_CHECKING:
    from provision.connections import Connection
    from provision.engine import HostResult
    from provision.rollback import Run
    from provision.targets import Target


@click.command(help="Undo a run on the targets: files it wrote get back their content, mode and owner "
                  "from before the run (files it created are removed), the packages it installed "
                  "(dependencies included, from apt's own history log) are purged after a simulation, "
                  "those it removed are installed again, and alternatives it changed point back. Works "
                  "for an interrupted run too. Default: the newest run that changed something (see provision history).")
@target_options
@click.option("--run", "run_id", metavar="ID", help="The run to undo (an id from provision history).")
@click.option("--check", is_flag=True, help="Show what would be undone; change nothing.")
@click.option("--force", is_flag=True, help="Restore files that changed since the run, too.")
@click.option("--allow-extra-removals", is_flag=True,
              help="Let the purge remove packages other software needs (listed when refused).")
@click.option("--lock-timeout", default=300.0, show_default=True, type=click.FloatRange(0, 86400),
              metavar="SECONDS", help="How long to wait for another provision run on a target.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result document on stdout.")
@edge
def rollback(targets: Targets, run_id: str | None, check: bool, force: bool, allow_extra_removals: bool,
             lock_timeout: float, as_json: bool) -> None:
    from provision import interrupts
    from provision.engine import APPLY, CHECK, HostResult
    from provision.report import ConsoleReporter, document, print_json
    from provision.rollback import UndoOptions, undo

    hosts = targets.resolve()
    reporter = ConsoleReporter(hosts=len(hosts))
    stop = threading.Event()  # set by the first Ctrl-C: the hosts not started yet are not rolled back
    options = UndoOptions(run_id=run_id, check=check, force=force, allow_extra_removals=allow_extra_removals,
                          lock_timeout=lock_timeout, command=recorded_command(sys.argv[1:], ()),
                          stop=stop)
    mode = CHECK if check else APPLY

    def one(target: Target, conn: Connection) -> HostResult:
        return undo(conn, target.name, options, functools.partial(reporter.progress, target.name))

    def failed(target: Target, exc: ProvisionError) -> HostResult:
        if isinstance(exc, (UsageError, PlaybookError)) and len(hosts) == 1:
            raise exc
        return HostResult(target.name, failed=True, error=str(exc))

    def not_run(target: Target) -> HostResult:
        return HostResult(target.name, failed=True, error="not run: interrupted")

    def show(target: Target, result: HostResult) -> None:  # in the hosts' order
        for r in result.resources:
            reporter.resource_done(target.name, r, mode)
        reporter.host_done(target.name, result, mode)

    with targets.connecting(hosts) as connect, interrupts.handled(stop, echo, reporter.running):
        try:
            results = targets.each(hosts, connect, one, failed, started=lambda t: reporter.host_started(t.name),
                                   done=show, stop=stop, not_run=not_run)
        finally:
            reporter.finish()
    if len(hosts) > 1:
        reporter.table(results)
    if as_json:
        print_json(document("rollback", None, mode, results))
    if stop.is_set():
        skipped = any(r.error == "not run: interrupted" for r in results)
        echo("provision: interrupted: " + ("the hosts marked 'not run' were not rolled back" if skipped else
                                           "the rollbacks under way were finished"))
        sys.exit(interrupts.EXIT_CODE)
    if any(r.failed for r in results):
        sys.exit(1)


@click.command(help="List the runs recorded on the targets (newest first): when, which playbook, "
                    "complete, failed or interrupted, and what each changed. Read-only.")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
@edge
def history(targets: Targets, as_json: bool) -> None:
    from provision.facts import gather
    from provision.report import print_json
    from provision.rollback import Run, RunJournals

    hosts = targets.resolve()
    out: list[dict[str, object]] = []

    def runs_of(target: Target, conn: Connection) -> list[Run] | ProvisionError:
        runs = next(v for v in gather(conn, [RunJournals()]).values())
        assert isinstance(runs, list)
        return [r for r in runs if isinstance(r, Run)]

    def show(target: Target, runs: list[Run] | ProvisionError) -> None:  # in the hosts' order
        if isinstance(runs, ProvisionError):
            echo(f"{target.name}: {runs}")
            out.append({"host": target.name, "error": str(runs), "runs": []})
            return
        summaries = [r.summary() for r in runs]
        out.append({"host": target.name, "error": None, "runs": summaries})
        lines = [f"{target.name}: {len(summaries)} run(s)"]
        for r in summaries:
            undo = f" (rollback of {r['rollback_of']})" if r["rollback_of"] else ""
            changes = r["changes"] if isinstance(r["changes"], list) else []
            lines.append(f"  {r['run_id']}  {r['status']:<11} {r['playbook'] or '-'}{undo}: "
                         + ("; ".join(str(c) for c in changes) or "no changes"))
        echo(lines)

    with targets.connecting(hosts) as connect:
        found = targets.each(hosts, connect, runs_of, lambda target, exc: exc, done=show)
    if as_json:
        print_json({"provision": __version__, "command": "history", "hosts": out})
    if any(isinstance(runs, ProvisionError) for runs in found):
        sys.exit(1)
