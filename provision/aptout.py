"""apt-get's output, read for what a user must see without ``-v``: who holds the dpkg lock while
apt waits for it, and which downloads failed and why.

apt (1.9.11 and later, with ``-o DPkg::Lock::Timeout``) prints ``Waiting for cache lock: Could
not get lock /var/lib/dpkg/lock-frontend. It is held by process 123 (apt-get)...`` on stdout
about once a second while it waits; ``W: Failed to fetch <url>  <reason>`` (apt-get update: the
lists are ignored, exit 0) and ``E: Failed to fetch`` (install: exit 100) on stderr.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from provision.connections.base import CommandResult, Stream

_WAITING = re.compile(r"Waiting for cache lock: (?:.*?)(It is held by process (\d+)(?: \(([^)]*)\))?)?\.*\s*$")
_FETCH = re.compile(r"^[WE]: Failed to fetch (\S+)\s+(.*)$")
_LOCK_FAILED = re.compile(r"^E: (Could not get lock|Unable to acquire the dpkg frontend lock)")
PROGRESS_EVERY = 15.0  # seconds between two "still waiting" progress lines


@dataclass
class LockWait:
    pid: str = ""
    name: str = ""
    since: float = 0.0

    def holder(self) -> str:
        if not self.pid:
            return "another process"
        if self.pid == "0":  # the kernel's answer for a holder this PID namespace cannot see
            return "a process outside this target's PID namespace (e.g. on the machine a chroot is on)"
        return f"process {self.pid}" + (f" ({self.name})" if self.name else "")


_STATUS = re.compile(r"^(dlstatus|pmstatus):([^:]*):([\d.]+):(.*)$")
_QUIET = re.compile(r"^(dlstatus|pmstatus|pmconffile|media-change):|^\(Reading database \.\.\. \d+%")


def format_size(n: float) -> str:
    """Bytes as apt users read them: ``41.7 MB``, ``1.25 GB``."""
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


@dataclass
class AptWatch:
    """A stream for one apt-get run: passes apt's lines on (without its status and database
    chatter), turns lock waits into progress lines and apt's status (``APT::Status-Fd``) into
    status updates: download percent, size and speed, then the package being unpacked or set up."""

    progress: Callable[[str], None]
    passthrough: Stream | None = None
    clock: Callable[[], float] = time.monotonic
    wait: LockWait | None = None
    status: Callable[[str], None] | None = None
    download: int = 0  # bytes apt said it would download (for sizes and speed), 0 = unknown
    packages: int = 0
    _last: float = field(default=-1e9, repr=False)
    _started: float | None = field(default=None, repr=False)

    def _status(self, kind: str, percent: float, text: str) -> None:
        if self.status is None:
            return
        if kind == "dlstatus":
            now = self.clock()
            self._started = now if self._started is None else self._started
            msg = f"downloading {percent:.0f}%"
            if self.download:
                done = self.download * percent / 100
                msg += f" of {format_size(self.download)}"
                elapsed = now - self._started
                if elapsed > 1 and done:
                    msg += f", {format_size(done / elapsed)}/s"
        else:
            count = f" {self.packages} packages" if self.packages else ""
            msg = f"installing{count} {percent:.0f}%: {text.strip()}"
        self.status(msg)

    def __call__(self, line: str) -> None:
        s = _STATUS.match(line.strip())
        if s is not None:
            self._status(s.group(1), float(s.group(3)), s.group(4))
        if self.passthrough is not None and not _QUIET.match(line.strip()):
            self.passthrough(line)
        if s is not None:
            return
        m = _WAITING.search(line)
        if m is None:
            return
        now = self.clock()
        if self.wait is None:
            self.wait = LockWait(since=now)
        self.wait.pid, self.wait.name = m.group(2) or self.wait.pid, m.group(3) or self.wait.name
        if now - self._last >= PROGRESS_EVERY:
            self._last = now
            waited = f", {now - self.wait.since:.0f}s so far" if now > self.wait.since else ""
            self.progress(f"waiting for the dpkg lock, held by {self.wait.holder()}{waited}")


def failed_fetches(result: CommandResult, limit: int = 3) -> list[str]:
    """``url: reason`` for each download apt reports as failed (at most ``limit``, then a count)."""
    found = []
    for line in result.err.splitlines() + result.out.splitlines():
        m = _FETCH.match(line.strip())
        if m:
            found.append(f"{m.group(1)}: {m.group(2).strip()}")
    found = list(dict.fromkeys(found))
    if len(found) > limit:
        found = found[:limit] + [f"and {len(found) - limit} more"]
    return found


def explain_failure(what: str, result: CommandResult, watch: AptWatch, lock_timeout: int) -> str:
    """The one-line error for a failed apt-get run: the lock holder, the failed downloads, else
    apt's last lines."""
    if any(_LOCK_FAILED.match(line.strip()) for line in result.err.splitlines()):
        holder = watch.wait.holder() if watch.wait else "another process"
        return (f"{what} failed: the dpkg lock is held by {holder}; waited {lock_timeout}s "
                "(lock_timeout). Let it finish, or stop it, and run again")
    fetches = failed_fetches(result)
    if fetches:
        return f"{what} failed: downloads failed: {'; '.join(fetches)}"
    return f"{what} failed (exit {result.rc}): {result.tail() or 'no output'}"
