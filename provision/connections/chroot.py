"""A Debian root file system on this machine, entered with chroot.

Every command runs in a private mount namespace (``unshare --mount``) in which /proc, /sys and /dev
are mounted into the root, so apt and Java's post-install scripts work and nothing leaks into this
machine's mount table. If the root already has a /proc mounted (a root prepared by someone else),
that one is used as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from provision.connections.base import CommandResult, Connection, Process, Stream
from provision.connections.local import PopenProcess, run_process
from provision.errors import ConnectError

CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_ENTER = r"""
r=$1; shift
if [ ! -e "$r/proc/self" ]; then
  mount -t proc proc "$r/proc" || { echo "cannot mount /proc in $r" >&2; exit 125; }
  [ -d "$r/sys" ] && mount --rbind /sys "$r/sys" 2>/dev/null
  [ -d "$r/dev" ] && mount --rbind /dev "$r/dev" 2>/dev/null
fi
exec chroot "$r" /usr/bin/env -i PATH=CHROOT_PATH HOME=/root LANG=C.UTF-8 "$@"
""".replace("CHROOT_PATH", CHROOT_PATH)


class ChrootConnection(Connection):
    kind = "chroot"

    def __init__(self, root: str) -> None:
        path = Path(root)
        super().__init__(f"chroot:{root}")
        if os.geteuid() != 0:
            raise ConnectError(f"{self.label}: entering a chroot needs root")
        if not path.is_dir():
            raise ConnectError(f"{self.label}: no such directory")
        if not (path / "bin/sh").exists() and not (path / "usr/bin/sh").exists():
            raise ConnectError(f"{self.label}: not a root file system (no /bin/sh in it)")
        if not (path / "proc").is_dir():
            raise ConnectError(f"{self.label}: not a root file system (no /proc directory in it)")
        self.root = str(path.resolve())

    def _enter(self, argv: Sequence[str]) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _ENTER, "sh",
                self.root, *argv]

    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        result = run_process(self._enter(argv), input=input, timeout=timeout, stream=stream)
        result.command = " ".join(argv)[:200]
        return result

    def _start(self, argv: Sequence[str]) -> Process:
        return PopenProcess.spawn(self._enter(argv))
