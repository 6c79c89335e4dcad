"""lab.peakrss measures a command's own peak memory, not that of the big process that spawned it
(Linux carries the pre-exec peak into max RSS: test_scale once read pytest's 222 MB as
provision's)."""

from __future__ import annotations

import os
import subprocess
import sys

from lab import peakrss

GROW_AND_SPAWN = r"""
import os, subprocess, sys
ballast = bytearray(300 * 1024 * 1024)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
direct = subprocess.Popen(["true"])
_, _, usage = os.wait4(direct.pid, 0)
wrapped = subprocess.run(sys.argv[2:], check=False).returncode
print(usage.ru_maxrss // 1024, wrapped)
"""


def test_a_command_spawned_by_a_big_process_reports_its_own_peak(tmp_path):
    report = tmp_path / "usage"
    out = subprocess.run([sys.executable, "-c", GROW_AND_SPAWN, "x", *peakrss.wrapped(["true"], report)],
                         capture_output=True, text=True, check=True).stdout
    direct_mb, rc = map(int, out.split())
    assert direct_mb >= 300  # the trap: wait4 straight from the big process reports its peak
    assert rc == 0
    usage = peakrss.read(report)
    assert usage.rss_mb < 50 and usage.seconds < 30 and usage.cpu >= 0


def test_the_exit_status_is_the_commands(tmp_path):
    report = tmp_path / "usage"
    assert subprocess.run(peakrss.wrapped(["sh", "-c", "exit 3"], report)).returncode == 3
    assert subprocess.run(peakrss.wrapped(["sh", "-c", "kill -TERM $$"], report)).returncode == 128 + 15
    assert os.path.getsize(report) > 0
