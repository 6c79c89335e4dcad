"""The command line. Library errors become one-line messages and exit codes here, and only here.

Exit codes: 0 success; 1 a host or resource failed; 2 bad usage or an invalid playbook (nothing
was changed). Human output goes to stderr, ``--json`` documents to stdout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from provision import __version__
from provision.errors import Interrupted, PlaybookError, ProvisionError, UsageError
from provision.paths import builtin_playbooks
from provision.sanitise import echo  # every line shown for people that may carry a target's text

if TYPE_CHECKING:
    from provision.connections import Connection, Connector
    from provision.engine import HostResult
    from provision.facts import HostFacts
    from provision.plan import Mode
    from provision.playbook import Playbook
    from provision.targets import Target

DEFAULT_PLAYBOOK = "workstation"


class Failure(click.ClickException):
    """A library error as one line on stderr; exit 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        echo(f"provision: error: {self.message}")


class BadInput(Failure):
    """An invalid playbook or usage: nothing was changed; exit 2."""

    exit_code = 2


def edge(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (PlaybookError, UsageError) as exc:
            raise BadInput(str(exc)) from None
        except (Interrupted, KeyboardInterrupt) as exc:  # SIGINT, or SIGTERM (see main)
            echo(f"provision: interrupted{': ' + str(exc) if str(exc) else ''}; nothing more was done")
            sys.exit(Interrupted.exit_code)
        except ProvisionError as exc:
            raise Failure(str(exc)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the edge: one line, traceback on request
            if click.get_current_context().find_root().params.get("debug"):
                echo(traceback.format_exc().rstrip("\n"))
                raise Failure(f"internal error: {type(exc).__name__}: {exc}") from None
            raise Failure(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                          "traceback)") from None

    return wrapper


def _playbooks_help() -> str:
    names = ", ".join(builtin_playbooks()) or "none"
    return f"PLAYBOOK is a built-in name ({names}) or a path to a YAML file; default: {DEFAULT_PLAYBOOK}."


def target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Where to run, and how to reach and enter the hosts. Collected into ``Targets`` (``targets``)."""
    options = [
        click.option("-H", "--host", "hosts", multiple=True, metavar="TARGET",
                     help="Where to run: 'local' (default), 'chroot:/path/to/rootfs', 'user@host[:port]', "
                          "'ssh://user@host:port' or a name from ssh_config. Repeatable."),
        click.option("-i", "--inventory", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Hosts, groups and their variables (provision's YAML, or an Ansible YAML/INI "
                          "inventory); see docs/inventory.md."),
        click.option("--limit", metavar="PATTERN",
                     help="Only these hosts: comma-separated names, group names or globs; '!x' excludes."),
        click.option("--forks", default=10, show_default=True, type=click.IntRange(1, 256),
                     help="Hosts handled at once."),
        click.option("--ssh-config", type=click.Path(dir_okay=False), metavar="FILE",
                     help="ssh_config to use (default ~/.ssh/config): HostName, User, Port, IdentityFile, "
                          "ProxyJump."),
        click.option("--known-hosts", type=click.Path(dir_okay=False), metavar="FILE",
                     help="known_hosts file to check host keys against (default: ssh_config's "
                          "UserKnownHostsFile without /dev/null, else ~/.ssh/known_hosts)."),
        click.option("--accept-new-host-keys", is_flag=True,
                     help="Record the key of a host not yet in known_hosts instead of refusing it. A changed "
                          "key is always refused; ssh_config cannot lower either check."),
        click.option("--ask-become-pass", "-K", is_flag=True,
                     help="Ask once for the sudo password of non-root SSH users (read from stdin when it is "
                          "not a terminal). It is sent only when sudo asks for it, never shown or logged."),
        click.option("--connect-timeout", default=15.0, show_default=True, type=click.FloatRange(1, 600),
                     metavar="SECONDS", help="SSH connect timeout."),
        click.option("--ssh-transport", type=click.Choice(["auto", "openssh", "paramiko"]), default="auto",
                     show_default=True,
                     help="How SSH hosts are reached: the system's OpenSSH client (auto, when installed: "
                          "faster, every ssh_config feature) or paramiko. Also $PROVISION_SSH_TRANSPORT."),
    ]
    for option in reversed(options):
        fn = option(fn)

    names = ("hosts", "inventory", "limit", "forks", "ssh_config", "known_hosts", "accept_new_host_keys",
             "ask_become_pass", "connect_timeout", "ssh_transport")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["targets"] = Targets(**{n: kwargs.pop(n) for n in names})
        return fn(*args, **kwargs)

    return wrapper


@dataclasses.dataclass
class Targets:
    """The target options of a command, resolved on demand (no host is contacted here)."""

    hosts: tuple[str, ...]
    inventory: str | None
    limit: str | None
    forks: int
    ssh_config: str | None
    known_hosts: str | None
    accept_new_host_keys: bool
    ask_become_pass: bool
    connect_timeout: float
    ssh_transport: str = "auto"

    def resolve(self) -> list[Target]:
        from provision.targets import resolve

        return resolve(self.hosts, self.inventory, self.limit)

    def connector(self, targets: list[Target]) -> Connector:
        """target → Connection, with the SSH options (asks the sudo password once)."""
        from provision.connections import Connector, SshOptions

        password = None
        if self.ask_become_pass and any(t.kind == "ssh" for t in targets):
            password = read_become_password()
        options = SshOptions(ssh_config=self.ssh_config, known_hosts=self.known_hosts,
                             accept_new_host_keys=self.accept_new_host_keys, become_password=password,
                             connect_timeout=self.connect_timeout, transport=self.ssh_transport)
        if self.ssh_config and not os.path.isfile(self.ssh_config):
            raise UsageError(f"--ssh-config {self.ssh_config}: no such file")
        options.chosen_transport()  # a bad --ssh-transport is a usage error, before any host
        return Connector(options)

    @contextlib.contextmanager
    def connecting(self, targets: list[Target]) -> Iterator[Connector]:
        """The connector, with every SSH host's login started now (OpenSSH), closed at the end."""
        connector = self.connector(targets)
        try:
            connector.prestart(targets)
            yield connector
        finally:
            connector.close()


def read_become_password() -> str:
    """The sudo password: prompted on the terminal, or the first line of stdin when it is not one."""
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt("sudo password (for the SSH hosts' users)", hide_input=True, err=True)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise UsageError("--ask-become-pass: no password on stdin")
    return line.rstrip("\r\n")


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
                      help="Set a playbook variable (e.g. -e java_version=21). Repeatable.")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print a JSON result document on stdout.")(fn)
    fn = click.option("-v", "--verbose", count=True, help="Show the output of long commands (apt).")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="Only print failures and the summary.")(fn)
    fn = click.option("--assume", "assume", multiple=True, metavar="wsl=N",
                      help="Say what a chroot target will be when it cannot be detected: --assume wsl=2 "
                           "prepares a root file system for `wsl --import` (wsl.conf, profile.d).")(fn)
    return fn


