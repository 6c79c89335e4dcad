"""Fifty hosts from one controller (issue 11): 49 converge, the one that is down is reported in
the table and in --json, exit 1; a host gets one line of output; provision's peak memory stays
under 200 MB (printed with the time: pytest -rP shows them)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO
from lab import peakrss

pytestmark = pytest.mark.lab

MEMORY_LIMIT_MB = 200


def test_fifty_hosts_one_down(fleet_factory, jdk_root, tmp_path):
    fleet = fleet_factory(50, base=jdk_root)
    down = fleet.hosts[17]
    down.shutdown()
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n" + "".join(f"  {h.name}: {{}}\n" for h in fleet.hosts))
    argv = [sys.executable, "-m", "provision", "apply", "java17", "-i", str(inv), "--ssh-config",
            str(fleet.ssh_config), "--known-hosts", str(fleet.known_hosts), "--json", "--connect-timeout", "5"]
    seconds, rc, out, err, peak_mb = run_measured(argv, tmp_path)
    print(f"50 hosts (one down): {seconds:.1f} s, provision's peak RSS {peak_mb:.0f} MB")
    stderr = err.decode()
    assert rc == 1, stderr[-2000:]
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    assert len(hosts) == 50
    assert hosts[down.name]["unreachable"] and "cannot connect" in hosts[down.name]["error"]
    ok = [h for name, h in hosts.items() if name != down.name]
    assert all(not h["failed"] and h["changed"] >= 1 for h in ok), [h for h in ok if h["failed"]][:2]
    for host in fleet.hosts:
        if host is not down:
            assert b"JAVA_HOME=" in host.root.file("/etc/environment").read_bytes(), host.name
    table = stderr[stderr.index("host "):].splitlines()
    row = next(line for line in table if line.startswith(down.name + " "))
    assert row.split()[1:6] == ["0", "0", "0", "0", "yes"], row  # ok changed skipped failed unreachable
    lines = [ln for ln in stderr[:stderr.index("host ")].splitlines() if ln.strip()]
    assert len(lines) <= 50 + 5, lines[:20]  # one line a host (and the odd note), not every step
    assert peak_mb < MEMORY_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"


def run_measured(argv: list[str], tmp) -> tuple[float, int, bytes, bytes, float]:
    """seconds, exit status, stdout, stderr and peak memory (max RSS, MB) of argv: its own, not
    pytest's (lab.peakrss)."""
    out, err, report = tmp / "stdout", tmp / "stderr", tmp / "usage"
    with out.open("wb") as o, err.open("wb") as e:
        rc = subprocess.run(peakrss.wrapped(argv, report), stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                            cwd=REPO).returncode
    usage = peakrss.read(report)
    return usage.seconds, rc, out.read_bytes(), err.read_bytes(), usage.rss_mb
