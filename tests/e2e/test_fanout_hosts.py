"""Every per-host command fans out with --forks (issues 19, 22): facts, doctor, history and rollback
work on several hosts at once, as apply does, and still print them in the hosts' order.

Each host is a chroot root whose ``sh`` (every command provision runs there starts with it: the
connection runs ``env -i PATH=…`` and PATH finds /usr/local/bin first) is a barrier: the host's
first command writes when it arrived and waits until every host of the round has arrived. Hosts
handled one at a time never meet there (the first waits alone until the barrier gives up), so the
test does not depend on timing: hosts that overlap pass it, hosts in turn fail it. The first host
then takes a second longer than the others, so it finishes last and must still be shown first.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest
from conftest import REPO, provision

pytestmark = pytest.mark.lab

HOSTS = 3
GIVE_UP = 150  # tenths of a second a host waits at the barrier for the others (hosts in turn: alone)
FOO = "resources:\n  - env_file:\n      set: {FANOUT_OPTS: \"on\"}\n"

BARRIER = f"""#!/bin/sh
# test_fanout: this host's first command of a round waits here until every host has arrived
d=/fanout
me=$(cat /etc/fanout-name)
if [ -d "$d/round" ] && [ ! -e "$d/round/arrived.$me" ]; then
  date +%s.%N > "$d/round/arrived.$me"
  i=0
  while [ "$(ls "$d/round" | grep -c '^arrived')" -lt {HOSTS} ]; do
    i=$((i + 1))
    if [ "$i" -gt {GIVE_UP} ]; then echo "$me" > "$d/round/alone.$me"; break; fi
    sleep 0.1
  done
  [ "$me" = h0 ] && sleep 1  # the first host finishes last
  date +%s.%N > "$d/round/left.$me"
