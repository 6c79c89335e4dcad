"""apt's own reasons reach the user without -v, on lab roots: a failed download says which and
why (not "no installation candidate"), and a held dpkg lock is named while provision waits."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import provision

pytestmark = pytest.mark.lab

REFUSED = "Connection refused"  # nothing listens on 127.0.0.1:9


def _no_downloads(root) -> None:
    root.file("/etc/apt/apt.conf.d/99lab-proxy").write_text('Acquire::http::Proxy "http://127.0.0.1:9/";\n')


def test_no_lists_and_no_downloads_says_the_lists_could_not_be_downloaded(fresh_root):
    _no_downloads(fresh_root)
    fresh_root.sh("rm -rf /var/lib/apt/lists/*")
    r = provision("apply", "java17", "-H", fresh_root.target)
    assert r.rc == 1, r
    assert "could not download the package lists" in r.stderr and REFUSED in r.stderr, r
    assert "not in this release's package lists" not in r.stderr, r


def test_a_failed_package_download_is_reported_with_apts_reason(fresh_root):
    _no_downloads(fresh_root)
    fresh_root.sh("rm -f /var/cache/apt/archives/*.deb")  # the lab's base keeps the debs it installed
    r = provision("apply", "java17", "-H", fresh_root.target)
    assert r.rc == 1, r
    assert "downloads failed: http://" in r.stderr and ".deb" in r.stderr and REFUSED in r.stderr, r
    assert "-v" not in r.stderr.split("downloads failed")[0].splitlines()[-1]


def test_a_held_dpkg_lock_is_named_while_waiting_and_in_the_error(fresh_root, tmp_path):
    lock = fresh_root.file("/var/lib/dpkg/lock-frontend")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(lock)!r}, 'w'); fcntl.lockf(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True); time.sleep(120)\n")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        playbook = tmp_path / "hello.yml"
        playbook.write_text("name: hello\nresources:\n  - apt:\n      packages: [hello]\n"
                            "      update: never\n      lock_timeout: 4\n")
        started = time.monotonic()
        r = provision("apply", str(playbook), "-H", fresh_root.target)
        assert r.rc == 1, r
        assert time.monotonic() - started < 60
        # a chroot target runs in a PID namespace of its own: a holder on this machine has no PID there
        named = "held by a process outside this target's PID namespace"
        assert f"waiting for the dpkg lock, {named}" in r.stderr, r  # the progress line, without -v
        assert f"the dpkg lock is {named}" in r.stderr and "waited 4s" in r.stderr, r
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert fresh_root.out("dpkg-query -W -f='${Status}' hello 2>/dev/null || true") != "install ok installed"