def parse_assume(items: tuple[str, ...], hosts: list[Target]) -> int | None:
    """--assume wsl=N → N (only for chroot targets: a running host says what it is)."""
    wsl: int | None = None
    for item in items:
        key, sep, value = item.partition("=")
        if key.strip() != "wsl" or value.strip() not in ("0", "1", "2"):
            raise UsageError(f"--assume {item}: only wsl=0, wsl=1 or wsl=2 can be assumed")
        wsl = int(value)
    if wsl is not None and any(t.kind != "chroot" for t in hosts):
        raise UsageError("--assume is for chroot targets (a root file system that will become a WSL "
                         "distro); a running host is asked what it is")
    return wsl


@click.group(help="Turn this machine, a root file system or many hosts into a ready Java development "
                  "host, from declarative YAML playbooks, and prove the result.\n\n"
                  "Quick start: 'provision plan' shows what the default playbook would change on this "
                  "machine; 'provision apply' does it.")
@click.version_option(__version__, prog_name="provision")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors (also after the command).")
@click.option("--color", "--colour", "color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour on a terminal only, never with NO_COLOR or TERM=dumb (auto); "
                                      "always; never. Also after the command.")
def cli(debug: bool, color: str) -> None:
    from provision import colour

    colour.set_mode(color)


GLOBAL_FLAGS = ("--debug",)
GLOBAL_VALUED = ("--color", "--colour")


