"""``apply --restart``: restart the hosts whose results need it, through each requirement's own
restarter (a resource type's: e.g. provision.wsl's, which stops a WSL distro through interop).

Generic: this module knows results, targets and the :class:`Restarter` protocol, nothing about the
kinds of host that can restart themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from provision.connections.base import Connection
from provision.errors import ProvisionError

Say = Callable[[str], None]


class Restarter(Protocol):
    """How a host can be restarted from here, attached to a restart requirement by the resource
    type that put it on the plan."""

    def problem(self) -> str:
        """Why it cannot restart the host from here ("" when it can)."""
        ...

    def restart(self, conn: Connection, say: Say) -> bool:
        """Restart the host over ``conn`` (a connection to it), saying what happens: announce first
        (a restart may end the connection, or this session); False when it failed (said why)."""
        ...

    def as_dict(self) -> dict[str, object]:
        """Its fields for the JSON document's ``restart_required``."""
        ...


class Requirement(Protocol):
    """What the loop needs of a restart requirement (provision.plan.Restart)."""

    @property
    def where(self) -> str: ...

    @property
    def commands(self) -> tuple[str, ...]: ...

    @property
    def by(self) -> Restarter | None: ...


class Outcome(Protocol):
    """What the loop needs of a host's result."""

    @property
    def host(self) -> str: ...

    @property
    def failed(self) -> bool: ...

    @property
    def restart_required(self) -> Requirement | None: ...


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


N = TypeVar("N", bound=Named)


def problem(need: Requirement, failed: bool) -> str:
    """Why the host cannot be restarted from here ("" when it can)."""
    if failed:
        return "the run failed on this host: fix that first"
    if need.by is None:
        return "nothing here can restart it"
    return need.by.problem()


def restart_hosts(results: Sequence[Outcome], targets: Sequence[N], connect: Callable[[N], Connection],
                  echo: Say) -> None:
    """Restart each host that needs it and can be restarted from here; the local one last (its
    restart may end this session). For the others, what to run instead."""
    by_name = {t.name: t for t in targets}
    order = sorted(results, key=lambda r: r.host in by_name and by_name[r.host].kind == "local")
    for r in order:
        need = r.restart_required

        def say(message: str, host: str = r.host) -> None:
            echo(f"{host}: {message}")

        if need is None:
            say("--restart: no restart required")
            continue
        why = problem(need, r.failed)
        if why or need.by is None or r.host not in by_name:
            say(f"--restart cannot restart it from here: {why or 'unknown target'}. {need.where}:")
        else:
            try:
                with connect(by_name[r.host]) as conn:
                    if need.by.restart(conn, say):
                        continue
            except ProvisionError as exc:
                say(f"could not connect to restart it ({exc}). {need.where}:")
            else:
                say(f"{need.where}:")
        for command in need.commands:
            echo(f"    {command}")
