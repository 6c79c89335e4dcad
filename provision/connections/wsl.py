"""A WSL distro reached from outside it, through ``wsl.exe`` (``-H wsl:DISTRO``).

Every command runs as ``wsl.exe -d DISTRO -u root --exec sh -c 'cd /; PATH=…; exec "$@"' sh ARGV…``:
root without a password (WSL lets the Windows user who owns the distro be any user in it), in
``/`` rather than the Windows directory wsl.exe was started from (``/mnt/c/…``), with the Linux
system directories only on PATH (not the Windows ones WSL appends), without the distro's login
shell in between (``--exec``), so every argument arrives as one argument.

The controller is whatever can run ``wsl.exe``: Windows itself, or another WSL distro through
interop. So this module assumes no POSIX at import time (no fcntl, pwd, termios; no signals or
process groups it has not checked for), and reads wsl.exe's own output as wsl.exe writes it:
UTF-16LE (with or without a byte-order mark, CRLF line ends) unless ``WSL_UTF8=1`` made it UTF-8.

Before the first command the distro's name is checked against ``wsl.exe -l -v``: a name that is
not installed is a one-line error listing the installed ones. The distro is also what ``apply``
restarts when WSL must read a new /etc/wsl.conf (``terminate``, ``start``; see provision/wsl.py).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provision.connections.base import CommandResult, Connection, Process, Stream
from provision.connections.local import PopenProcess, run_process
from provision.errors import ConnectError, ProvisionError, UsageError
from provision.sanitise import shown
from provision.targets import distro_problem

ENV_EXE = "PROVISION_WSL_EXE"  # the wsl.exe to use, when not the one on PATH
LIST_TIMEOUT = 60.0
WSL_FAILED = (0xFFFFFFFF, -1, 255)  # wsl.exe's own failure (E_FAIL-like), as Windows / interop see it
# Run by sh in the distro: leave the Windows directory wsl.exe started in, drop the Windows
# directories WSL appends to PATH (appendWindowsPath: /mnt/c/Users/<you>/…, which the distro's
# uid 1000 can write, so root would run what it put there under a name the distro lacks, e.g.
# wsl.exe), then the command itself.
LINUX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ENTER = f'cd / || exit 125; PATH={LINUX_PATH}; export PATH; exec "$@"'


def decode_output(data: bytes) -> str:
    """wsl.exe's output as text: UTF-16LE (BOM or not) unless it is UTF-8 (``WSL_UTF8=1``, or a
    wsl.exe that writes UTF-8); CRLF and CR become LF. Undecodable bytes are kept as escapes."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", "surrogateescape")
    elif data.startswith(b"\xff\xfe"):
        text = data[2:].decode("utf-16-le", "replace")
    elif _looks_utf16le(data):
        text = data.decode("utf-16-le", "replace")
    else:
        text = data.decode("utf-8", "surrogateescape")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_utf16le(data: bytes) -> bool:
    """ASCII-heavy UTF-16LE: a NUL in most odd positions (wsl.exe's tables and messages)."""
    odd = data[1::2]
    if len(data) < 2 or not odd:
        return False
    return odd.count(0) * 2 >= len(odd) and data[0::2].count(0) * 4 < len(data[0::2]) + 1


@dataclass(frozen=True)
class Distro:
    name: str
    state: str  # as wsl.exe says it (Running, Stopped, Installing, …; localised on some Windows)
    version: int | None  # 1 or 2; None when the column is missing
    default: bool = False


def parse_list(text: str) -> list[Distro]:
    """``wsl.exe -l -v`` (decoded) → its distros. The header line is skipped whatever its language;
    a line whose name is not a valid distro name is skipped (never shown as one)."""
    out = []
    lines = [ln for ln in text.split("\n") if ln.strip()]
    for ln in lines[1:]:
        default = ln.lstrip().startswith("*")
        words = ln.replace("*", " ", 1).split() if default else ln.split()
        if not words or distro_problem(words[0]):
            continue
        version = int(words[-1]) if len(words) >= 3 and words[-1] in ("1", "2") else None
        state = " ".join(words[1:-1] if version else words[1:])
        out.append(Distro(words[0], state, version, default))
    return out


def find_exe(given: str | None = None) -> str:
    """The wsl.exe to run: ``given``, else $PROVISION_WSL_EXE, else on Windows the one in
    %SystemRoot%\\System32 (not a wsl.exe that happens to lie in the current directory or early
    on PATH), else ``wsl.exe`` on PATH, else the interop path from inside a WSL distro; raises
    ConnectError."""
    wanted = given or os.environ.get(ENV_EXE, "")
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            raise ConnectError(f"wsl: {shown(wanted, lines=False)} is not an executable")
        return found
    if sys.platform == "win32":
        system = os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32", "wsl.exe")
        if os.path.isfile(system):
            return system
    found = shutil.which("wsl.exe")
    if found:
        return found
    interop = "/mnt/c/Windows/System32/wsl.exe"
    if sys.platform != "win32" and os.access(interop, os.X_OK):
        return interop
    raise ConnectError("wsl: no wsl.exe on PATH: a wsl: target needs Windows, or a WSL distro with "
                       f"interop (or set {ENV_EXE} to its path)")


def _quiet_run(argv: Sequence[str], timeout: float) -> CommandResult:
    """wsl.exe itself (not a command in a distro): WSL_UTF8 asked for, stdin closed."""
    env = dict(os.environ)
    env["WSL_UTF8"] = "1"
    return run_process(argv, input=None, timeout=timeout, stream=None, env=env)


