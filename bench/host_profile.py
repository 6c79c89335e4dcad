#!/usr/bin/env python3
"""Per-host profile of a no-op apply: the commands it runs on a host and the CPU it costs there
and in the controller (bench/README.md, "Where the time goes").

On a fleet of N lab hosts (default 1) booted from the lab's jdk base, ``provision apply java17``
converges once; then:

- one no-op with ``strace -f -e trace=execve`` attached to the first host's sshd listener:
  every program started on that host (the login's own, PAM's, the facts script's, the lock's),
  counted by name;
- ``--runs`` no-ops (default 5), each with the hosts' CPU (``perf stat -e task-clock`` on every
  sshd listener and what it forks; and every listener's reaped children's CPU from /proc, as
  bench/run.py counts it, in clock ticks) and the controller's (the tool's process tree, from
  wait4).

Numbers are per host (divided by N), medians and min–max over the runs. Each no-op is checked
(rc 0, "changed 0" in the JSON report, /etc/environment and dpkg's status untouched). With
``--verify`` the same for ``provision verify java17`` (checked: rc 0) instead of the no-op. With
``--py-spy PATH`` (py-spy from PyPI) one extra no-op runs under py-spy (every thread of the
controller's Python, sampled) and its hot spots are printed. Run as root from the repository root with the project venv:

    .venv/bin/python bench/host_profile.py                  # 1 host, 5 runs
    .venv/bin/python bench/host_profile.py --hosts 10 --runs 3 --py-spy /path/to/py-spy
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import lab.execlog  # noqa: E402 - tests/ is on sys.path from here on
import run as bench  # noqa: E402 - bench/run.py: the fleet, the checks and the CPU counters

REPO = bench.REPO


def provision(fleet, work: Path) -> list[str]:
    """The bench's provision command, run by this interpreter from this tree (not .venv's entry
    point, which may be another checkout's)."""
    argv, _ = bench.Provision().command(fleet, work)
    return [sys.executable, "-m", "provision", *argv[1:]]


def hot_spots(raw: Path, top: int = 25) -> str:
    """py-spy's collapsed stacks (--format raw) as the functions with the most samples: on the
    stack (inclusive) and at its top (self)."""
    incl: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")[1:]]  # [0] is the thread
        total += int(count)
        for f in set(frames):
            incl[f] += int(count)
        if frames:
            own[frames[-1]] += int(count)
    out = [f"{total} samples"]
    for title, counter in (("self", own), ("inclusive", incl)):
        out.append(f"-- {title}")
        out += [f"{100 * c / total:5.1f}%  {f}" for f, c in counter.most_common(top)]
    return "\n".join(out)


def listener(host) -> int:
    for pid in Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split():
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
            return int(pid)
    raise RuntimeError(f"{host.name}: no sshd listener")


def checked_verify(fleet, work: Path, argv: list[str]) -> dict:
    """``provision verify java17`` on the converged fleet: rc 0 and every host's checks passed."""
    r = bench.run_counted(argv, fleet, work, cwd=REPO)
    if r["rc"] != 0:
        raise RuntimeError(f"verify failed: rc={r['rc']}: {r['out'][-400:]}")
    return r


def verify_command(fleet) -> list[str]:
    """The bench's ``provision verify`` (bench/run.py verify_both), run by this tree's code."""
    return [sys.executable, "-m", "provision", "verify", "java17", *[a for h in fleet.hosts for a in ("-H", h.name)],
            "--ssh-config", str(fleet.ssh_config), "--known-hosts", str(fleet.known_hosts), "-q",
            "--forks", str(max(10, len(fleet.hosts)))]


CHECKED = None  # --verify: checked_verify instead of the no-op apply


def checked_noop(fleet, work: Path, argv: list[str]) -> dict:
    if CHECKED is not None:
        return CHECKED(fleet, work, argv)
    before = [bench.fingerprint(h) for h in fleet.hosts]
    r = bench.run_counted(argv, fleet, work, cwd=REPO)
    touched = [h.name for h, fp in zip(fleet.hosts, before, strict=True) if bench.fingerprint(h) != fp]
    if r["rc"] != 0 or touched or not bench.noop_reported(bench.Provision(), r["out"], len(fleet.hosts)):
        raise RuntimeError(f"not a no-op: rc={r['rc']}, touched {touched}: {r['out'][-400:]}")
    return r


