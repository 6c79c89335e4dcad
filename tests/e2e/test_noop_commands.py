"""The programs a no-op ``apply java17`` starts on a converged host (issue 19: on a fleet sharing
CPUs each one costs about a millisecond on every host, every run), counted by ``strace -f -e
execve`` on the host's sshd listener: the login's own (sshd, PAM's motd, the login shell), the
transport's stub, the held command with its lock, the facts script. Pinned by name, so one more
is a failure that names it (bench/README.md, "Commands on a host per no-op apply")."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import provision
from lab import execlog

pytestmark = pytest.mark.lab

# 29 before (2026-12-03): readlink (the JDK home: cd -P), a stat (the chroot signal: test -ef),
# a stat (the lock: with the state dir's), dd (a file in a root-only directory: base64 reads it)
EXPECTED = {
    # the login: sshd's session, PAM's motd (run-parts, 10-uname, uname, via sh and env), the login shell
    "sshd": 1, "sh": 4, "env": 1, "run-parts": 1, "10-uname": 1, "uname": 1, "bash": 1,
    "id": 2, "head": 1,  # the transport's stub: id -u, head -c (and the facts' id -un)
    "stat": 2,  # the held command's (the state dir, runs/, backups/, the lock) and /etc/environment's
    "flock": 1, "timeout": 1,  # the held command: the lock, the journal's reader (with an sh)
    # the facts: the block's and the file's base64, dpkg's architecture, the JDK's file list and dpkg's
    # unfinished states (grep), the alternatives (find, awk), the packages' states
    "base64": 2, "dpkg": 1, "grep": 2, "find": 1, "awk": 1, "dpkg-query": 1,
}


def listener(host) -> int:
    for pid in Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split():
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
            return int(pid)
    raise AssertionError(f"{host.name}: no sshd listener")




@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_noop_apply_starts_only_these_programs_on_a_host(fleet_factory, jdk_root, tmp_path):
    fleet = fleet_factory(1, base=jdk_root)
    host = fleet.hosts[0]
    args = ("apply", "java17", "-H", host.name, "--ssh-config", str(fleet.ssh_config),
            "--known-hosts", str(fleet.known_hosts), "--json")
    for _ in range(2):  # converge, then the first no-op (which may repair what the first left)
        r = provision(*args)
        assert r.rc == 0, r
    trace = tmp_path / "strace.txt"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-s", "64",
                               "-o", str(trace), "-p", str(listener(host))])
    try:
        deadline = time.monotonic() + 10
        while not trace.exists() or (time.monotonic() < deadline and not trace.stat().st_size and
                                     b"State:\tt" not in Path(f"/proc/{listener(host)}/status").read_bytes()):
            time.sleep(0.05)  # attached: the listener is traced (or strace wrote its first line)
        r = provision(*args)
        time.sleep(0.5)  # the session's last processes are reaped
    finally:
        tracer.send_signal(signal.SIGINT)  # only the strace this test started
        tracer.wait(10)
    assert r.rc == 0 and '"changed": 0' in r.stdout, r
    got = execlog.started(trace)
    assert dict(got) == EXPECTED, (sum(got.values()), dict(got))
    assert sum(EXPECTED.values()) == 25