def list_distros(exe: str) -> list[Distro]:
    """The installed distros (``wsl.exe -l -v``); raises ConnectError when wsl.exe cannot say."""
    r = _quiet_run([exe, "-l", "-v"], LIST_TIMEOUT)
    text = decode_output(r.stdout)
    if r.rc != 0:
        said = decode_output(r.stderr).strip() or text.strip()
        if "no installed distributions" in said.lower():
            return []
        raise ConnectError(f"wsl: {exe} -l -v failed (exit {r.rc}): "
                           f"{shown(' | '.join(said.splitlines()[-3:]), lines=False) or 'no output'}")
    return parse_list(text)


def unknown_distro_message(name: str, distros: Sequence[Distro]) -> str:
    names = ", ".join(d.name + (f" (WSL{d.version})" if d.version else "") for d in distros[:20])
    more = f" and {len(distros) - 20} more" if len(distros) > 20 else ""
    return (f"wsl:{name}: no such WSL distro; installed: {names}{more}" if distros else
            f"wsl:{name}: no such WSL distro; none is installed (wsl --install, or wsl --import)")


class _ThreadedProcess(PopenProcess):
    """A long-running command through wsl.exe. Its stdout is read by a thread, not select(2), which
    on Windows works on sockets only."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(proc)
        self._chunks: queue.Queue[bytes] = queue.Queue()
        assert proc.stdout is not None
        fd = proc.stdout.fileno()

        def pump() -> None:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                self._chunks.put(chunk)
                if not chunk:
                    return

        threading.Thread(target=pump, daemon=True).start()

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectError(f"no answer within {timeout:.0f}s")
            try:
                chunk = self._chunks.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if not chunk:
                self._chunks.put(b"")  # stays at the end for a later call
                rc = self.proc.wait()
                self._err_reader.join(timeout=5)
                raise ConnectError(f"the command ended (exit {rc}): {self.stderr().strip()[-300:] or 'no output'}")
            self._buf += chunk
        cut = self._buf.index(marker) + len(marker)
        out, self._buf = self._buf[:cut], self._buf[cut:]
        return out


class WslConnection(Connection):
    kind = "wsl"

    def __init__(self, distro: str, exe: str | None = None) -> None:
        super().__init__(f"wsl:{distro}")
        problem = distro_problem(distro)
        if problem:
            raise UsageError(f"target wsl:{shown(distro, lines=False)}: the name {problem}")
        self.distro = distro
        self.exe = find_exe(exe)
        installed = list_distros(self.exe)
        match = [d for d in installed if d.name.lower() == distro.lower()]  # WSL's names ignore case
        if not match:
            raise ConnectError(unknown_distro_message(distro, installed))
        self.info = match[0]  # WSL1 is reached too: wsl_conf says what it cannot do there

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return [self.exe, "-d", self.distro, "-u", "root", "--exec", "sh", "-c", _ENTER, "sh", *argv]

    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        result = run_process(self._argv(argv), input=input, timeout=timeout, stream=stream)
        result.command = " ".join(argv)[:200]
        if result.rc in WSL_FAILED and not result.stdout and _looks_utf16le(result.stderr):
            # wsl.exe itself failed (the distro went away, WSL is not running…): its message is UTF-16
            said = decode_output(result.stderr).strip()
            result.stderr = f"wsl.exe: {said}".encode("utf-8", "surrogateescape")
        return result

    def _start(self, argv: Sequence[str]) -> Process:
        try:
            proc = subprocess.Popen(self._argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=sys.platform != "win32")
        except OSError as exc:
            raise ConnectError(f"cannot start {self.exe}: {exc.strerror}") from None
        return _ThreadedProcess(proc)

    # -- the distro's life cycle (restart_host, cycle) -------------------------------------------
    def restart_host(self, say: Callable[[str], None]) -> bool:
        """Restart the distro from outside so that WSL reads /etc/wsl.conf again (``apply``'s
        last step for a ``wsl:`` target: a provision.restarts.RestartsFromOutside); False when it
        did not come back with systemd up."""
        say(f"restarting the distro so that WSL reads /etc/wsl.conf: {self.exe} --terminate {self.distro} "
            f"(every program running in {self.distro} stops; --no-restart leaves it running), then start it")
        try:
            done = cycle(self)
        except ProvisionError as exc:
            say(f"the restart failed: {exc}")
            return False
        say(done.summary())
        return done.ok

    def terminate(self, timeout: float = 120.0) -> CommandResult:
        """``wsl.exe --terminate DISTRO``: every process in the distro is stopped."""
        return self._wsl(["--terminate", self.distro], timeout)

    def boot(self, timeout: float = 120.0) -> CommandResult:
        """Start the distro (WSL boots it for any command): ``wsl.exe -d DISTRO --exec true``."""
        return self._wsl(["-d", self.distro, "--exec", "true"], timeout)

    def state(self) -> str:
        """The distro's state as ``wsl.exe -l -v`` says it now ("" when it is not listed)."""
        for d in list_distros(self.exe):
            if d.name.lower() == self.distro.lower():
                return d.state
        return ""

    def _wsl(self, args: list[str], timeout: float) -> CommandResult:
        r = _quiet_run([self.exe, *args], timeout)
        r.stdout = decode_output(r.stdout).encode("utf-8", "surrogateescape")
        r.stderr = decode_output(r.stderr).encode("utf-8", "surrogateescape")
        return r


SYSTEMD_WAIT = 90  # seconds `systemctl is-system-running --wait` may take after a restart


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


__all__ = ["Cycle", "Distro", "WslConnection", "cycle", "decode_output", "distro_problem", "find_exe", "list_distros",
           "parse_list", "unknown_distro_message"]
