"""``plan`` and ``apply``: the playbook resolved on every target (provision.engine), ``--forks``
hosts at once, shown as it goes, with a table and a JSON document at the end."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from provision.cli.common import (
    DEFAULT_PLAYBOOK,
    Targets,
    edge,
    parse_assume,
    playbooks_help,
    prepared,
    recorded_command,
    run_options,
    target_options,
)
from provision.sanitise import echo

if TYPE_CHECKING:
    from provision.connections import Connection
    from provision.engine import HostResult
    from provision.plan import Mode
    from provision.targets import Target

After = Callable[["list[HostResult]", "list[Target]", "Callable[[Target], Connection]"], bool]


def _execute(command: str, mode: Mode, playbook: str, targets: Targets, extra: tuple[str, ...],
             as_json: bool, verbose: int, quiet: bool, diff: bool, after: After | None = None,
             lock_timeout: float | None = None, keep_runs: int | None = None,
             assume: tuple[str, ...] = ()) -> None:
    from provision.plan import Mode

    with prepared(playbook, extra, targets) as (pb, hosts, connect):
        assumed = parse_assume(assume, hosts)
        from provision import engine, interrupts  # imported once the SSH logins are under way
        from provision.report import ConsoleReporter, document, print_json

        options = engine.RunOptions(command=recorded_command(sys.argv[1:], extra))
        if lock_timeout is not None:
            options.lock_timeout = lock_timeout
        if keep_runs is not None:
            options.keep_runs = keep_runs
        options.assume = assumed
        reporter = ConsoleReporter(hosts=len(hosts), diff=diff, verbose=verbose, quiet=quiet)
        if mode == Mode.CHECK:
            echo("dry run (--check): nothing is changed on the targets")
        with interrupts.handled(options.stop, echo, reporter.running):
            try:
                results = engine.run(pb, hosts, mode, reporter, forks=targets.forks, connect=connect,
                                     options=options)
            finally:
                reporter.finish()
    if len(hosts) > 1:
        reporter.table(results)
    if as_json:
        print_json(document(command, pb.name, mode, results))
    if options.stop.is_set():
        echo("provision: interrupted: the steps marked 'not run' did not run; run the same command again "
             "to finish")
        sys.exit(interrupts.EXIT_CODE)
    after_ok = True
    if after is not None:  # runs last, once every result is printed (e.g. the restarts)
        sys.stdout.flush()
        after_ok = after(results, hosts, connect)
    if any(r.failed for r in results) or not after_ok:
        sys.exit(1)


@click.command(help="Show what PLAYBOOK would change and why (with --diff, the files' diffs). Changes "
                  "nothing.\n\n" + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@run_options
@click.option("--diff", is_flag=True, help="Show unified diffs of the files that would change.")
@edge
def plan(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool, verbose: int,
         quiet: bool, diff: bool, assume: tuple[str, ...]) -> None:
    from provision.plan import Mode

    _execute("plan", Mode.PLAN, playbook, targets, extra, as_json, verbose, quiet, diff=diff, assume=assume)


@click.command(help="Bring the targets to the state PLAYBOOK describes. A second run changes "
                  "nothing.\n\n" + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@run_options
@click.option("--check", is_flag=True, help="Dry run: report what would change, change nothing.")
@click.option("--diff", is_flag=True, help="Show unified diffs of the files changed.")
@click.option("--restart/--no-restart", "--restart-wsl/--no-restart-wsl", "restart", default=None,
              help="When a host needs a restart (a WSL2 distro after systemd was enabled): a wsl:DISTRO "
                   "target is restarted from outside by default (terminated, started, systemd waited "
                   "for and PID 1 checked; --no-restart leaves it running); --restart also restarts "
                   "the other hosts that can restart themselves, at the end (a WSL distro through "
                   "interop: wsl.exe --terminate <distro>, which ends its session; start it again from "
                   "Windows).")
@click.option("--lock-timeout", default=300.0, show_default=True, type=click.FloatRange(0, 86400),
              metavar="SECONDS", help="How long to wait for another provision run on a target to finish "
                                      "(one apply per target at a time).")
@click.option("--keep-runs", type=click.IntRange(1, 10000), metavar="N",
              help="Run journals (and their backups) kept on each target, for history and rollback; "
                   "recorded on the target, so later runs (rollbacks too) keep as many. Default: the "
                   "count recorded there, else 20.")
@edge
def apply(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool, verbose: int,
          quiet: bool, check: bool, diff: bool, restart: bool | None, lock_timeout: float, keep_runs: int | None,
          assume: tuple[str, ...]) -> None:
    from provision.plan import Mode

    after: After | None = None
    if restart is not False and not check:
        from provision.restarts import restart_hosts

        def restart_them(results: list[HostResult], hosts: list[Target],
                         connect: Callable[[Target], Connection]) -> bool:
            return restart_hosts(results, hosts, connect, echo, inside=bool(restart))
        after = restart_them
    _execute("apply", Mode.CHECK if check else Mode.APPLY, playbook, targets, extra, as_json, verbose, quiet,
             diff=diff, after=after, lock_timeout=lock_timeout, keep_runs=keep_runs, assume=assume)

