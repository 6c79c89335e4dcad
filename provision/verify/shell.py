"""A few long-running shells on a host that run verify's commands: one SSH session each for the
whole verification instead of one per command (a session costs the host a login: tens of
milliseconds of CPU, and a round trip).

Protocol (POSIX sh on the host): the controller sends one line per command, the command
base64-encoded; the shell runs it with stdin from /dev/null, its stdout and stderr into files of
their own (new ones for each command, in a directory only root can enter), and answers with one
line: ``<exit status> <stdout as base64> <stderr as base64>``. Nothing a command prints, nor a
process it leaves behind (a user's login shell forking off), reaches the channel: the shell alone
writes to it, and only that line, so no output can pass for another command's answer or result.
Nothing secret is needed (none is in the command line, which every local user can read).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading

from provision.connections.base import CommandResult, Connection, Process
from provision.errors import ConnectError

# Per command a few milliseconds on the host: a one-line command comes as itself after a ':' (not
# in base64's alphabet), any other base64-encoded; an output that is empty is not encoded. A
# command's files are new (a process it leaves behind writes only to its own), removed 16 at a time.
_LOOP = r"""
d=$(mktemp -d) || exit 70
trap 'rm -rf "$d"' EXIT
n=0
while IFS= read -r l; do
  n=$((n + 1))
  case $l in
    :*) c=${l#:} ;;
    *) c=$(printf '%s' "$l" | base64 -d) || c="exit 125" ;;
  esac
  sh -c "$c" </dev/null >"$d/$n.out" 2>"$d/$n.err"; rc=$?
  printf '%s ' "$rc"; [ ! -s "$d/$n.out" ] || base64 -w0 "$d/$n.out"
  printf ' '; [ ! -s "$d/$n.err" ] || base64 -w0 "$d/$n.err"; printf '\n'
  [ $((n % 16)) != 0 ] || rm -f "$d"/*.out "$d"/*.err
done
"""
_ANSWER = re.compile(rb"(\d+) ([A-Za-z0-9+/=]*) ([A-Za-z0-9+/=]*)\n")


def _line(command: str) -> bytes:
    """The command as the shell reads it: one line, as itself when it is one, else base64."""
    if "\n" not in command and "\r" not in command:
        return b":" + command.encode() + b"\n"
    return base64.b64encode(command.encode()) + b"\n"


class Shell:
    def __init__(self, conn: Connection) -> None:
        self.process: Process = conn.start(["sh", "-c", _LOOP])
        self.broken = False

    def run(self, command: str, timeout: float) -> CommandResult:
        if self.broken:
            raise ConnectError("the verification shell is gone")
        try:
            self.process.send(_line(command))
            line = self.process.read_until(b"\n", timeout)
        except ConnectError:
            self.broken = True
            raise
        m = _ANSWER.fullmatch(line)
        try:
            if m is not None:
                return CommandResult(command, int(m[1]), base64.b64decode(m[2]), base64.b64decode(m[3]))
        except binascii.Error:
            pass
        self.broken = True
        raise ConnectError(f"the verification shell's answer is not framed as it frames them: {line[:80]!r}")

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