def perf_noop(fleet, work: Path, argv: list[str]) -> dict:
    """A checked no-op with ``perf stat -e task-clock`` on every host's sshd listener (inherited by
    what it forks from then on): the hosts' CPU in ms, finer than /proc's clock ticks."""
    out = work / "perf.txt"
    pids = ",".join(str(listener(h)) for h in fleet.hosts)
    perf = subprocess.Popen(["perf", "stat", "-e", "task-clock", "-x", ",", "-o", str(out), "-p", pids],
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached
    try:
        r = checked_noop(fleet, work, argv)
    finally:
        perf.send_signal(signal.SIGINT)  # only the perf this started
        perf.wait(10)
    for line in out.read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] == "task-clock":
            r["task_clock"] = float(fields[0]) / 1000
    return r


def traced(fleet, work: Path, argv: list[str]) -> collections.Counter:
    """The programs one no-op started on the first host (execve, by basename)."""
    out = work / "strace.txt"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-s", "64",
                               "-o", str(out), "-p", str(listener(fleet.hosts[0]))])
    time.sleep(1.0)  # attached
    try:
        checked_noop(fleet, work, argv)
        time.sleep(0.5)
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches; only the strace this started
        tracer.wait(10)
    return lab.execlog.started(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--verify", action="store_true",
                    help="profile `provision verify java17` on the converged hosts instead of a no-op apply")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--py-spy", dest="pyspy", help="also one no-op under this py-spy (its hot spots printed)")
    args = ap.parse_args()
    n = args.hosts
    with bench.lab.hosts.Fleet(bench.lab.jdk_base(), n) as fleet:
        work = Path(tempfile.mkdtemp(prefix="host-profile-"))
        argv = provision(fleet, work)
        first = bench.run_counted(argv, fleet, work, cwd=REPO)
        if first["rc"] != 0 or not all(bench.converged(h) for h in fleet.hosts):
            raise SystemExit(f"converge failed: {first['out'][-600:]}")
        if args.verify:
            global CHECKED
            CHECKED = checked_verify
            argv = verify_command(fleet)
        checked_noop(fleet, work, argv)  # warm: the first no-op after a change is not the daily one
        if not args.no_strace:
            names = traced(fleet, work, argv)
            print(f"commands on {fleet.hosts[0].name} per run: {sum(names.values())} ({work / 'strace.txt'})")
            print("  " + ", ".join(f"{k} {v}" for k, v in names.most_common()))
        runs = [perf_noop(fleet, work, argv) for _ in range(args.runs)]
        load = os.getloadavg()[0]
        measures = (("hosts' CPU (perf task-clock)", "task_clock"), ("hosts' CPU (/proc)", "hosts_cpu"),
                    ("controller CPU", "cpu"), ("wall", "seconds"))
        for what, key in measures if runs else ():
            ms = [r.get(key, float("nan")) * 1000 / (n if key != "seconds" else 1) for r in runs]
            unit = "ms per host" if key != "seconds" else "ms"
            print(f"{what}: median {statistics.median(ms):.0f} {unit} (min {min(ms):.0f}, max {max(ms):.0f}; "
                  f"{len(ms)} runs, {n} host(s))")
        if runs:
            print(f"SSH sessions per host: {statistics.median(r['sessions'] for r in runs):.1f}")
        print(f"load average at the end: {load:.1f}")
        if args.pyspy:
            raw = work / "py-spy.txt"
            r = bench.timed([args.pyspy, "record", "-r", "250", "-f", "raw", "-o", raw, "--nolineno", "--",
                             *provision(fleet, work)], cwd=REPO)  # py-spy's own exit status may be 1 (ECHILD)
            doc, _ = json.JSONDecoder().raw_decode(r["out"][r["out"].index("{"):])  # py-spy's lines follow
            if len(doc["hosts"]) != n or any(h["changed"] or h["failed"] for h in doc["hosts"]):
                raise SystemExit(f"the no-op under py-spy was not one: {r['out'][-400:]}")
            print(hot_spots(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
