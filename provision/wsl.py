"""WSL decisions shared by resource types, `provision doctor` and `apply --restart-wsl`.

Pure functions of facts: which commands a user runs from Windows, and why; and the restart at
the end of ``apply``: through interop from inside a distro (``--restart-wsl``), or from outside it
for a ``wsl:`` target (terminate, start, wait for systemd, check PID 1: ``cycle``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from provision.connections.base import Connection
from provision.connections.wsl import WslConnection
from provision.errors import ProvisionError
from provision.facts import HostFacts, version_tuple
from provision.plan import Restart, WslDistro

MIN_SYSTEMD_WSL = "0.67.6"  # the first WSL (Store) release with [boot] systemd
SYSTEMD_WAIT = 90  # seconds `systemctl is-system-running --wait` may take after a restart
PLACEHOLDER = "<distro>"


def distro_name(facts: HostFacts) -> str:
    return facts.wsl.distro or PLACEHOLDER


def _find_distro(facts: HostFacts) -> list[str]:
    return [] if facts.wsl.distro else ["wsl.exe -l -v    # the NAME column is <distro>"]


def restart_commands(facts: HostFacts) -> list[str]:
    name = distro_name(facts)
    return _find_distro(facts) + [f"wsl.exe --terminate {name}", f"wsl.exe -d {name}"]


def restart_info(facts: HostFacts, reason: str) -> Restart:
    """The restart requirement put on a plan (and printed / in --json as restart_required)."""
    if facts.wsl.assumed:  # an image (--assume): nothing to restart, it boots this way once imported
        return Restart(
            reason=reason + " (this root is an image: it starts that way once imported)",
            where="From Windows (PowerShell), pack the root as a tarball and import it",
            commands=("wsl --import <Name> <InstallFolder> <rootfs.tar>", "wsl -d <Name>"),
            notes=("pack it from Linux with: tar -C <root> --numeric-owner -cf rootfs.tar .",
                   "then check inside: cat /proc/1/comm (systemd), or `provision doctor`"),
            wsl=WslDistro(facts.wsl.version, facts.wsl.distro, facts.wsl.wsl_exe))
    return Restart(
        reason=reason,
        where="From Windows (PowerShell), stop the distro and start it again",
        commands=tuple(restart_commands(facts)),
        notes=("(or run `provision apply --restart-wsl` here: it stops the distro through interop, "
               "which ends this session)",
               "then check: cat /proc/1/comm (systemd), systemctl is-system-running (running or "
               "degraded), or `provision doctor`"),
        wsl=WslDistro(facts.wsl.version, facts.wsl.distro, facts.wsl.wsl_exe))


def convert_command(facts: HostFacts) -> str:
    return f"wsl --set-version {distro_name(facts)} 2"


def wsl1_message(facts: HostFacts) -> str:
    where = f" (distro {facts.wsl.distro})" if facts.wsl.distro else ""
    return (f"this distro runs under WSL1{where}, which cannot run systemd (WSL1 ignores [boot] "
            f"systemd): convert it to WSL2 from PowerShell: {convert_command(facts)}"
            + ("  (find <distro> with: wsl -l -v)" if not facts.wsl.distro else "")
            + ", then run provision again")


def too_old(facts: HostFacts, minimum: str = MIN_SYSTEMD_WSL) -> bool:
    v = facts.wsl.wsl_version
    return bool(v) and version_tuple(v) < version_tuple(minimum)


def update_message(facts: HostFacts, minimum: str = MIN_SYSTEMD_WSL) -> str:
    return (f"WSL {facts.wsl.wsl_version} is older than {minimum}, the first version that runs systemd: "
            "update WSL from PowerShell with `wsl --update` (on Windows 10 this needs the November "
            "2022 update KB5020030 or later), then run provision again")


def unknown_version_note(facts: HostFacts, minimum: str = MIN_SYSTEMD_WSL) -> str:
    return (f"could not read the WSL version from inside (no wslinfo, and wsl.exe is not reachable "
            f"through interop): systemd needs WSL {minimum} or newer; check with `wsl --version` in "
            "PowerShell (an 'Invalid command line option' answer means the old inbox WSL: run "
            "`wsl --update`)")


def not_wsl_reason(facts: HostFacts) -> str:
    kernel = facts.kernel or "unknown"
    return (f"not WSL (kernel {kernel}, no WSL interop signal): /etc/wsl.conf is read only by WSL, so "
            "nothing to do here")


def isolated_reason(facts: HostFacts) -> str:
    what = f"a {facts.wsl.container} container" if facts.wsl.container else "a chroot"
    return (f"inside {what} on WSL: WSL reads the /etc/wsl.conf of the distro itself, not of this "
            "root, and does not start systemd in it; run provision in the distro")


# --------------------------------------------------------------------------- apply --restart-wsl

class HostOutcome(Protocol):
    """What --restart-wsl needs of a host's result."""

    host: str
    failed: bool
    restart_required: Restart | None


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


