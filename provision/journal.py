"""One apply per target at a time, and the record of what each run did, kept on the target.

An apply opens one long-running command on the target (``Session``) before anything else. Under
``/var/lib/provision`` it takes an flock (a second apply waits up to ``lock_timeout`` seconds,
saying who holds it, then fails naming the holder), prunes old runs, reads the run's first facts
under the lock (so the plan is made from the host as it is while nobody else changes it), and
then appends every line the controller sends to ``runs/<run id>.jsonl``: the run's journal,
written as the run goes. The lock is released when the command ends: when the run is over, or
when the controller dies (the connection or pipe closes). A run that changes nothing writes no
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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provision import __version__
from provision.connections.base import WALK, Connection, Process
from provision.errors import ConnectError, ProvisionError
from provision.facts import Fact, batch

STATE_DIR = "/var/lib/provision"
LOCK_TIMEOUT = 300.0
KEEP_RUNS = 20

# The state dir and every directory above it must be root's and closed to other users (walked
# as writes walk paths, see connections.base.WALK), else nothing is written there: a local user
# could otherwise point the journal, lock or backups elsewhere. Its modes are repaired to 0700.
_HELD = WALK + r"""
d=@DIR@; run=$1; wait=$2; owner=$3; keep=$4; t=$5
umask 077
for sub in runs backups; do
  pv_walk "$d/$sub/x" 0 700 1 || { echo "$d: $pv_err: refusing to use it (move it aside)" >&2; exit 70; }
done
cd / && chmod 700 "$d" "$d/runs" "$d/backups" || { echo "cannot create $d" >&2; exit 70; }
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
n=0; for r in "$d"/runs/*.jsonl; do [ -e "$r" ] && n=$((n + 1)); done  # prune only when needed
[ "$n" -gt "$keep" ] && ls -1t "$d/runs" | sed -n 's/\.jsonl$//p' | tail -n +$((keep + 1)) | while read -r old; do
  rm -rf "$d/runs/$old.jsonl" "$d/backups/$old"
done
@FACTS@
f="$d/runs/$run.jsonl"
while IFS= read -r line; do printf '%s\n' "$line" >> "$f"; done
"""


def owner_line(command: str) -> str:
    return (f"pid {os.getpid()} on {socket.gethostname()} ({getpass.getuser()}), since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {command}")


@dataclass
class Session:
    """The held command of one apply on one target: its lock and its journal."""

    process: Process
    run_id: str
    started: bool = False  # whether the journal's start entry was sent (the first change)
    header: dict[str, Any] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)  # what was sent

    @classmethod
    def open(cls, conn: Connection, run_id: str, first: Sequence[Fact[Any]], *, command: str,
             progress: Callable[[str], None], lock_timeout: float = LOCK_TIMEOUT,
             keep: int = KEEP_RUNS) -> tuple[Session, dict[Fact[Any], object]]:
        """Take the target's lock and read ``first`` under it; raises ConnectError (the lock is
        busy, or the target cannot keep the command running)."""
        token = secrets.token_hex(4)
        parts = batch.sections(first)
        script = _HELD.replace("@DIR@", shlex.quote(STATE_DIR)).replace(
            "@FACTS@", batch.script(parts, token, end=""))
        process = conn.start(["sh", "-c", script, "sh", run_id, str(int(lock_timeout)), owner_line(command),
                              str(keep), token])
        mark = f"@@{token}:"
        try:
            wait = 60.0
            while True:
                line = process.read_until(b"\n", wait).decode("utf-8", "replace").strip()
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
            output = process.read_until(f"{batch.MARK}{token}:end\n".encode(), batch.TIMEOUT)
        except BaseException:
            process.finish(5)
            raise
        values = batch.parse(parts, output.decode("utf-8", "surrogateescape"), token)
        return cls(process, run_id), values

    def record(self, entry: dict[str, Any]) -> None:
        """Append an entry to the run's journal on the target (the first one starts the journal)."""
        if not self.started:
            self.started = True
            self._send({"event": "start", "run": self.run_id, "provision": __version__,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.header})
        self._send({"time": round(time.time(), 3), **entry})

    def _send(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        line = json.dumps(entry, default=str, separators=(",", ":")) + "\n"
        try:
            self.process.send(line.encode())
        except ProvisionError:
            pass  # the target went away: the run's own failure says so

    def close(self, status: str) -> None:
        """End the journal (when the run changed something) and release the lock."""
        if self.started:
            self._send({"event": "end", "status": status, "time": round(time.time(), 3)})
        self.process.finish(30)
