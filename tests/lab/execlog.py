"""The programs an ``strace -f -e trace=execve`` log shows started, by basename: a line is
"PID execve(...) = 0", or split in two ("<unfinished ...>" then "execve resumed>"); failed
execve calls (a PATH search's misses) are not counted."""

from __future__ import annotations

import collections
import re
from pathlib import Path


def started(trace: Path) -> collections.Counter[str]:
    names: collections.Counter[str] = collections.Counter()
    pending: dict[str, str] = {}
    for line in trace.read_text(errors="replace").splitlines():
        pid, _, rest = line.partition(" ")
        m = re.search(r'execve\("([^"]*)"', rest)
        if m and "<unfinished" in rest:
            pending[pid] = m.group(1)
            continue
        path = m.group(1) if m else pending.pop(pid, None) if "execve resumed>" in rest else None
        if path and re.search(r"\)\s*= 0$", rest.rstrip()):
            names[path.rsplit("/", 1)[-1]] += 1
    return names
