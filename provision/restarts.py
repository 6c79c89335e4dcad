"""The restarts at the end of ``apply``, for the hosts whose results need one: from outside, by a
connection that can (:class:`RestartsFromOutside`: a ``wsl:`` target), unless ``--no-restart``;
and with ``--restart``, from inside, by each requirement's own :class:`Restarter` (a resource
type's: e.g. provision.wsl's, which stops a WSL distro through interop).

Generic: this module knows results, targets and the two protocols, nothing about the kinds of
host that can restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from provision.connections import RESTARTED_FROM_OUTSIDE
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


@runtime_checkable
class RestartsFromOutside(Protocol):
    """A connection that restarts the host it reaches from outside it and waits until it is up
    (the kinds in provision.connections.RESTARTED_FROM_OUTSIDE)."""

    def restart_host(self, say: Say) -> bool:
        """Restart the host, saying what happens; False when it did not come back as it should."""
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
                  echo: Say, *, inside: bool) -> bool:
    """Restart each host that needs it: from outside when its connection can; with ``inside``
    (``--restart``) the others too, from inside, the local one last (its restart may end this
    session); for the rest, what to run instead. False when a restart from outside failed."""
    by_name = {t.name: t for t in targets}
    order = sorted(results, key=lambda r: r.host in by_name and by_name[r.host].kind == "local")
    ok = True
    for r in order:
        target = by_name.get(r.host)
        need = r.restart_required

        def say(message: str, host: str = r.host) -> None:
            echo(f"{host}: {message}")

        if target is not None and target.kind in RESTARTED_FROM_OUTSIDE:
            if need is not None:
                ok = _from_outside(r.failed, need, target, connect, say) and ok
            continue
        if not inside:
            continue
        if need is None:
            say("--restart: no restart required")
            continue
        why = problem(need, r.failed)
        if why or need.by is None or target is None:
            say(f"--restart cannot restart it from here: {why or 'unknown target'}. {need.where}:")
        else:
            try:
                with connect(target) as conn:
                    if need.by.restart(conn, say):
                        continue
            except ProvisionError as exc:
                say(f"could not connect to restart it ({exc}). {need.where}:")
            else:
                say(f"{need.where}:")
        for command in need.commands:
            echo(f"    {command}")
    return ok


def _from_outside(failed: bool, need: Requirement, target: N, connect: Callable[[N], Connection],
                  say: Say) -> bool:
    if failed:
        say(f"not restarted: the run failed on this host (fix that first). {need.where}:")
        for command in need.commands:
            say(f"    {command}")
        return True  # the failure is already the host's result
    try:
        with connect(target) as conn:
            if not isinstance(conn, RestartsFromOutside):
                raise ProvisionError(f"{target.name}: its connection cannot restart it")
            return conn.restart_host(say)
    except ProvisionError as exc:
        say(f"the restart failed: {exc}")
        return False
