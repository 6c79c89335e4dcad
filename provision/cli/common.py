"""What every command shares: errors → messages and exit codes (``edge``), the target options
(``Targets``), the run options, and loading a playbook for the targets.

Exit codes: 0 success; 1 a host or resource failed; 2 bad usage or an invalid playbook (nothing
was changed). Human output goes to stderr, ``--json`` documents to stdout.

The library is imported inside the commands, not here: ``provision --version`` and ``--help``
load none of it, and a host command starts its SSH logins before the heavy imports (playbook,
engine, report: see bench/README.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from provision.errors import Interrupted, PlaybookError, ProvisionError, UsageError
from provision.facts.host import ASSUMPTIONS, parse_assumptions
from provision.paths import builtin_playbooks
from provision.sanitise import echo  # every line shown for people that may carry a target's text

if TYPE_CHECKING:
    from provision.connections import Connection, Connector
    from provision.playbook import Playbook
    from provision.targets import Target

DEFAULT_PLAYBOOK = "workstation"

R = TypeVar("R")


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


def playbooks_help() -> str:
    names = ", ".join(builtin_playbooks()) or "none"
    return f"PLAYBOOK is a built-in name ({names}) or a path to a YAML file; default: {DEFAULT_PLAYBOOK}."


def target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Where to run, and how to reach and enter the hosts. Collected into ``Targets`` (``targets``)."""
    options = [
        click.option("-H", "--host", "hosts", multiple=True, metavar="TARGET",
                     help="Where to run: 'local' (default), 'chroot:/path/to/rootfs', 'wsl:DISTRO' (a WSL "
                          "distro, through wsl.exe), 'user@host[:port]', 'ssh://user@host:port' or a name "
                          "from ssh_config. Repeatable."),
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

    def each(self, hosts: list[Target], connect: Callable[[Target], Connection],
             work: Callable[[Target, Connection], R], failed: Callable[[Target, ProvisionError], R], *,
             started: Callable[[Target], None] | None = None, done: Callable[[Target, R], None] | None = None,
             stop: threading.Event | None = None, not_run: Callable[[Target], R] | None = None) -> list[R]:
        """``work(target, connection)`` on every host, ``--forks`` at once (provision.fanout): each
        host connected, and closed after its work; an error of the host's (it cannot be reached,
        or its work raised a ProvisionError) is ``failed(target, error)``. The results, and the
        calls of ``done``, are in the hosts' order."""
        from provision.fanout import fan_out  # concurrent.futures loads logging: not for --version

        def one(target: Target) -> R:
            if started is not None:
                started(target)
            try:
                with connect(target) as conn:
                    return work(target, conn)
            except ProvisionError as exc:
                return failed(target, exc)

        return fan_out(hosts, one, self.forks, stop=stop, not_run=not_run, done=done)


def read_become_password() -> str:
    """The sudo password: prompted on the terminal, or the first line of stdin when it is not one."""
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt("sudo password (for the SSH hosts' users)", hide_input=True, err=True)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise UsageError("--ask-become-pass: no password on stdin")
    return line.rstrip("\r\n")


_fetch: dict[str, str | None] = {"fetch_ca": None, "fetch_proxy": None}


def _fetch_option(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--fetch-ca / --fetch-proxy: how this machine itself fetches a key or certificate URL."""
    if value is None or param.name is None:
        return
    from provision import keyfetch  # a small module: the network stack is imported only when it fetches

    _fetch[param.name] = value
    try:
        keyfetch.configure(_fetch["fetch_ca"], _fetch["fetch_proxy"])
    except UsageError as exc:
        raise click.BadParameter(str(exc).partition(": ")[2]) from None


def fetch_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--fetch-ca and --fetch-proxy, for the commands that may fetch a key or CA URL here."""
    fn = click.option("--fetch-ca", "fetch_ca", metavar="FILE", expose_value=False, callback=_fetch_option,
                      envvar="PROVISION_FETCH_CA",
                      help="Trust this PEM CA bundle (beside the system's) when this machine fetches a "
                           "repository key or a CA certificate URL (env PROVISION_FETCH_CA).")(fn)
    fn = click.option("--fetch-proxy", "fetch_proxy", metavar="URL", expose_value=False, callback=_fetch_option,
                      envvar="PROVISION_FETCH_PROXY",
                      help="Fetch those URLs through this HTTP proxy, http://[user:password@]host:port "
                           "(env PROVISION_FETCH_PROXY: keeps a login off the command line).")(fn)
    return fn


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = fetch_options(fn)
    fn = click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
                      help="Set a playbook variable (e.g. -e java_version=21). Repeatable.")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print a JSON result document on stdout.")(fn)
    fn = click.option("-v", "--verbose", count=True, help="Show the output of long commands (apt).")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="Only print failures and the summary.")(fn)
    fn = click.option("--assume", "assume", multiple=True, metavar="KEY=VALUE",
                      help="Say what a chroot target will be when it cannot be detected: "
                           + "; ".join(a.meaning for a in ASSUMPTIONS.values()) + ".")(fn)
    return fn


def parse_assume(items: tuple[str, ...], hosts: list[Target]) -> dict[str, str]:
    """--assume KEY=VALUE items → {key: value} (only for chroot targets: a running host says what
    it is)."""
    try:
        given = parse_assumptions(items)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if given and any(t.kind != "chroot" for t in hosts):
        raise UsageError("--assume is for chroot targets (a root file system that is not running yet); "
                         "a running host is asked what it is")
    return given


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
    from provision.formats.proxy import hide_logins  # pure text functions

    return hide_logins(" ".join(out))[:300]


def load(playbook: str, extra: tuple[str, ...]) -> Playbook:
    from provision import playbook as pbmod

    return pbmod.load(playbook, pbmod.parse_extra_vars(extra))


@contextlib.contextmanager
def prepared(playbook: str, extra: tuple[str, ...], targets: Targets) -> Iterator[tuple[Playbook, list[Target],
                                                                                       Connector]]:
    """The targets, their connector (SSH logins start now, in parallel with what follows), and
    the playbook with every host's inventory variables checked, before any command runs on a
    host (an invalid one is a usage error: exit 2, nothing changed)."""
    hosts = targets.resolve()
    with targets.connecting(hosts) as connect:
        pb = load(playbook, extra)
        for t in hosts:
            pb.for_host(t.vars)
        yield pb, hosts, connect