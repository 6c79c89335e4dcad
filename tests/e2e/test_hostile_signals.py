"""Issue 18 on lab roots: SIGTERM and SIGINT stop a command promptly (exit 130) in the middle of a
hostile render and while waiting for another run's lock, and leave the target as it was."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lab
import pytest
import yaml
from conftest import REPO

pytestmark = pytest.mark.lab

# few steps, each of them slow (C-level work): within the step budget, ended by the CPU-time budget
SLOW = "{% for i in range(99999) %}{% set x = '%s' % ('x' * 1000000) %}{% endfor %}x\n"


def _state(root: lab.Root) -> dict[str, str]:
    """Every file written into the root since it was made, with its content."""
    return {p: hashlib.sha256(root.file(p).read_bytes()).hexdigest() for p in root.changed_paths()}


def _in_root(root: lab.Root) -> list[int]:
    pids = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(p / "root") == str(root.path):
                pids.append(int(p.name))
        except OSError:
            continue
    return pids


class Stderr:
    """A child's stderr, read as it comes (so the test can wait for a line)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stderr is not None
        stream = self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, b""):
            with self._lock:
                self.text += line.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"no {needle!r} in: {self.text[-2000:]}"
            time.sleep(0.05)

    def done(self) -> str:
        self._thread.join(timeout=10)
        self._stream.close()
        return self.text


def _stopped_within(proc: subprocess.Popen[bytes], sig: int, seconds: float) -> float:
    proc.send_signal(sig)
    t0 = time.monotonic()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running 30s after {signal.Signals(sig).name}")
    took = time.monotonic() - t0
    assert took < seconds, f"took {took:.1f}s to stop after {signal.Signals(sig).name}"
    return took


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_plan_in_the_middle_of_a_slow_render(base_root, tmp_path, sig):
    """app.conf (not .j2) builds 1 MB strings 10^5 times: the old step budget did not trace it,
    and the first signal only asked plan to stop after the current step, which went on."""
    (tmp_path / "app.conf").write_text(SLOW)
    (tmp_path / "p.yml").write_text("resources:\n  - env_file: {set: {A: b}}\n"
                                    "  - template: {src: app.conf, dest: /etc/app.conf}\n")
    with lab.Root(base_root, name="sigplan") as root:
        before = _state(root)
        proc = subprocess.Popen([sys.executable, "-m", "provision", "plan", str(tmp_path / "p.yml"), "-H", root.target],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO)
        err = Stderr(proc)
        err.wait_for("/etc/environment", 120)  # the first resource is planned: the template is being rendered
        time.sleep(0.3)
        _stopped_within(proc, sig, 2.0)
        text = err.done()
        assert proc.returncode == 130, text
        assert "interrupted" in text and "Traceback" not in text, text
        assert "too much work" not in text and "takes too long" not in text, text  # stopped, not the budget
        assert _state(root) == before


def test_sigterm_stops_validate_in_the_middle_of_a_slow_render(tmp_path):
    """Outside a run (validate, export, show) SIGTERM stops at once too, with exit 130."""
    (tmp_path / "p.yml").write_text(yaml.safe_dump({"resources": [{"env_file": {"set": {"A": SLOW}}}]}))
    proc = subprocess.Popen([sys.executable, "-m", "provision", "export", "cloud-init", str(tmp_path / "p.yml"),
                             "--facts", "os=debian-12"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=REPO)
    err = Stderr(proc)
    time.sleep(1.5)
    while _cpu(proc.pid) < 1.0:  # started up and rendering (the machine may be busy)
        assert proc.poll() is None, err.done()
        time.sleep(0.1)
    _stopped_within(proc, signal.SIGTERM, 2.0)
    text = err.done()
    assert proc.returncode == 130 and "provision: interrupted" in text and "Traceback" not in text, text


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_stops_the_wait_for_another_runs_lock(base_root):
    with lab.Root(base_root, name="lockwait") as root:
        holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                                   'mount -t proc proc "$1/proc"; exec chroot "$1" sh -c '
                                   '"mkdir -p /var/lib/provision; echo \'pid 1 on elsewhere: provision apply x\' '
                                   '> /var/lib/provision/lock.owner; exec flock /var/lib/provision/lock sleep 300"',
                                   "sh", str(root.path)])
        try:
            deadline = time.monotonic() + 30
            while not root.file("/var/lib/provision/lock").exists():
                assert time.monotonic() < deadline
                time.sleep(0.1)
            time.sleep(0.5)
            holders = set(_in_root(root))
            before = _state(root)
            proc = subprocess.Popen([sys.executable, "-m", "provision", "apply", "java17", "-H", root.target],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    cwd=REPO)
            err = Stderr(proc)
            err.wait_for("waiting up to 300s", 120)
            time.sleep(0.5)
            _stopped_within(proc, signal.SIGINT, 2.0)
            text = err.done()
            assert proc.returncode == 130, text
            assert "stopped waiting for the target's lock (held by pid 1 on elsewhere: provision apply x)" in text, text
            assert "Traceback" not in text, text
            assert _state(root) == before  # no journal, lock.owner as it was, nothing installed
            assert set(_in_root(root)) <= holders  # the waiting command did not stay behind
        finally:
            holder.kill()
            holder.wait()
        time.sleep(1)  # the lock is free now: nothing that was waiting takes it
        assert _state(root) == before
