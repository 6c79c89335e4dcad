"""A Debian root file system on this machine, entered with chroot.

Every command runs in a mount and a PID namespace of its own (``unshare --mount --pid --fork``),
where the root gets a fresh /proc of that PID namespace (mounted over whatever the root has
there), a private /dev (a tmpfs with null, zero, full, random, urandom, tty, its own devpts and
/dev/shm; none of this machine's device nodes) and a read-only /sys, so apt and Java's
post-install scripts work and nothing leaks into this machine's mount table. PID 1 of the
namespace is a shell outside the root: commands see their own processes only, /proc/1/root is not
theirs, and whatever a command leaves running is killed when it ends. The root and the mounts in
it are seen nosuid,nodev: no setuid program or device node that came with the root works. A root
whose proc, sys or dev is a symbolic link or not a directory is refused. (See docs/safety.md,
"Chroot targets": root in the root is still root on this machine.)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from provision.connections.base import CommandResult, Connection, Process, Stream
from provision.connections.local import PopenProcess, run_process
from provision.errors import ConnectError

CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MOUNTED = ("proc", "sys", "dev")  # what is mounted into the root: each must be a plain directory

# PID 1 of the new PID namespace, on this machine's root. The command runs as its child (not
# exec'd: "chroot ...; exit" is not the script's last command), so PID 1 stays outside the root,
# and when the command ends, PID 1 exits and the kernel kills what it left behind.
_ENTER = r"""
r=$1 e=$2; shift 2
fail() { echo "chroot $r: $*" >&2; exit 125; }
for d in proc sys dev; do
  if [ -L "$r/$d" ] || [ ! -d "$r/$d" ]; then fail "$r/$d is not a directory; refusing to mount over it"; fi
done
# The root and every mount in it, seen again with nosuid,nodev (ro kept): neither a setuid program
# nor a device node that came with the root works in here (our own /dev below is another mount).
mount --rbind "$r" "$r" || fail "cannot bind it"
# $e: the root as mountinfo spells it (\ooo escapes); grep first, as dash reads a byte at a time.
grep -F " $e" /proc/self/mountinfo | while read -r _ _ _ _ m o _; do
  case $m/ in "$e"/*) ;; *) continue;; esac
  case $m in *\\*) m=$(printf '%b' "$(printf '%s' "$m" | sed 's/\\/\\0/g')");; esac
  case ,$o, in *,ro,*) o=ro;; *) o=rw;; esac
  mount -o "remount,bind,nosuid,nodev,$o" "$m" || fail "cannot make $m nosuid,nodev"
done || exit 125
mount -t proc -o nosuid,nodev,noexec proc "$r/proc" || fail "cannot mount /proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys" || fail "cannot mount /sys"
mount -t tmpfs -o nosuid,noexec,mode=755,size=1m dev "$r/dev" || fail "cannot mount /dev"
(
  set -e; cd "$r/dev"
  mknod -m 666 null c 1 3; mknod -m 666 zero c 1 5; mknod -m 666 full c 1 7
  mknod -m 666 random c 1 8; mknod -m 666 urandom c 1 9; mknod -m 666 tty c 5 0
  mkdir pts shm
  mount -t devpts -o newinstance,nosuid,noexec,ptmxmode=0666,mode=620,gid=5 devpts pts
  ln -s pts/ptmx ptmx
  mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m shm shm
  ln -s /proc/self/fd fd; ln -s /proc/self/fd/0 stdin; ln -s /proc/self/fd/1 stdout; ln -s /proc/self/fd/2 stderr
) || fail "cannot make /dev"
chroot "$r" /usr/bin/env -i PATH=CHROOT_PATH HOME=/root LANG=C.UTF-8 "$@"
exit $?
""".replace("CHROOT_PATH", CHROOT_PATH)


def mountinfo_path(path: str) -> str:
    """``path`` as /proc/self/mountinfo writes it: space, tab, newline and backslash as \\ooo."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


def mount_point_problem(root: Path, name: str) -> str | None:
    """Why ``root/name`` cannot have a file system mounted on it, or None."""
    path = root / name
    try:
        st = os.lstat(path)
    except OSError:
        return f"{path} does not exist"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link (to {os.readlink(path)!r}), not a directory"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    return None


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
        self.root = str(path.resolve())
        for name in MOUNTED:
            problem = mount_point_problem(Path(self.root), name)
            if problem:
                raise ConnectError(f"{self.label}: {problem}; refusing to mount /{name} there")

    def _enter(self, argv: Sequence[str]) -> list[str]:
        return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "--",
                "sh", "-c", _ENTER, "sh", self.root, mountinfo_path(self.root), *argv]

    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        result = run_process(self._enter(argv), input=input, timeout=timeout, stream=stream)
        result.command = " ".join(argv)[:200]
        return result

    def _start(self, argv: Sequence[str]) -> Process:
        return PopenProcess.spawn(self._enter(argv))
