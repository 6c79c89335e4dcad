"""The one small interface every target is reached through: run a command, write a file, close."""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provision.errors import ConnectError, ResourceError

Stream = Callable[[str], None]


@dataclass
class CommandResult:
    command: str  # for messages (never carries a secret: secrets travel on stdin)
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def tail(self, lines: int = 8) -> str:
        """The last lines of stderr (else stdout), for one-line error messages."""
        text = (self.err.strip() or self.out.strip()).splitlines()
        return " | ".join(line.strip() for line in text[-lines:] if line.strip())


# Atomic write on the target: temp file in the same directory, owner and mode set before the rename,
# fsync, rename over the old file, fsync the directory. A backup copy is kept first when asked; a
# temp file a killed run left behind is removed (writes happen under the target's lock).
# The file is not replaced if it changed since it was read (sha256 given, or "-" for "did not exist").
# Arguments: path mode owner:group backup-path-or-empty expected-sha256-or-empty; content on stdin.
WRITE_SCRIPT = r"""
set -e
p=$1; mode=$2; owner=$3; backup=$4; expect=$5
if [ -L "$p" ]; then p=$(readlink -f "$p"); fi
if [ "$expect" = "-" ] && [ -e "$p" ]; then echo "$p appeared since it was read: not overwritten" >&2; exit 3; fi
if [ -n "$expect" ] && [ "$expect" != "-" ]; then
  now=$(sha256sum < "$p" 2>/dev/null | cut -d' ' -f1)
  [ "$now" = "$expect" ] || { echo "$p changed since it was read: not overwritten" >&2; exit 3; }
fi
d=$(dirname "$p"); b=$(basename "$p")
[ -d "$d" ] || mkdir -p -m 755 "$d"
if [ -n "$backup" ] && [ -e "$p" ]; then mkdir -p -m 700 "$(dirname "$backup")"; cp -p "$p" "$backup"; fi
for old in "$d/.$b.provision-"??????; do [ -f "$old" ] && rm -f "$old"; done  # left by a killed run
tmp=$(mktemp "$d/.$b.provision-XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chown "$owner" "$tmp"
chmod "$mode" "$tmp"
sync "$tmp" 2>/dev/null || sync
mv -f "$tmp" "$p"
trap - EXIT
sync "$d" 2>/dev/null || true
"""

REMOVE_SCRIPT = r"""
set -e
p=$1; backup=$2
[ -e "$p" ] || [ -L "$p" ] || exit 0
if [ -n "$backup" ]; then mkdir -p -m 700 "$(dirname "$backup")"; cp -pP "$p" "$backup"; fi
rm -f "$p"
sync "$(dirname "$p")" 2>/dev/null || true
"""


class Process(ABC):
    """A command that keeps running while the caller talks to it (stdin, stdout): what holds a
    target's lock and takes its run journal for the length of a run."""

    @abstractmethod
    def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Its output up to and including ``marker``; raises ConnectError when it ends first or
        ``timeout`` passes."""

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Write to its stdin (raises ConnectError when it is gone)."""

    @abstractmethod
    def finish(self, timeout: float) -> int:
        """Close its stdin and wait for it to exit; its exit status (-1 when it did not exit)."""

    @abstractmethod
    def stderr(self) -> str:
        """What it wrote on stderr so far."""


class Connection(ABC):
    """A host. Subclasses implement ``_exec`` and ``_start``; everything else is built on them."""

    kind: str = "?"

    def __init__(self, label: str) -> None:
        self.label = label

    @abstractmethod
    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        """Run argv on the host with root privileges; stdin is ``input`` or empty (never a terminal)."""

    def _start(self, argv: Sequence[str]) -> Process:
        """Start argv on the host with root privileges, its stdin and stdout kept open."""
        raise ConnectError(f"{self.label}: this kind of connection cannot keep a command running")

    def run(self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None,
            stream: Stream | None = None) -> CommandResult:
        return self._exec(list(argv), input=input, timeout=timeout, stream=stream)

    def start(self, argv: Sequence[str]) -> Process:
        return self._start(list(argv))

    def check(self, argv: Sequence[str], *, what: str, input: bytes | None = None,
              timeout: float | None = None, stream: Stream | None = None) -> CommandResult:
        """Run and raise ResourceError with the command's last output lines when it fails."""
        result = self.run(argv, input=input, timeout=timeout, stream=stream)
        if not result.ok:
            raise ResourceError(f"{what} failed (exit {result.rc}): {result.tail() or 'no output'}")
        return result

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "0:0",
                   backup: str | None = None, expect: str | None = None) -> None:
        """Atomically replace ``path`` (owner as "user:group", names or ids), keeping a backup copy.

        ``expect``: sha256 hex of the content the caller planned against ("-" = file absent); the
        write is refused if the file is different now.
        """
        self.check(["sh", "-c", WRITE_SCRIPT, "sh", path, f"{mode:o}", owner, backup or "", expect or ""],
                   what=f"writing {path}", input=data)

    def remove_file(self, path: str, *, backup: str | None = None) -> None:
        self.check(["sh", "-c", REMOVE_SCRIPT, "sh", path, backup or ""], what=f"removing {path}")

    def close(self) -> None:  # noqa: B027 - most connections have nothing to close
        pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def display(argv: Sequence[str]) -> str:
    """A readable one-line form of a command (long inline scripts are abbreviated)."""
    parts = []
    for a in argv:
        if "\n" in a:
            a = a.strip().splitlines()[0][:40] + " …"
        parts.append(a)
    return shlex.join(parts)
