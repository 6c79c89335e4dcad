"""One apply per target at a time, and the record of what each run did, kept on the target.

An apply opens one long-running command on the target (``Session``) before anything else. Under
``/var/lib/provision`` it takes an flock (a second apply waits up to ``lock_timeout`` seconds,
saying who holds it, then fails naming the holder), prunes old runs, reads the run's first facts
under the lock (so the plan is made from the host as it is while nobody else changes it), and
then appends every line the controller sends to ``runs/<run id>.jsonl``: the run's journal,
written as the run goes. The lock is released when the command ends: when the run is over, when
the controller dies (the connection or pipe closes), or when the controller goes silent (no line,
not even the heartbeat's empty one, for SILENCE seconds). A run that changes nothing writes no
journal.

Journal entries (one JSON object per line): ``start`` (playbook, vars, provision version), per
changed resource ``begin``/``end``, ``write``/``remove`` (path, backup, mode, owner, sha256 of what
was written), ``install``/``remove-packages`` (apt-get runs are tagged ``-o provision::run=<id>`` in
apt's own history log, which says which packages each run installed, dependencies included),
``alternatives`` (where the links pointed before), ``end`` (complete, failed or interrupted).
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from provision import __version__
from provision.connections.base import WALK, Connection, Process
from provision.errors import ConnectError, Interrupted, ProvisionError
from provision.facts import Fact, batch

STATE_DIR = "/var/lib/provision"
LOCK_TIMEOUT = 300.0
KEEP_RUNS = 20  # runs kept when no apply on the target ever said --keep-runs
HEARTBEAT = 10.0  # seconds between the controller's empty lines to the held command
SILENCE = 50  # seconds without a line after which the held command ends, releasing the lock
# A controller that could send nothing for this share of SILENCE takes the lock as lost: the held
# command may have ended (lines can be late on the way), and a run without its lock stops.
LOST_AFTER = 0.8


class LockLost(ConnectError):
    """The held command is gone (or may be): this run no longer holds the target's lock, and
    nothing more may be changed, since it could no longer be journalled."""


def _clock() -> float:
    """Seconds, counting the time this machine was suspended (the target's clock goes on)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()



class Event(StrEnum):
    """The ``event`` of a journal entry. These are the bytes on the target, read back by rollback
    and history from journals older versions wrote too: never change a value."""

    START = "start"  # the run's first entry: playbook, vars, provision version
    BEGIN = "begin"  # a resource's changes start (its id, label, change summaries)
    END = "end"  # a resource's changes ended (its status), or, without "resource", the run (RunStatus)
    WRITE = "write"  # a file written (path, backup, created, sha256, mode, owner, follow)
    REMOVE = "remove"  # a file removed (path, backup, follow)
    RESTORE = "restore"  # rollback: a file put back from its backup
    INSTALL = "install"  # apt-get install (packages, apt_tag)
    REMOVE_PACKAGES = "remove-packages"  # apt-get remove/purge (packages, purge)
    DPKG_CONFIGURE = "dpkg-configure"  # dpkg --configure -a, repairing an interrupted dpkg
    ALTERNATIVES = "alternatives"  # where the alternatives' links pointed before (previous)
    UNDO = "undo"  # a command rollback runs to undo a change that is not a file write (argv, what)
    UNDONE = "undone"  # rollback: it ran such a command (argv, what)


class RunStatus(StrEnum):
    """How a run ended: the ``status`` of its journal's last ``end`` (on disk: never change a value)."""

    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


# The state dir and every directory above it must be root's and closed to other users (walked
# as writes walk paths, see connections.base.WALK), else nothing is written there: a local user
# could otherwise point the journal, lock or backups elsewhere. runs/ and backups/ in it must be
# root's closed directories too, and the lock no link. One stat reads the modes of all of them
# (by name, sound as pv_closed is: the first open one on the way has a parent only root can
# change); the modes of the state dir, runs/ and backups/ are repaired to 0700, with a mkdir or
# chmod only when one is missing or not 0700 (the daily run starts one command here: this stat,
# which reads the lock's type too, for the walk, told ``n``, does not stat it).
_HELD = WALK + r"""
d=@DIR@; run=$1; wait=$2; keep=$3; protect=$4; quiet=$5
# the token of our lines and the owner line (the command, which may name -e keys): on stdin, not
# in the command line, which every local user can read (ps, /proc/<pid>/cmdline)
IFS= read -r t || exit 70
IFS= read -r owner || exit 70
umask 077
refuse() { echo "$d: $1: refusing to use it (move it aside)" >&2; exit 70; }
pv_walk "$d/lock" 0 700 0 n || refuse "$pv_err"
[ -z "$pv_link" ] || refuse "$d/lock is a symbolic link (to $pv_link)"
pv_ifs=$IFS; IFS=$pv_nl; set -f; set -- $pv_dirs; set +f; IFS=$pv_ifs  # ($1.. are copied above)
mk=
for sub in runs backups; do
  if [ -e "$sub" ] || [ -L "$sub" ]; then set -- "$@" "$sub"; else mk="$mk $sub"; fi
done
if [ -e lock ] || [ -L lock ]; then set -- "$@" lock; fi  # the walk left it to this stat (n)
pv_m=$(stat -c '%u %g %a %n %F' -- "$@" 2>/dev/null) || refuse "cannot read its modes"
fix=
while read -r u g a n ty; do  # the walked directories by their paths, then runs, backups, lock
  case $n in
    /*) p=$n ;;
    lock) case $ty in "regular file"|"regular empty file") continue ;; *) refuse "$d/lock is a $ty" ;; esac ;;
    *) p=$d/$n; [ "$ty" = directory ] || refuse "$p is a $ty, not a directory" ;;
  esac
  if pv_opened "$u" "$g" "$a"; then refuse "$p is writable by a non-root user"; fi
  case $p in "$d"|"$d"/*) [ "$a" = 700 ] || fix="$fix $n" ;; esac
done <<EOF
$pv_m
EOF
for m in $mk; do  # a second run may have made it since (only root can write in $d: checked above)
  mkdir -m 700 -- "$m" 2>/dev/null || { [ -d "$m" ] && [ ! -L "$m" ]; } ||
    { echo "cannot create $m in $d" >&2; exit 70; }
done
[ -z "$fix" ] || chmod 700 -- $fix || { echo "cannot repair the modes in $d" >&2; exit 70; }
cd / || exit 70
exec 9>>"$d/lock" || exit 70
if ! flock -n 9; then
  printf '\n@@%s:wait %s\n' "$t" "$(head -c 400 "$d/lock.owner" 2>/dev/null | tr '\n' ' ')"
  if ! flock -w "$wait" 9; then
    printf '\n@@%s:busy %s\n' "$t" "$(head -c 400 "$d/lock.owner" 2>/dev/null | tr '\n' ' ')"
    exit 75
  fi
fi
printf '%s\n' "$owner" > "$d/lock.owner"
printf '\n@@%s:locked\n' "$t"
case $keep in  # -: prune nothing; empty: the count an apply's --keep-runs recorded; N: record N
  -) keep= ;;
  '') keep=; { IFS= read -r keep < "$d/keep-runs"; } 2>/dev/null  # a builtin: no head, no tr
      case $keep in ''|*[!0-9]*|??????????*) keep=@KEEP@ ;; esac ;;
  *) printf '%s\n' "$keep" > "$d/keep-runs" ;;
esac
n=0; for r in "$d"/runs/*.jsonl; do [ -e "$r" ] && n=$((n + 1)); done  # prune only when needed
[ -n "$keep" ] && [ "$n" -gt "$keep" ] &&
  ls -1t "$d/runs" | sed -n 's/\.jsonl$//p' | tail -n +$((keep + 1)) | while read -r old; do
  [ "$old" = "$protect" ] || rm -rf "$d/runs/$old.jsonl" "$d/backups/$old"
done
@FACTS@
f="$d/runs/$run.jsonl"
# Each line must come within $quiet seconds (the controller sends an empty line every few seconds):
# a controller gone silent (a cut connection, a stopped process) ends this command, and so the lock.
# timeout(1) bounds each read, since dash's read has no -t; dash reads a pipe byte by byte, so no
# line is lost between reads.
while line=$(timeout "$quiet" sh -c 'IFS= read -r l && printf "%s." "$l"'); do
  line=${line%.}
  [ -n "$line" ] && printf '%s\n' "$line" >> "$f"
done
"""


def new_run_id() -> str:
    """A run's id: when it started, and random enough that two runs of one second differ."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def owner_line(command: str) -> str:
    """Who holds the lock, for lock.owner and a second run's message: one line (``command`` is
    recorded as given: the caller leaves -e values out, see cli.recorded_command)."""
    line = (f"pid {os.getpid()} on {socket.gethostname()} ({getpass.getuser()}), since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {command}")
    return " ".join(line.split())


@dataclass
class Session:
    """The held command of one apply on one target: its lock and its journal."""

    process: Process
    run_id: str
    started: bool = False  # whether the journal's start entry was sent (the first change)
    header: dict[str, object] = field(default_factory=dict)
    entries: list[dict[str, object]] = field(default_factory=list)  # what was sent
    lost: str | None = None  # why the lock is lost (then every record raises LockLost)
    _sending: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sent: float = field(default_factory=_clock)  # when the held command last got a line

    @classmethod
    def open(cls, conn: Connection, run_id: str, first: Sequence[Fact[object]], *, command: str,
             progress: Callable[[str], None], lock_timeout: float = LOCK_TIMEOUT,
             keep: int | None = None, prune: bool = True, protect: str = "",
             stop: threading.Event | None = None) -> tuple[Session, dict[Fact[object], object]]:
        """Take the target's lock and read ``first`` under it; raises ConnectError (the lock is
        busy, or the target cannot keep the command running), or Interrupted when ``stop`` is set
        before the lock is had (the waiting command is ended: nothing was changed).

        Pruning keeps the newest ``keep`` runs (recorded on the target for the runs after; None:
        the count recorded there, else KEEP_RUNS), never ``protect``'s journal and backups, and
        nothing at all without ``prune`` (a dry run deletes nothing)."""
        token = secrets.token_hex(8)
        parts = batch.sections(first)
        script = _HELD.replace("@DIR@", shlex.quote(STATE_DIR)).replace("@KEEP@", str(KEEP_RUNS)).replace(
            "@FACTS@", batch.script(parts, end="", defined=(WALK,)))
        keep_arg = "-" if not prune else "" if keep is None else str(keep)
        process = conn.start(["sh", "-c", script, "sh", run_id, str(int(lock_timeout)), keep_arg,
                              protect or "-", str(SILENCE)])
        mark = f"@@{token}:"
        holder = ""
        try:
            process.send(f"{token}\n{owner_line(command)}\n".encode())
            wait = 60.0
            deadline = time.monotonic() + wait
            while True:  # in slices of 0.2s with a stop event: the first interrupt ends the wait
                if stop is not None and stop.is_set():
                    raise Interrupted("stopped waiting for the target's lock (held by "
                                      f"{holder or 'another provision run'}); nothing was changed")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectError(f"no answer within {wait:.0f}s")
                step = min(0.2, left) if stop is not None else left
                until = time.monotonic() + step
                try:
                    line = process.read_until(b"\n", step).decode("utf-8", "replace").strip()
                except ConnectError:
                    if time.monotonic() >= until:
                        continue  # this slice of the wait passed (not the command's end: EOF stays)
                    raise
                if not line.startswith(mark):
                    continue
                state, _, holder = line[len(mark):].partition(" ")
                if state == "locked":
                    break
                if state == "busy":
                    raise ConnectError(f"another provision run holds this target's lock ({holder or 'unknown'});"
                                       f" waited {lock_timeout:.0f}s (--lock-timeout)")
                progress(f"waiting up to {lock_timeout:.0f}s for another provision run on this target to "
                         f"finish (held by {holder or 'an unknown process'})")
                wait = lock_timeout + 60
                deadline = time.monotonic() + wait
            while not (output := process.read_until(b"\n", batch.TIMEOUT)).startswith(batch.MARK):
                pass  # the facts come on one line (see batch): nothing in them can end it early
        except Interrupted:
            process.finish(0)  # ends the waiting command at once, before it can take the lock
            raise
        except BaseException:
            process.finish(5)
            raise
        values = batch.parse(parts, output, "surrogateescape")
        session = cls(process, run_id)
        threading.Thread(target=session._beat, name=f"heartbeat {run_id}", daemon=True).start()
        return session, values

    def _beat(self) -> None:
        """Tell the held command the controller is alive (an empty line, not journalled)."""
        while not self._stop.wait(HEARTBEAT):
            with self._sending:
                if self._stop.is_set() or not self._deliver(b"\n"):
                    return

    def _deliver(self, data: bytes) -> bool:
        """Send ``data`` to the held command (under ``_sending``); False, with ``lost`` set, when
        the lock is lost: a send failed, or none could be made for too long to be sure the held
        command still waits (a stalled or stopped controller, a suspended machine)."""
        if self.lost is not None:
            return False
        quiet = _clock() - self._sent
        if quiet > SILENCE * LOST_AFTER:
            self.lost = (f"nothing reached the command holding it for {quiet:.0f}s, and it lets the lock "
                         f"go after {SILENCE}s of silence (was provision stopped, or the machine suspended?)")
            return False
        try:
            self.process.send(data)
        except ProvisionError as exc:
            self.lost = f"the command holding it is gone ({exc})"
            return False
        self._sent = _clock()
        return True

    def record(self, entry: dict[str, object]) -> None:
        """Append an entry to the run's journal on the target (the first one starts the journal),
        before the change it describes; raises LockLost when the lock is lost, so that nothing is
        changed without the lock and the journal."""
        if not self.started:
            self.started = True
            self._send({"event": Event.START, "run": self.run_id, "provision": __version__,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.header})
        self._send({"time": round(time.time(), 3), **entry})

    def _send(self, entry: dict[str, object]) -> None:
        self.entries.append(entry)
        line = json.dumps(entry, default=str, separators=(",", ":")) + "\n"
        with self._sending:
            if not self._deliver(line.encode()):
                raise LockLost(f"lost the target's lock: {self.lost}; stopped before the next change "
                               f"(run {self.run_id}'s journal ends here)")

    def close(self, status: RunStatus) -> None:
        """End the journal (when the run changed something and still holds the lock) and release
        the lock."""
        if self.started and self.lost is None:
            try:
                self._send({"event": Event.END, "status": status, "time": round(time.time(), 3)})
            except LockLost:
                pass  # the lock went at the very end: what the run did is journalled
        with self._sending:
            self._stop.set()
        self.process.finish(30)
