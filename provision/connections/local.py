"""This machine, through subprocess (with sudo when not root)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence

from provision.connections.base import CommandResult, Connection, Stream, display
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
    if stream is None:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, err = proc.communicate()
            return CommandResult(shown, 124, out, err + f"\ntimed out after {timeout:.0f}s".encode())
        return CommandResult(shown, proc.returncode, out, err)

    assert proc.stdout is not None and proc.stderr is not None  # both are pipes (above)
    stderr = proc.stderr
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(stderr.read()), daemon=True)
    reader.start()
    if input is not None and proc.stdin is not None:
        proc.stdin.write(input)
        proc.stdin.close()
    timer = threading.Timer(timeout, _kill, (proc,)) if timeout else None
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


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass


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
