"""A command's own peak memory, CPU and wall time.

Linux counts into a process's max RSS the peak of the memory it had before exec: a command
spawned straight from pytest (over 200 MB after two thousand tests) or from the bench reports its
parent's peak, not its own. The command is therefore started from a small fresh interpreter,
which forks it, waits for it with wait4 and writes what wait4 says to a report file; its exit
status is the command's (128 + N when signal N ended it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

_FORK_AND_WAIT = r"""
import os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.monotonic() - t0
with open(sys.argv[1], "w") as report:
    report.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime} {seconds}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


@dataclass(frozen=True)
class Usage:
    rss_mb: float  # the command's peak RSS, or its largest waited-for child's
    cpu: float  # CPU seconds of the command and the children it waited for
    seconds: float  # wall time from its fork to its end


def wrapped(argv: list[str], report: Path) -> list[str]:
    """argv, run so that its usage lands in ``report`` (read it with ``read``)."""
    return [sys.executable, "-c", _FORK_AND_WAIT, str(report), *argv]


def read(report: Path) -> Usage:
    kib, cpu, seconds = report.read_text().split()
    return Usage(int(kib) / 1024, float(cpu), float(seconds))