def hoist_global_options(argv: list[str]) -> list[str]:
    """``provision apply --debug`` means ``provision --debug apply``: the global options are
    accepted after the command too (never after ``--``)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_FLAGS or arg.split("=", 1)[0] in GLOBAL_VALUED and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def recorded_command(argv: list[str], extra: tuple[str, ...]) -> str:
    """The command line as a run records it on the target (lock.owner, and a second run's wait
    message), with the value of every ``-e KEY=VALUE`` left out (``-e KEY=…``): a value may be a
    secret. Any argument ending with a given item is shortened, so none is missed whatever form
    click accepted (``-e k=v``, ``-ek=v``, ``--extra-var=k=v``, ``-qek=v``)."""
    given = [item for item in extra if "=" in item and not item.startswith("@")]
    out = ["provision"]
    for arg in argv:
        for item in given:
            if arg.endswith(item):
                arg = arg[:len(arg) - len(item)] + item.partition("=")[0] + "=…"
                break
        out.append(arg)
    return " ".join(out)[:300]


def _load(playbook: str, extra: tuple[str, ...]) -> Playbook:
    from provision import playbook as pbmod

    return pbmod.load(playbook, pbmod.parse_extra_vars(extra))


@contextlib.contextmanager
def _prepared(playbook: str, extra: tuple[str, ...], targets: Targets) -> Iterator[tuple[Playbook, list[Target],
                                                                                       Connector]]:
    """The targets, their connector (SSH logins start now, in parallel with what follows), and
    the playbook with every host's inventory variables checked, before any command runs on a
    host (an invalid one is a usage error: exit 2, nothing changed)."""
    hosts = targets.resolve()
    with targets.connecting(hosts) as connect:
        pb = _load(playbook, extra)
        for t in hosts:
            pb.for_host(t.vars)
        yield pb, hosts, connect


After = Callable[["list[HostResult]", "list[Target]", "Callable[[Target], Connection]"], None]


def _execute(command: str, mode: Mode, playbook: str, targets: Targets, extra: tuple[str, ...],
             as_json: bool, verbose: int, quiet: bool, diff: bool, after: After | None = None,
             lock_timeout: float | None = None, keep_runs: int | None = None,
             assume: tuple[str, ...] = ()) -> None:
    from provision.plan import Mode

    with _prepared(playbook, extra, targets) as (pb, hosts, connect):
        assumed_wsl = parse_assume(assume, hosts)
        from provision import engine, interrupts  # imported once the SSH logins are under way
        from provision.report import ConsoleReporter, document, print_json

        options = engine.RunOptions(command=recorded_command(sys.argv[1:], extra))
        if lock_timeout is not None:
            options.lock_timeout = lock_timeout
        if keep_runs is not None:
            options.keep_runs = keep_runs
        options.assume_wsl = assumed_wsl
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
    if after is not None:  # runs last, once every result is printed (e.g. --restart-wsl)
        sys.stdout.flush()
        after(results, hosts, connect)
    if any(r.failed for r in results):
        sys.exit(1)


@cli.command(help="Show what PLAYBOOK would change and why (with --diff, the files' diffs). Changes "
                  "nothing.\n\n" + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@run_options
@click.option("--diff", is_flag=True, help="Show unified diffs of the files that would change.")
@edge
def plan(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool, verbose: int,
         quiet: bool, diff: bool, assume: tuple[str, ...]) -> None:
    from provision.plan import Mode

    _execute("plan", Mode.PLAN, playbook, targets, extra, as_json, verbose, quiet, diff=diff, assume=assume)


@cli.command(help="Bring the targets to the state PLAYBOOK describes. A second run changes "
                  "nothing.\n\n" + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@run_options
@click.option("--check", is_flag=True, help="Dry run: report what would change, change nothing.")
@click.option("--diff", is_flag=True, help="Show unified diffs of the files changed.")
@click.option("--restart-wsl", is_flag=True,
              help="When a WSL2 distro needs a restart (e.g. systemd was just enabled), stop it at the end "
                   "through interop (wsl.exe --terminate <distro>). This ends the session: start the "
                   "distro again from Windows.")
@click.option("--lock-timeout", default=300.0, show_default=True, type=click.FloatRange(0, 86400),
              metavar="SECONDS", help="How long to wait for another provision run on a target to finish "
                                      "(one apply per target at a time).")
@click.option("--keep-runs", type=click.IntRange(1, 10000), metavar="N",
              help="Run journals (and their backups) kept on each target, for history and rollback; "
                   "recorded on the target, so later runs (rollbacks too) keep as many. Default: the "
                   "count recorded there, else 20.")
@edge
def apply(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool, verbose: int,
          quiet: bool, check: bool, diff: bool, restart_wsl: bool, lock_timeout: float, keep_runs: int | None,
          assume: tuple[str, ...]) -> None:
    from provision.plan import Mode

    after: After | None = None
    if restart_wsl and not check:
        from provision.wsl import restart_hosts

        def restart(results: list[HostResult], hosts: list[Target],
                    connect: Callable[[Target], Connection]) -> None:
            restart_hosts(results, hosts, connect, echo)
        after = restart
    _execute("apply", Mode.CHECK if check else Mode.APPLY, playbook, targets, extra, as_json, verbose, quiet,
             diff=diff, after=after, lock_timeout=lock_timeout, keep_runs=keep_runs, assume=assume)


@cli.command(help="Undo a run on the targets: files it wrote get back their content, mode and owner "
                  "from before the run (files it created are removed), the packages it installed "
                  "(dependencies included, from apt's own history log) are purged after a simulation, "
                  "and alternatives it changed point back. Works for an interrupted run too. Default: "
                  "the newest run that changed something (see provision history).")
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
    from provision.engine import APPLY, CHECK, HostResult
    from provision.report import ConsoleReporter, document, print_json
    from provision.rollback import UndoOptions, undo

    hosts = targets.resolve()
    reporter = ConsoleReporter(hosts=len(hosts))
    options = UndoOptions(run_id=run_id, check=check, force=force, allow_extra_removals=allow_extra_removals,
                          lock_timeout=lock_timeout, command=recorded_command(sys.argv[1:], ()))
    mode = CHECK if check else APPLY
    results = []
    with targets.connecting(hosts) as connect:
        for target in hosts:
            try:
                with connect(target) as conn:
                    result = undo(conn, target.name, options, functools.partial(reporter.progress, target.name))
            except ProvisionError as exc:
                if isinstance(exc, (UsageError, PlaybookError)) and len(hosts) == 1:
                    raise
                result = HostResult(target.name, failed=True, error=str(exc))
            for r in result.resources:
                reporter.resource_done(target.name, r, mode)
            reporter.host_done(target.name, result, mode)
            results.append(result)
    if len(hosts) > 1:
        reporter.table(results)
    if as_json:
        print_json(document("rollback", None, mode, results))
    if any(r.failed for r in results):
        sys.exit(1)


@cli.command(help="List the runs recorded on the targets (newest first): when, which playbook, "
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
    failed = False
    with targets.connecting(hosts) as connect:
        found = {}
        for target in hosts:
            try:
                with connect(target) as conn:
                    found[target.name] = next(v for v in gather(conn, [RunJournals()]).values())
            except ProvisionError as exc:
                found[target.name] = exc
    for target in hosts:
        runs = found[target.name]
        if isinstance(runs, ProvisionError):
            failed = True
            echo(f"{target.name}: {runs}")
            out.append({"host": target.name, "error": str(runs), "runs": []})
            continue
        assert isinstance(runs, list)
        summaries = [r.summary() for r in runs if isinstance(r, Run)]
        out.append({"host": target.name, "error": None, "runs": summaries})
        lines = [f"{target.name}: {len(summaries)} run(s)"]
        for r in summaries:
            undo = f" (rollback of {r['rollback_of']})" if r["rollback_of"] else ""
            changes = r["changes"] if isinstance(r["changes"], list) else []
            lines.append(f"  {r['run_id']}  {r['status']:<11} {r['playbook'] or '-'}{undo}: "
                         + ("; ".join(str(c) for c in changes) or "no changes"))
        echo(lines)
    if as_json:
        print_json({"provision": __version__, "command": "history", "hosts": out})
    if failed:
        sys.exit(1)


@cli.command(help="Diagnose the targets, read-only: systemd as PID 1 (the 'System has not been booted "
                  "with systemd as init system' error: WSL2 without systemd, a pending restart, WSL1, a "
                  "container or chroot), /etc/wsl.conf, and JAVA_HOME (set, a JDK, the default java, not "
                  "overridden). Each finding has a status (ok, warn, problem, info) and a fix. Exit 1 when "
                  "a problem is found.")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@edge
def doctor(targets: Targets, as_json: bool) -> None:
    from provision import doctor as doc
    from provision.report import print_json

    hosts = targets.resolve()
    reports = []
    with targets.connecting(hosts) as connect:
        for target in hosts:
            try:
                with connect(target) as conn:
                    report = doc.examine(conn, target.name, target.kind)
            except ProvisionError as exc:
                report = doc.Report(target.name, error=str(exc))
            reports.append(report)
            echo(doc.text(report))
    if as_json:
        print_json({"provision": __version__, "command": "doctor",
                    "ok": all(r.ok for r in reports), "hosts": [r.as_dict() for r in reports]})
    if not all(r.ok for r in reports):
        sys.exit(1)


@cli.command(help="Prove that the targets are in the state PLAYBOOK describes: testinfra checks "
                  "derived from its resources, its own 'checks:', and your test files (--tests). "
                  "Changes nothing. Exit 0 when every check passes, 1 when one fails.\n\n"
                  + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable, as for apply (e.g. -e java_version=21). Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result document on stdout.")
@click.option("-v", "--verbose", count=True, help="Also list the checks that passed (with what they saw).")
@click.option("-q", "--quiet", is_flag=True, help="Only list the hosts with failures.")
@click.option("--junit-xml", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a JUnit XML report: one testcase per check per host.")
@click.option("--tests", "tests_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False),
              help="Also run your testinfra test files in DIR (their 'host' fixture is each target).")
@click.option("--user", metavar="USER",
              help="Whose login shell must see JAVA_HOME (default: the first user with uid >= 1000, "
                   "else root).")
@edge
def verify(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool, verbose: int,
           quiet: bool, junit_xml: str | None, tests_dir: str | None, user: str | None) -> None:
    from provision.report import print_json
    from provision.verify.output import document, summary, write_junit
    from provision.verify.runner import VerifyOptions
    from provision.verify.runner import verify as run_verify

    with _prepared(playbook, extra, targets) as (pb, hosts, connect):
        reports = run_verify(pb, hosts, connect, VerifyOptions(user=user, tests=tests_dir, forks=targets.forks))
    summary(reports, verbose=verbose, quiet=quiet)
    if junit_xml:
        write_junit(junit_xml, reports)
    if as_json:
        print_json(document(pb.name, reports))
    if not all(r.ok for r in reports):
        sys.exit(1)


@cli.command(help="Show the facts PLAYBOOK's resources read on each host (as plan reads them: "
                  "one round trip on a converged host), changing nothing.\n\n" + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON on stdout.")
@edge
def facts(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool) -> None:
    from provision import engine
    from provision.facts import HOST, to_json

    out: list[dict[str, Any]] = []
    failed = False
    with _prepared(playbook, extra, targets) as (pb, hosts, connect):
        runs: dict[str, engine.HostRun | ProvisionError] = {}
        for target in hosts:
            try:
                with connect(target) as conn:
                    runs[target.name] = engine.resolve_host(conn, pb.for_host(target.vars), engine.PLAN,
                                                            engine.Silent(), engine.HostResult(target.name))
            except ProvisionError as exc:
                runs[target.name] = exc
    for target in hosts:
        run = runs[target.name]
        if isinstance(run, ProvisionError):
            failed = True
            echo(f"{target.name}: {run}")
            out.append({"host": target.name, "ok": False, "error": str(run), "facts": {}})
            continue
        gathered = [(f, v) for f, v in run.facts.items() if f != HOST]
        host = run.facts.get(HOST)
        out.append({"host": target.name, "ok": True, "error": None, "facts": host.summary(),
                    "host_facts": to_json(host), "gathered": {f.describe(): f.to_json(v) for f, v in gathered}})
        if not as_json:
            echo(facts_text(target.name, host, [(f.describe(), f.summarize(v)) for f, v in gathered]))
    if as_json:  # the shape of every command's document: a list of hosts, each with the same facts
        click.echo(json.dumps({"provision": __version__, "command": "facts", "playbook": pb.name,
                               "ok": not failed, "hosts": out}, indent=2, default=str))
    if failed:
        sys.exit(1)


@cli.command("list", help="List the built-in playbooks, one line each.")
@edge
def list_playbooks() -> None:
    from provision import playbook as pbmod

    books = builtin_playbooks()
    width = max((len(n) for n in books), default=0)
    for name in books:
        pb = pbmod.load(name)
        echo(f"{name:<{width}}  {pb.description}", err=False)


def _show_text(pb: Playbook, ref: str) -> str:
    from provision.playbook.variables import show_value

    lines = [f"{pb.name}: {pb.description}" if pb.description else pb.name, f"  file: {pb.file}", "",
             "variables (-e name=value):"]
    for name, spec in pb.declared.items():
        default = json.dumps(spec.default) if not isinstance(spec.default, bool) else show_value(spec.default)
        lines.append(f"  {name}  ({spec.describe_type()}, default {default})")
        if spec.description:
            lines.append(f"      {spec.description}")
    if not pb.declared:
        lines.append("  (none)")
    lines += ["", "resources:"]
    for d in pb.resources:
        when = f"  when: {d.when}" if d.when is not None else ""
        lines.append(f"  {d.id} ({d.type}){': ' + d.name if d.name else ''}{when}")
    if pb.checks:
        lines += ["", "checks (provision verify):"] + [f"  {c.name}" for c in pb.checks]
    lines += ["", f"plan it: provision plan {ref}   apply it: provision apply {ref}"]
    return "\n".join(lines)


@cli.command(help="Show a playbook: its variables (type, default, meaning), resources and checks.\n\n"
                  + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON on stdout.")
@edge
def show(playbook: str, as_json: bool) -> None:
    pb = _load(playbook, ())
    if as_json:
        click.echo(json.dumps({"provision": __version__, "name": pb.name, "description": pb.description,
                               "file": pb.file,
                               "vars": {n: {"type": s.type, "default": s.default, "description": s.description,
                                            "choices": list(s.choices)} for n, s in pb.declared.items()},
                               "resources": [{"id": d.id, "type": d.type, "name": d.name, "when": d.when}
                                             for d in pb.resources],
                               "checks": [c.name for c in pb.checks]}, indent=2, default=str))
        return
    echo(_show_text(pb, playbook), err=False)


@cli.command(help="Check a playbook completely (YAML, keys, types, variables, templates) without a "
                  "target; exit 0 when valid, 2 with the file:line and key of the first error.\n\n"
                  + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable (KEY=VALUE or @file.yml). Repeatable.")
@edge
def validate(playbook: str, extra: tuple[str, ...]) -> None:
    pb = _load(playbook, extra)
    echo(f"{playbook}: valid ({len(pb.resources)} resources, {len(pb.vars)} variables)")


@cli.command(help="Print the JSON Schema of the playbook format (generated from the resource types), "
                  "for editors: see docs/playbooks.md.")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False), help="Write it here.")
@edge
def schema(output: str | None) -> None:
    from provision.playbook.schema import playbook_schema

    text = json.dumps(playbook_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    from provision.wslfiles import write_atomically

    write_atomically(output, text.encode())
    echo(f"wrote {output}")


@cli.command(help="Write a commented starter playbook.yml and inventory.yml (and the schema for "
                  "editors, provision-schema.json) into DIRECTORY (default: the current one). Files "
                  "that exist are left alone.")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@edge
def init(directory: str) -> None:
    from pathlib import Path

    from provision.paths import templates_dir
    from provision.playbook.schema import playbook_schema
    from provision.wslfiles import write_atomically

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    files = {"playbook.yml": (templates_dir() / "init/playbook.yml").read_bytes(),
             "inventory.yml": (templates_dir() / "init/inventory.yml").read_bytes(),
             "provision-schema.json": (json.dumps(playbook_schema(), indent=2) + "\n").encode()}
    for name, data in files.items():
        path = target / name
        if path.exists():
            echo(f"kept {path} (it exists)")
            continue
        write_atomically(str(path), data)
        echo(f"wrote {path}")
    echo(f"next: provision validate {target / 'playbook.yml'}; provision plan {target / 'playbook.yml'}")


@cli.group(help="Render a playbook for another engine, for hosts that provision themselves.")
def export() -> None:
    pass


@export.command("cloud-init", help="Render PLAYBOOK as cloud-init user data (#cloud-config) for a target "
                "described by --facts (nothing is contacted). Each resource uses cloud-init's own modules "
                "where one fits (packages, write_files) and runcmd where none does; a resource that "
                "cannot be expressed faithfully is refused (exit 2). Check the result with "
                "'cloud-init schema --config-file FILE', prove a booted host with 'provision verify'. "
                "See docs/cloud-init.md.\n\n" + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable. Repeatable.")
@click.option("--facts", "facts_text_", required=True, metavar="os=…,arch=…,wsl=…",
              help="The target: os (debian-12, debian-13, ubuntu-22.04, ubuntu-24.04), arch (default "
                   "amd64), wsl (0, 1 or 2; default 0, or 2 with --wsl-instance).")
@click.option("-o", "--output", metavar="PATH", type=click.Path(),
              help="Write here (a directory with --wsl-instance) instead of stdout.")
@click.option("--wsl-instance", metavar="NAME",
              help="A new WSL instance's name: write NAME.user-data into %USERPROFILE%\\.cloud-init\\ "
                   "(found through WSL interop) or into -o DIR; implies wsl=2.")
@edge
def export_cloud_init(playbook: str, extra: tuple[str, ...], facts_text_: str, output: str | None,
                      wsl_instance: str | None) -> None:
    from provision import cloudinit, wslfiles

    facts = cloudinit.parse_facts(facts_text_)
    if wsl_instance is not None:
        wslfiles.check_instance_name(wsl_instance)
        if "wsl=" not in facts_text_.replace(" ", ""):
            facts.wsl = 2
        elif facts.wsl != 2:
            raise UsageError("--wsl-instance: cloud-init runs in WSL2 distros only (wsl=2)")
    pb = _load(playbook, extra)
    text = cloudinit.export(pb, facts, instance=wsl_instance or "")
    dest = wslfiles.user_data_path(wsl_instance, output) if wsl_instance else output
    if dest is None:
        click.echo(text, nl=False)
        return
    # user data is a whole host's configuration: files that are 0600 on the host, passwords in
    # variables; it is written 0600 whatever the umask
    wslfiles.write_atomically(dest, text.encode(), private=True)
    echo(f"wrote {dest}")
    if wsl_instance:
        echo(f"cloud-init reads it when a WSL instance named {wsl_instance} first starts (on Windows: "
             f"wsl --install <distro>, or --name {wsl_instance} on recent WSL); see docs/cloud-init.md")


def facts_text(target: str, f: HostFacts, gathered: list[tuple[str, str]]) -> str:
    w = f.wsl
    lines = [f"{target}:",
             f"  os           {f.os.label} ({f.os.pretty_name})",
             f"  arch         {f.arch}",
             f"  kernel       {f.kernel}",
             f"  pid 1        {f.pid1}",
             f"  hostname     {f.hostname}",
             f"  wsl          {'WSL' + str(w.version) if w.version else 'no'}"
             + (f" ({', '.join(w.signals)})" if w.signals else "")
             + (f", WSL {w.wsl_version}" if w.wsl_version else "")
             + (f", distro {w.distro}" if w.distro else "")
             + (", wsl.exe reachable" if w.wsl_exe else "")
             + (f", in a {w.container} container" if w.container else "")
             + (", in a chroot" if w.chroot else "")]
    width = max((len(name) for name, _ in gathered), default=0)
    lines += [f"  {name:<{width}}  {summary}" for name, summary in sorted(gathered)]
    return "\n".join(lines)


def main() -> None:
    # pydantic looks for its plugins among every installed package's entry points when the first
    # model is built: a fifth of a run's start-up, for plugins a command-line tool does not use.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # SIGTERM stops a command as Ctrl-C does (exit 130): at once, wherever it is, except in a run,
    # where provision.interrupts takes both signals over (after the current step).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        rv = cli.main(args=hoist_global_options(sys.argv[1:]), prog_name="provision", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.ClickException as exc:
        show_click_error(exc)
        code = exc.exit_code
    except click.Abort:
        echo("Aborted!")
        code = 1
    except SystemExit as exc:
        if isinstance(exc.code, str):
            echo(exc.code)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    _leave(code)


def show_click_error(exc: click.ClickException) -> None:
    """A usage error as click words it (the usage line, the hint, the error), escaped like every
    other line: it may quote an argument, a file name or a value taken from a playbook."""
    buffer = _Terminal()
    exc.show(file=buffer)
    text = buffer.getvalue().rstrip("\n")
    if text:
        echo(text)


class _Terminal(io.StringIO):
    """Text bound for the terminal: click leaves what it writes here as it is (it strips CSI
    sequences from other files), so that they are shown escaped rather than dropped."""

    def isatty(self) -> bool:
        return True


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown (freeing every object of a process that is about
    to end takes tens of milliseconds): the exit handlers run and the output is flushed first."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