N = TypeVar("N", bound=Named)


def restart_problem(restart: Restart, failed: bool) -> str:
    """Why ``--restart-wsl`` cannot restart this host itself ("" when it can)."""
    if failed:
        return "the run failed on this host: fix that first"
    if restart.wsl is None or restart.wsl.version != 2:
        return "this is not a WSL2 distro"
    if not restart.wsl.distro:
        return "the distro's name is unknown (no $WSL_DISTRO_NAME or wslpath)"
    if not restart.wsl.wsl_exe:
        return ("wsl.exe is not reachable through interop (interop disabled, Windows not on PATH, or "
                "the WSLInterop binfmt entry missing)")
    return ""


def restart_hosts(results: Sequence[HostOutcome], targets: Sequence[N],
                  connect: Callable[[N], Connection], echo: Callable[[str], None], *,
                  inside: bool = True) -> bool:
    """Restart each WSL2 distro that needs it: a ``wsl:`` target from outside (``cycle``: stopped,
    started, systemd waited for and checked); with ``inside``, the others through interop (stopped
    only: the local one last, as it ends us). False when a restart from outside did not end
    with systemd as PID 1."""
    by_name = {t.name: t for t in targets}
    order = sorted(results, key=lambda r: by_name[r.host].kind == "local" if r.host in by_name else False)
    ok = True
    for r in order:
        target = by_name.get(r.host)
        outside = target is not None and target.kind == "wsl"
        if not outside and not inside:
            continue
        restart = r.restart_required
        if restart is None:
            if inside:
                echo(f"{r.host}: --restart-wsl: no restart required")
            continue
        if outside and target is not None:
            ok = _restart_outside(r, target, connect, echo) and ok
            continue
        why = restart_problem(restart, r.failed)
        if why or restart.wsl is None:
            echo(f"{r.host}: --restart-wsl cannot restart it from here: {why}. {restart.where}:")
            for c in restart.commands:
                echo(f"    {c}")
            continue
        distro, exe = restart.wsl.distro, restart.wsl.wsl_exe
        echo(f"{r.host}: restarting WSL distro {distro}: running {exe} --terminate {distro}. "
             f"This session ends now (every shell and program in {distro} is stopped). Start it again "
             f"from Windows with: wsl.exe -d {distro} (or open its terminal); then check with "
             "`provision doctor`.")
        try:
            if target is None:
                raise ProvisionError("unknown target")
            with connect(target) as conn:
                res = conn.run([exe, "--terminate", distro], timeout=120)
        except ProvisionError as exc:
            echo(f"{r.host}: the connection ended ({exc}): expected when the distro stops; start it again "
                 f"with: wsl.exe -d {distro}")
            continue
        if res.rc != 0:
            echo(f"{r.host}: {exe} --terminate {distro} failed (exit {res.rc}): {res.tail() or 'no output'}. "
                 f"{restart.where}:")
            for c in restart.commands:
                echo(f"    {c}")
        else:
            echo(f"{r.host}: {distro} stopped. Start it again with: wsl.exe -d {distro}")
    return ok


