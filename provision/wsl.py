"""WSL decisions shared by resource types, `provision doctor` and `apply --restart`.

Pure functions of facts: which commands a user runs from Windows, and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from provision.connections.base import Connection
from provision.errors import ProvisionError
from provision.facts import HostFacts, version_tuple
from provision.plan import Restart
from provision.restarts import Say

MIN_SYSTEMD_WSL = "0.67.6"  # the first WSL (Store) release with [boot] systemd
PLACEHOLDER = "<distro>"


def distro_name(facts: HostFacts) -> str:
    return facts.wsl.distro or PLACEHOLDER


def _find_distro(facts: HostFacts) -> list[str]:
    return [] if facts.wsl.distro else ["wsl.exe -l -v    # the NAME column is <distro>"]


def restart_commands(facts: HostFacts) -> list[str]:
    name = distro_name(facts)
    return _find_distro(facts) + [f"wsl.exe --terminate {name}", f"wsl.exe -d {name}"]


INSIDE_HINT = ("(or run `provision apply --restart` here: it stops the distro through interop, "
               "which ends this session)")


def restart_info(facts: HostFacts, reason: str) -> Restart:
    """The restart requirement put on a plan (and printed / in --json as restart_required)."""
    if facts.wsl.assumed:  # an image (--assume): nothing to restart, it boots this way once imported
        return Restart(
            reason=reason + " (this root is an image: it starts that way once imported)",
            where="From Windows (PowerShell), pack the root as a tarball and import it",
            commands=("wsl --import <Name> <InstallFolder> <rootfs.tar>", "wsl -d <Name>"),
            notes=("pack it from Linux with: tar -C <root> --numeric-owner -cf rootfs.tar .",
                   "then check inside: cat /proc/1/comm (systemd), or `provision doctor`"),
            by=_distro(facts))
    return Restart(
        reason=reason,
        where="From Windows (PowerShell), stop the distro and start it again",
        commands=tuple(restart_commands(facts)),
        hint=INSIDE_HINT,
        notes=("then check: cat /proc/1/comm (systemd), systemctl is-system-running (running or "
               "degraded), or `provision doctor`",),
        by=_distro(facts))


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


# --------------------------------------------------------------------------- apply --restart

@dataclass(frozen=True)
class WslDistro:
    """How ``apply --restart`` restarts a WSL distro itself: ``wsl.exe --terminate`` through interop
    (a provision.restarts.Restarter)."""

    version: int  # 1 or 2
    distro: str  # "" when unknown
    wsl_exe: str  # a wsl.exe that runs, "" when interop does not work
    assumed: bool = False  # an image (--assume wsl=N): nothing runs in it yet

    def problem(self) -> str:
        if self.assumed:
            return "this root is an image: nothing runs in it until it is imported"
        if self.version != 2:
            return "this is not a WSL2 distro"
        if not self.distro:
            return "the distro's name is unknown (no $WSL_DISTRO_NAME or wslpath)"
        if not self.wsl_exe:
            return ("wsl.exe is not reachable through interop (interop disabled, Windows not on PATH, or "
                    "the WSLInterop binfmt entry missing)")
        return ""

    def restart(self, conn: Connection, say: Say) -> bool:
        distro, exe = self.distro, self.wsl_exe
        say(f"restarting WSL distro {distro}: running {exe} --terminate {distro}. This session ends now "
            f"(every shell and program in {distro} is stopped). Start it again from Windows with: "
            f"wsl.exe -d {distro} (or open its terminal); then check with `provision doctor`.")
        try:
            res = conn.run([exe, "--terminate", distro], timeout=120)
        except ProvisionError as exc:
            say(f"the connection ended ({exc}): expected when the distro stops; start it again with: "
                f"wsl.exe -d {distro}")
            return True
        if res.rc != 0:
            say(f"{exe} --terminate {distro} failed (exit {res.rc}): {res.tail() or 'no output'}")
            return False
        say(f"{distro} stopped. Start it again with: wsl.exe -d {distro}")
        return True

    def as_dict(self) -> dict[str, object]:
        return {"distro": self.distro or None, "wsl": self.version, "wsl_exe": self.wsl_exe or None}


def _distro(facts: HostFacts) -> WslDistro:
    return WslDistro(facts.wsl.version, facts.wsl.distro, facts.wsl.wsl_exe, facts.wsl.assumed)