fi
exec /bin/sh "$@"
"""


class Fleet:
    def __init__(self, roots: list[lab.Root], shared: Path) -> None:
        self.roots = roots
        self.shared = shared

    @property
    def args(self) -> list[str]:
        return [a for r in self.roots for a in ("-H", r.target)]

    def start_round(self) -> None:
        subprocess.run(["rm", "-rf", str(self.shared / "round")], check=True)
        (self.shared / "round").mkdir()

    def alone(self) -> list[str]:
        return sorted(p.read_text().strip() for p in (self.shared / "round").glob("alone.*"))

    def arrived(self) -> list[str]:
        return sorted(p.name.split(".", 1)[1] for p in (self.shared / "round").glob("arrived.*"))

    def overlapped(self) -> None:
        """Every host was at the barrier at once (none gave up waiting for the others)."""
        assert self.arrived() == [f"h{i}" for i in range(HOSTS)], self.arrived()
        assert not self.alone(), f"hosts ran one at a time: {self.alone()} waited alone at the barrier"


@pytest.fixture
def fleet(base_root: Path, tmp_path: Path) -> Iterator[Fleet]:
    shared = tmp_path / "shared"
    shared.mkdir()
    roots: list[lab.Root] = []
    mounted: list[Path] = []
    try:
        for i in range(HOSTS):
            root = lab.Root(base_root, name=f"fanout{i}")
            roots.append(root)
            wrapper = root.file("/usr/local/bin/sh")
            wrapper.write_text(BARRIER)
            wrapper.chmod(0o755)
            root.file("/etc/fanout-name").write_text(f"h{i}\n")
            point = root.file("/fanout")
            point.mkdir()
            subprocess.run(["mount", "--bind", str(shared), str(point)], check=True)
            mounted.append(point)
        yield Fleet(roots, shared)
    finally:
        for point in mounted:
            subprocess.run(["umount", str(point)], check=False)
        for root in roots:
            root.close()


def in_host_order(fleet: Fleet, text: str, line: str) -> None:
    """``line`` (with {} for the host's root) appears for every host, in the -H order."""
    at = [text.find(line.format(r.target)) for r in fleet.roots]
    assert -1 not in at and at == sorted(at), (at, text)


def hosts_of(doc: dict) -> list[str]:
    return [h["host"] for h in doc["hosts"]]


def test_facts_fan_out_in_host_order(fleet: Fleet, tmp_path: Path) -> None:
    book = tmp_path / "foo.yml"
    book.write_text(FOO)
    fleet.start_round()
    run = provision("facts", str(book), *fleet.args, "--forks", str(HOSTS))
    assert run.rc == 0, run
    fleet.overlapped()
    in_host_order(fleet, run.stderr, "{}:\n  os ")
    fleet.start_round()
    run = provision("facts", str(book), *fleet.args, "--json")
    assert run.rc == 0, run
    fleet.overlapped()  # the default --forks (10) covers the three
    assert hosts_of(run.json) == [r.target for r in fleet.roots]


def test_doctor_fans_out_in_host_order(fleet: Fleet) -> None:
    fleet.start_round()
    run = provision("doctor", *fleet.args, "--json")
    assert run.rc in (0, 1), run  # a chroot has no systemd: a finding, not a failure of the command
    fleet.overlapped()
    assert hosts_of(run.json) == [r.target for r in fleet.roots]
    in_host_order(fleet, run.stderr, "{}: Debian")


def applied(fleet: Fleet, tmp_path: Path) -> None:
    """FOO applied on every host (one run each)."""
    book = tmp_path / "foo.yml"
    book.write_text(FOO)
    fleet.start_round()
    run = provision("apply", str(book), *fleet.args, "--json")
    assert run.rc == 0, run
    fleet.overlapped()  # apply fanned out before this change too: the barrier works
    assert all("FANOUT_OPTS" in r.file("/etc/environment").read_text() for r in fleet.roots)


def test_history_fans_out_in_host_order(fleet: Fleet, tmp_path: Path) -> None:
    applied(fleet, tmp_path)
    fleet.start_round()
    run = provision("history", *fleet.args, "--json")
    assert run.rc == 0, run
    fleet.overlapped()
    assert hosts_of(run.json) == [r.target for r in fleet.roots]
    assert all(len(h["runs"]) == 1 for h in run.json["hosts"]), run.json
    in_host_order(fleet, run.stderr, "{}: 1 run(s)")


def test_rollback_fans_out_in_host_order(fleet: Fleet, tmp_path: Path) -> None:
    applied(fleet, tmp_path)
    fleet.start_round()
    run = provision("rollback", *fleet.args, "--json")
    assert run.rc == 0, run
    fleet.overlapped()
    doc = run.json
    assert hosts_of(doc) == [r.target for r in fleet.roots]
    assert all(h["changed"] >= 1 and not h["failed"] for h in doc["hosts"]), json.dumps(doc, indent=2)
    in_host_order(fleet, run.stderr, "[{}] 1 changed")  # each host's summary, in the -H order
    assert all("FANOUT_OPTS" not in r.file("/etc/environment").read_text() for r in fleet.roots)


def test_ctrl_c_in_a_rollback_starts_no_further_host(fleet: Fleet, tmp_path: Path) -> None:
    """One host at a time (--forks 1): a Ctrl-C while the first host reads its runs stops it
    before it takes its target's lock (nothing changed there), and the others are not started
    (not run: interrupted), as in apply."""
    applied(fleet, tmp_path)
    fleet.start_round()
    proc = subprocess.Popen([sys.executable, "-m", "provision", "rollback", *fleet.args, "--forks", "1", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (fleet.shared / "round/arrived.h0").exists():  # h0 waits alone at the barrier
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    doc = json.loads(out)
    assert hosts_of(doc) == [r.target for r in fleet.roots]
    first, *rest = doc["hosts"]
    assert first["failed"] and "nothing was changed" in first["error"], doc
    assert all(h["error"] == "not run: interrupted" for h in rest), doc
    assert all("FANOUT_OPTS" in r.file("/etc/environment").read_text() for r in fleet.roots)
    assert "the hosts marked 'not run' were not rolled back" in err.decode()
