"""This machine, through subprocess (with sudo when not root)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from provision.connections.base import CommandResult, Connection, Process, Stream, display
from provision.errors import ConnectError


def run_process(argv: Sequence[str], *, input: bytes | None, timeout: float | None,
                stream: Stream | None, env: dict[str, str] | None = None) -> CommandResult:
    """subprocess with stdin from ``input`` (or /dev/null), optional line streaming of stdout."""
    shown = display(argv)
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:
        return CommandResult(shown, 127, b"", f"{argv[0]}: {exc.strerror}".encode())
    track(proc, True)
    try:
        return communicate(proc, shown, input=input, timeout=timeout, stream=stream)
    finally:
        track(proc, False)


def communicate(proc: subprocess.Popen[bytes], shown: str, *, input: bytes | None, timeout: float | None,
                stream: Stream | None, early_err: bytes = b"") -> CommandResult:
    """Feed ``input`` (then EOF), collect stdout and stderr (``early_err``: stderr already read),
    streaming lines when asked; a command past ``timeout`` is killed (exit 124)."""
    if stream is None:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            out, err = proc.communicate()
            return CommandResult(shown, 124, out, early_err + err + f"\ntimed out after {timeout:.0f}s".encode())
        return CommandResult(shown, proc.returncode, out, early_err + err)

    assert proc.stdout is not None and proc.stderr is not None  # both are pipes (above)
    stderr = proc.stderr
    err_chunks: list[bytes] = [early_err]

    def read_stderr() -> None:  # stderr is streamed too: apt says there why it waits
        for raw in stderr:
            err_chunks.append(raw)
            stream(raw.decode("utf-8", "replace").rstrip("\n"))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    if proc.stdin is not None:
        try:
            if input is not None:
                proc.stdin.write(input)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    timer = threading.Timer(timeout, kill, (proc,)) if timeout else None
    if timer:
        timer.start()
    out_lines = []
    for raw in proc.stdout:
        out_lines.append(raw)
        stream(raw.decode("utf-8", "replace").rstrip("\n"))
    proc.wait()
    reader.join()
    if timer:
        timer.cancel()
    return CommandResult(shown, proc.returncode, b"".join(out_lines), b"".join(err_chunks))


def kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, 9)
        else:  # Windows (a wsl: target's controller): no process groups
            proc.kill()
    except ProcessLookupError:
        pass


# Commands started here that are still running: each in a session (process group) of its own, so
# a Ctrl-C at the terminal does not reach apt; stopped on purpose only by stop_children().
_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()


def track(proc: subprocess.Popen[bytes], on: bool) -> None:
    with _RUNNING_LOCK:
        (_RUNNING.add if on else _RUNNING.discard)(proc)


def stop_children(sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` to every command still running from here (their whole process groups)."""
    with _RUNNING_LOCK:
        procs = [p for p in _RUNNING if p.poll() is None]
    for proc in procs:
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, sig)
            else:  # Windows: no process groups (TERM is TerminateProcess)
                proc.send_signal(sig)
        except ProcessLookupError:
            pass
    return len(procs)


class PopenProcess(Process):
    """A long-running local process: a command on this machine or in a chroot, or an ssh client
    talking to a command on a host."""

    def __init__(self, proc: subprocess.Popen[bytes],
                 before: Callable[[subprocess.Popen[bytes]], bytes] | None = None) -> None:
        """``proc`` has its three standard streams as pipes. ``before``: a step run on it before
        it is used (e.g. sudo's password handshake); it returns the stderr it read."""
        self.proc = proc
        track(proc, True)
        self._buf = b""
        self._err: list[bytes] = []
        if before is not None:
            try:
                self._err.append(before(proc))
            except BaseException:
                kill(proc)
                proc.wait()
                track(proc, False)
                raise
        stderr = self.proc.stderr
        assert stderr is not None
        self._err_reader = threading.Thread(target=lambda: self._err.append(stderr.read()), daemon=True)
        self._err_reader.start()

    @classmethod
    def spawn(cls, argv: Sequence[str],
              before: Callable[[subprocess.Popen[bytes]], bytes] | None = None) -> PopenProcess:
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise ConnectError(f"cannot start {argv[0]}: {exc.strerror}") from None
        return cls(proc, before)

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while marker not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectError(f"no answer within {timeout:.0f}s")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    rc = self.proc.wait()
                    self._err_reader.join(timeout=5)  # its stderr may still be on the way
                    raise ConnectError(f"the command ended (exit {rc}): "
                                       f"{self.stderr().strip()[-300:] or 'no output'}")
                self._buf += chunk
        cut = self._buf.index(marker) + len(marker)
        out, self._buf = self._buf[:cut], self._buf[cut:]
        return out

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ConnectError("the command ended before its input was sent") from None

    def finish(self, timeout: float) -> int:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(self.proc)
            rc = -1
        self._err_reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not self._err_reader.is_alive():
                pipe.close()
        track(self.proc, False)
        return rc

    def stderr(self) -> str:
        return b"".join(self._err).decode("utf-8", "replace")


class LocalConnection(Connection):
    kind = "local"

    def __init__(self) -> None:
        super().__init__("local")
        self._prefix: list[str] = []
        if os.geteuid() != 0:
            probe = run_process(["sudo", "-n", "true"], input=None, timeout=30, stream=None)
            if not probe.ok:
                raise ConnectError("local: provision needs root here; run it as root or with sudo")
            self._prefix = ["sudo", "-n", "--"]

    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        return run_process(self._prefix + list(argv), input=input, timeout=timeout, stream=stream)

    def _start(self, argv: Sequence[str]) -> Process:
        return PopenProcess.spawn(self._prefix + list(argv))
