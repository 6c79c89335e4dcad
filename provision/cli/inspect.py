"""``facts``, ``doctor`` and ``verify``: read the targets, change nothing; ``--forks`` hosts at
once, each host's output in the hosts' order."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from provision import __version__
from provision.cli.common import DEFAULT_PLAYBOOK, Targets, edge, playbooks_help, prepared, target_options
from provision.errors import ProvisionError
from provision.sanitise import echo

if TYPE_CHECKING:
    from provision.connections import Connection
    from provision.doctor import Report
    from provision.engine import HostRun
    from provision.facts import HostFacts
    from provision.targets import Target


@click.command(help="Diagnose the targets, read-only: systemd as PID 1 (the 'System has not been booted "
                  "with systemd as init system' error: WSL2 without systemd, a pending restart, WSL1, a "
                  "container or chroot), /etc/wsl.conf, JAVA_HOME (set, a JDK, the default java, not "
                  "overridden), and which JDK's truststore lacks a CA of /usr/local/share/ca-certificates "
                  "(Java's 'PKIX path building failed'). Each finding has a status (ok, warn, problem, "
                  "info) and a fix. Exit 1 when a problem is found.")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@edge
def doctor(targets: Targets, as_json: bool) -> None:
    from provision import doctor as doc
    from provision.report import print_json

    def examine(target: Target, conn: Connection) -> Report:
        return doc.examine(conn, target.name, target.kind)

    def unreachable(target: Target, exc: ProvisionError) -> Report:
        return doc.Report(target.name, error=str(exc))

    hosts = targets.resolve()
    with targets.connecting(hosts) as connect:
        reports = targets.each(hosts, connect, examine, unreachable, done=lambda _, report: echo(doc.text(report)))
    if as_json:
        print_json({"provision": __version__, "command": "doctor",
                    "ok": all(r.ok for r in reports), "hosts": [r.as_dict() for r in reports]})
    if not all(r.ok for r in reports):
        sys.exit(1)


@click.command(help="Prove that the targets are in the state PLAYBOOK describes: testinfra checks "
                  "derived from its resources, its own 'checks:', and your test files (--tests). "
                  "Changes nothing. Exit 0 when every check passes, 1 when one fails.\n\n"
                  + playbooks_help())
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

    with prepared(playbook, extra, targets) as (pb, hosts, connect):
        reports = run_verify(pb, hosts, connect, VerifyOptions(user=user, tests=tests_dir, forks=targets.forks))
    summary(reports, verbose=verbose, quiet=quiet)
    if junit_xml:
        write_junit(junit_xml, reports)
    if as_json:
        print_json(document(pb.name, reports))
    if not all(r.ok for r in reports):
        sys.exit(1)



@click.command(help="Show the facts PLAYBOOK's resources read on each host (as plan reads them: "
                    "one round trip on a converged host), changing nothing.\n\n" + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@target_options
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON on stdout.")
@edge
def facts(playbook: str, targets: Targets, extra: tuple[str, ...], as_json: bool) -> None:
    from provision import engine
    from provision.facts import HOST, to_json

    out: list[dict[str, object]] = []

    def show(target: Target, run: HostRun | ProvisionError) -> None:  # in the hosts' order
        if isinstance(run, ProvisionError):
            echo(f"{target.name}: {run}")
            out.append({"host": target.name, "ok": False, "error": str(run), "facts": {}})
            return
        gathered = [(f, v) for f, v in run.facts.items() if f != HOST]
        host = run.facts.get(HOST)
        out.append({"host": target.name, "ok": True, "error": None, "facts": host.summary(),
                    "host_facts": to_json(host), "gathered": {f.describe(): f.to_json(v) for f, v in gathered}})
        if not as_json:
            echo(facts_text(target.name, host, [(f.describe(), f.summarize(v)) for f, v in gathered]))

    with prepared(playbook, extra, targets) as (pb, hosts, connect):
        def read(target: Target, conn: Connection) -> HostRun | ProvisionError:
            return engine.resolve_host(conn, pb.for_host(target.vars), engine.PLAN, engine.Silent(),
                                       engine.HostResult(target.name))

        runs = targets.each(hosts, connect, read, lambda target, exc: exc, done=show)
    failed = any(isinstance(run, ProvisionError) for run in runs)
    if as_json:  # the shape of every command's document: a list of hosts, each with the same facts
        click.echo(json.dumps({"provision": __version__, "command": "facts", "playbook": pb.name,
                               "ok": not failed, "hosts": out}, indent=2, default=str))
    if failed:
        sys.exit(1)


def facts_text(target: str, f: HostFacts, gathered: list[tuple[str, str]]) -> str:
    lines = [f"{target}:", *(f"  {what:<12} {value}" for what, value in f.rows())]
    width = max((len(name) for name, _ in gathered), default=0)
    lines += [f"  {name:<{width}}  {summary}" for name, summary in sorted(gathered)]
    return "\n".join(lines)

