"""The command line. Library errors become one-line messages and exit codes here, and only here.

Exit codes: 0 success; 1 a host or resource failed; 2 bad usage or an invalid playbook (nothing
was changed). Human output goes to stderr, ``--json`` documents to stdout.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from provision import __version__
from provision.errors import PlaybookError, ProvisionError, UsageError
from provision.paths import builtin_playbooks

DEFAULT_PLAYBOOK = "workstation"


class Failure(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"provision: error: {self.message}", err=True)


def edge(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (PlaybookError, UsageError) as exc:
            raise Failure(str(exc), 2) from None
        except ProvisionError as exc:
            raise Failure(str(exc), 1) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:  # noqa: BLE001 - the edge: one line, traceback on request
            if click.get_current_context().find_root().params.get("debug"):
                traceback.print_exc()
            raise Failure(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                          "traceback)", 1) from None

    return wrapper


def _playbooks_help() -> str:
    names = ", ".join(builtin_playbooks()) or "none"
    return f"PLAYBOOK is a built-in name ({names}) or a path to a YAML file; default: {DEFAULT_PLAYBOOK}."


def target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("-H", "--host", "hosts", multiple=True, metavar="TARGET",
                      help="Where to run: 'local' (default) or 'chroot:/path/to/rootfs'. Repeatable.")(fn)
    fn = click.option("--forks", default=10, show_default=True, type=click.IntRange(1, 256),
                      help="Hosts handled at once.")(fn)
    return fn


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
                      help="Set a playbook variable (e.g. -e java_version=21). Repeatable.")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print a JSON result document on stdout.")(fn)
    fn = click.option("-v", "--verbose", count=True, help="Show the output of long commands (apt).")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="Only print failures and the summary.")(fn)
    return fn


@click.group(help="Turn this machine, a root file system or many hosts into a ready Java development "
                  "host, from declarative YAML playbooks, and prove the result.\n\n"
                  "Quick start: 'provision plan' shows what the default playbook would change on this "
                  "machine; 'provision apply' does it.")
@click.version_option(__version__, prog_name="provision")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
def cli(debug: bool) -> None:
    pass


def _load(playbook: str, extra: tuple[str, ...]):
    from provision import playbook as pbmod

    return pbmod.load(playbook, pbmod.parse_extra_vars(extra))


def _targets(hosts: tuple[str, ...]) -> list[str]:
    from provision.connections import check_target

    targets = [check_target(h) for h in (hosts or ("local",))]
    dupes = {t for t in targets if targets.count(t) > 1}
    if dupes:
        raise UsageError(f"target given twice: {', '.join(sorted(dupes))}")
    return targets


def _execute(command: str, mode: str, playbook: str, hosts: tuple[str, ...], extra: tuple[str, ...],
             as_json: bool, verbose: int, quiet: bool, forks: int, diff: bool) -> None:
    from provision import engine
    from provision.report import ConsoleReporter, document, print_json

    pb = _load(playbook, extra)
    targets = _targets(hosts)
    reporter = ConsoleReporter(multi=len(targets) > 1, diff=diff, verbose=verbose, quiet=quiet)
    results = engine.run(pb, targets, mode, reporter, forks=forks)
    if len(targets) > 1:
        reporter.table(results)
    if as_json:
        print_json(document(command, pb.name, mode, results))
    if any(r.failed for r in results):
        sys.exit(1)


@cli.command(help="Show what PLAYBOOK would change, with reasons and diffs. Changes nothing.\n\n"
                  + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@run_options
@edge
def plan(playbook: str, hosts: tuple[str, ...], forks: int, extra: tuple[str, ...], as_json: bool,
         verbose: int, quiet: bool) -> None:
    from provision.engine import PLAN

    _execute("plan", PLAN, playbook, hosts, extra, as_json, verbose, quiet, forks, diff=True)


@cli.command(help="Bring the targets to the state PLAYBOOK describes. A second run changes "
                  "nothing.\n\n" + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@run_options
@click.option("--check", is_flag=True, help="Dry run: report what would change, change nothing.")
@click.option("--diff", is_flag=True, help="Show unified diffs of the files changed.")
@edge
def apply(playbook: str, hosts: tuple[str, ...], forks: int, extra: tuple[str, ...], as_json: bool,
          verbose: int, quiet: bool, check: bool, diff: bool) -> None:
    from provision.engine import APPLY, CHECK

    _execute("apply", CHECK if check else APPLY, playbook, hosts, extra, as_json, verbose, quiet,
             forks, diff=diff)


@cli.command(help="Show the facts PLAYBOOK's resources use (one round trip per host).\n\n"
                  + _playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON on stdout.")
@edge
def facts(playbook: str, hosts: tuple[str, ...], forks: int, extra: tuple[str, ...], as_json: bool) -> None:
    from provision.connections import open_target
    from provision.engine import fact_request
    from provision.facts import gather

    pb = _load(playbook, extra)
    req = fact_request(pb)
    out: dict[str, Any] = {}
    failed = False
    for target in _targets(hosts):
        try:
            with open_target(target) as conn:
                f = gather(conn, req)
        except ProvisionError as exc:
            failed = True
            click.echo(f"{target}: {exc}", err=True)
            out[target] = {"error": str(exc)}
            continue
        out[target] = facts_dict(f)
        if not as_json:
            click.echo(facts_text(target, f), err=True)
    if as_json:
        click.echo(json.dumps({"provision": __version__, "hosts": out}, indent=2, default=str))
    if failed:
        sys.exit(1)


def facts_dict(f: Any) -> dict[str, Any]:
    d = dataclasses.asdict(f)
    for path, fd in d["files"].items():
        raw = fd.pop("content")
        try:
            fd["content"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            fd["content_base64"] = __import__("base64").b64encode(raw).decode()
        fd["mode"] = f"{fd['mode']:04o}"
    d["jdks"] = {str(k): v for k, v in d["jdks"].items()}
    d["apt"]["removals"] = {",".join(k): v for k, v in d["apt"]["removals"].items()}
    return d


def facts_text(target: str, f: Any) -> str:
    lines = [f"{target}:",
             f"  os           {f.os.label} ({f.os.pretty_name})",
             f"  arch         {f.arch}",
             f"  kernel       {f.kernel}",
             f"  pid 1        {f.pid1}",
             f"  hostname     {f.hostname}",
             f"  wsl          {'WSL' + str(f.wsl.version) if f.wsl.version else 'no'}"
             + (f" ({', '.join(f.wsl.signals)})" if f.wsl.signals else "")]
    if f.apt.lists_mtime:
        lines.append(f"  apt lists    {(f.now - f.apt.lists_mtime) // 3600}h old")
    else:
        lines.append("  apt lists    none")
    for v, j in sorted(f.jdks.items()):
        lines.append(f"  jdk {v:<8} {j.home or 'not installed'}" + (f" (JAVA_VERSION {j.release})" if j.release else ""))
    for name, p in sorted(f.packages.items()):
        lines.append(f"  package      {name} {p.version} [{p.status.strip()}]")
    for path, fd in sorted(f.files.items()):
        lines.append(f"  file         {path}: " + (f"{len(fd.content)} bytes, mode {fd.mode:04o}" if fd.exists else "absent"))
    return "\n".join(lines)


def main() -> None:
    cli(prog_name="provision")


if __name__ == "__main__":
    main()
