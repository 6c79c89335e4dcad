"""A few long-running shells on a host that run verify's commands: one SSH session each for the
whole verification instead of one per command (a session costs the host a login: tens of
milliseconds of CPU, and a round trip).

Protocol (POSIX sh on the host; the token is random per shell, so no output can fake a marker):
the controller sends one line per command, the command base64-encoded; the shell runs it with
stdin from /dev/null and answers with its stdout, ``\\n@@<token>:err\\n``, its stderr, then
``\\n@@<token>:rc <exit status>\\n``.
"""

from __future__ import annotations

import base64
import os
import threading

from provision.connections.base import CommandResult, Connection, Process
from provision.errors import ConnectError

# base64 -d, the command and a cat per command: a few milliseconds on the host
_LOOP = r"""
t=$1; e=$(mktemp) || exit 70
trap 'rm -f "$e"' EXIT
while IFS= read -r l; do
  c=$(printf '%s' "$l" | base64 -d) || c="exit 125"
  sh -c "$c" </dev/null 2>"$e"; rc=$?
  printf '\n@@%s:err\n' "$t"; cat "$e"; printf '\n@@%s:rc %s\n' "$t" "$rc"
done
"""


class Shell:
    def __init__(self, conn: Connection) -> None:
        self.token = os.urandom(8).hex()
        self.process: Process = conn.start(["sh", "-c", _LOOP, "sh", self.token])
        self.broken = False

    def run(self, command: str, timeout: float) -> CommandResult:
        if self.broken:
            raise ConnectError("the verification shell is gone")
        try:
            self.process.send(base64.b64encode(command.encode()) + b"\n")
            out = self.process.read_until(f"\n@@{self.token}:err\n".encode(), timeout)
            err = self.process.read_until(f"\n@@{self.token}:rc ".encode(), timeout)
            rc = self.process.read_until(b"\n", timeout)
        except ConnectError:
            self.broken = True
            raise
        cut = len(f"\n@@{self.token}:err\n")
        return CommandResult(command, int(rc.strip() or b"1"), out[:-cut],
                             err[: -len(f"\n@@{self.token}:rc ")])

    def close(self) -> None:
        self.process.finish(10)


class Shells:
    """A shell per thread on one host (verify runs a host's checks in a few threads), started on
    first use and replaced when it breaks. Identical commands are answered once (verify only
    reads the host), so checks that share a probe pay for it once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._mine = threading.local()
        self._all: list[Shell] = []
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[threading.Event, list[CommandResult]]] = {}

    def run(self, command: str, timeout: float) -> CommandResult:
        with self._lock:
            entry = self._memo.get(command)
            first = entry is None
            if entry is None:
                entry = self._memo[command] = (threading.Event(), [])
        done, result = entry
        if not first:
            done.wait()
            return result[0] if result else self._run(command, timeout)  # the first one could not run it
        try:
            result.append(self._run(command, timeout))
        finally:
            done.set()
        return result[0]

    def _run(self, command: str, timeout: float) -> CommandResult:
        shell: Shell | None = getattr(self._mine, "shell", None)
        if shell is None or shell.broken:
            shell = self._mine.shell = Shell(self.conn)
            with self._lock:
                self._all.append(shell)
        return shell.run(command, timeout)

    def close(self) -> None:
        with self._lock:
            shells, self._all = self._all, []
        # all at once: one of them may be the SSH master's own session, which ends only after the others
        closers = [threading.Thread(target=_close, args=(shell,)) for shell in shells]
        for t in closers:
            t.start()
        for t in closers:
            t.join()


def _close(shell: Shell) -> None:
    try:
        shell.close()
    except ConnectError:
        pass