def _restart_outside(r: HostOutcome, target: N, connect: Callable[[N], Connection],
                     echo: Callable[[str], None]) -> bool:
    restart = r.restart_required
    assert restart is not None
    if r.failed:
        echo(f"{r.host}: not restarted: the run failed on this host (fix that first). {restart.where}:")
        for c in restart.commands:
            echo(f"    {c}")
        return True  # the failure is already the host's result
    if restart.wsl is not None and restart.wsl.version != 2:
        echo(f"{r.host}: not restarted: this is not a WSL2 distro")
        return True
    try:
        with connect(target) as conn:
            if not isinstance(conn, WslConnection):
                raise ProvisionError(f"{target.name} is not reached through wsl.exe")
            echo(f"{r.host}: restarting the distro so that WSL reads /etc/wsl.conf: {conn.exe} --terminate "
                 f"{conn.distro} (every program running in {conn.distro} stops; --no-restart-wsl leaves "
                 "it running), then start it")
            done = cycle(conn)
    except ProvisionError as exc:
        echo(f"{r.host}: the restart failed: {exc}")
        return False
    echo(f"{r.host}: {done.summary()}")
    return done.ok


@dataclass
class Cycle:
    """What a restart from outside found (``cycle``)."""

    distro: str
    pid1: str = ""  # /proc/1/comm after the restart
    state: str = ""  # `systemctl is-system-running --wait`'s answer
    seconds: float = 0.0
    problem: str = ""  # why the restart did not end with systemd up ("" when it did)

    @property
    def ok(self) -> bool:
        return not self.problem

    def summary(self) -> str:
        if self.problem:
            return f"restart of {self.distro}: {self.problem}"
        note = (" (degraded: systemd is up, but some units failed; `systemctl --failed` lists them)"
                if self.state == "degraded" else "")
        return (f"restarted {self.distro} in {self.seconds:.1f}s: PID 1 is systemd, systemctl "
                f"is-system-running: {self.state}{note}")


def cycle(conn: WslConnection, wait: int = SYSTEMD_WAIT) -> Cycle:
    """Terminate the distro, start it, wait (bounded) until systemd is past starting, read PID 1.
    Raises ProvisionError when wsl.exe fails; a distro that comes back without systemd is a
    ``Cycle`` with its ``problem``."""
    t0 = time.monotonic()
    out = Cycle(conn.distro)
    stopped = conn.terminate()
    if not stopped.ok:
        raise ProvisionError(f"{conn.exe} --terminate {conn.distro} failed (exit {stopped.rc}): "
                             f"{stopped.tail() or 'no output'}")
    started = conn.boot()
    if not started.ok:
        raise ProvisionError(f"{conn.exe} -d {conn.distro} --exec true failed (exit {started.rc}): "
                             f"{started.tail() or 'no output'}")
    waited = conn.run(["timeout", str(wait), "systemctl", "is-system-running", "--wait"], timeout=wait + 30)
    lines = waited.out.strip().splitlines()
    out.state = lines[-1].strip()[:40] if lines else ""
    pid1 = conn.run(["cat", "/proc/1/comm"], timeout=60)
    out.pid1 = pid1.out.strip()[:40]
    out.seconds = time.monotonic() - t0
    if out.pid1 != "systemd":
        out.problem = (f"after the restart PID 1 is {out.pid1 or 'unknown'!r}, not systemd: WSL did not boot "
                       "systemd (it needs WSL 0.67.6 or newer: `wsl --version`; `provision doctor -H "
                       f"wsl:{conn.distro}` says why)")
    elif waited.rc == 124 or out.state in ("initializing", "starting", ""):
        out.problem = (f"systemd is PID 1 but did not finish starting within {wait}s "
                       f"(systemctl is-system-running: {out.state or 'no answer'})")
    elif out.state not in ("running", "degraded"):
        out.problem = f"systemd is PID 1 but the system is {out.state!r} (systemctl is-system-running)"
    return out
