#!/usr/bin/env python3
"""Benchmark: provision against Ansible (ansible-core) and pyinfra on the same job, as ratios.

What is measured: wall-clock seconds of one command run by each tool against a fleet of N real lab
hosts (tests/lab: Debian 12 roots booted on this machine, each with its own sshd on 127.0.0.N),
booted fresh for every tool and repeat from the lab's jdk base (openjdk-17-jdk-headless installed,
no JAVA_HOME), so apt downloads do not dominate:

1. converge: the JDK is already installed; JAVA_HOME is added to /etc/environment;
2. no-op: the same command again on the converged hosts (the common daily case);
3. bash floor: a hand-written `ssh host '<check> || <fix>'` per host, in parallel (converge, then
   no-op), i.e. what the job costs with nothing but OpenSSH.

Each scenario reports the median of --repeat runs and its ratio to provision's median, plus SSH
connections and sessions per host, counted in each host's sshd log (LogLevel DEBUG1).

Why it is fair: every tool gets the same hosts (same base image, same loopback sshd, booted the same
way), the same job (package present without recommends + a JAVA_HOME line in /etc/environment),
the same parallelism (N forks / --parallel N / N ssh processes) and host key checking on, against
the lab's known_hosts. Each tool runs in its fastest documented configuration: Ansible with
pipelining, no fact gathering and a fixed interpreter (no discovery), its default ControlPersist
multiplexing with a fresh control path per run (a run never reuses the previous run's connection).
A run only counts when the result is checked: JAVA_HOME on every host afterwards, and the no-op run
reported no change by the tool *and* left /etc/environment and dpkg's status untouched. A tool
that fails is reported as failed, not timed.

Not equal, and reported rather than hidden: Ansible needs Python (and python3-apt for its apt module)
on every target; provision and pyinfra need only a POSIX shell. python3 + python3-apt are
installed into the Ansible fleets before the timed runs (from .debs fetched once into
bench/.cache); that install time is reported beside Ansible's numbers, never inside them.
provision's java17 playbook also checks that the JDK is the default java (one more thing done).

Run as root from the repository root with the project venv:  .venv/bin/python bench/run.py --hosts 10
The first run creates bench/.venv (pip install ansible-core pyinfra). Not run by CI or pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
VENV = BENCH / ".venv"
DEBS = BENCH / ".cache" / "debs"
PROVISION = REPO / ".venv" / "bin" / "provision"
sys.path.insert(0, str(REPO / "tests"))

import lab  # noqa: E402 - tests/ is on sys.path from here on
import lab.hosts  # noqa: E402

PKG = "openjdk-17-jdk-headless"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"  # the lab is amd64; provision derives it itself
LINE = f'JAVA_HOME="{JAVA_HOME}"'
JAVA_HOME_RE = re.compile(r'^JAVA_HOME="?/usr/lib/jvm/java-17-openjdk-[a-z0-9]+"?$', re.MULTILINE)
TIMEOUT = 1800

ANSIBLE_PLAY = f"""- hosts: all
  gather_facts: false
  tasks:
    - name: OpenJDK 17
      apt: {{name: {PKG}, state: present, install_recommends: false}}
    - name: JAVA_HOME in /etc/environment
      lineinfile: {{path: /etc/environment, regexp: '^JAVA_HOME=', line: '{LINE}'}}
"""
PYINFRA_DEPLOY = f"""from pyinfra.operations import apt, files
apt.packages(name="OpenJDK 17", packages=["{PKG}"], no_recommends=True)
files.line(name="JAVA_HOME in /etc/environment", path="/etc/environment", line="^JAVA_HOME=",
           replace={LINE!r})
"""
BASH_JOB = (f"dpkg-query -W -f='${{Status}}' {PKG} 2>/dev/null | grep -q 'ok installed' || "
            f"{{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {PKG} "
            f">/dev/null && echo CHANGED; }}; grep -q '^JAVA_HOME=' /etc/environment || "
            f"{{ echo '{LINE}' >> /etc/environment && echo CHANGED; }}")


def sh(argv: list, *, env: dict | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, env=env, timeout=timeout, check=False)


# -- the tools -------------------------------------------------------------------------------------
class Tool:
    name = ""

    def prepare(self, fleet, work: Path) -> float:
        """Untimed setup on the fleet; returns the seconds it took (0 when there is none)."""
        return 0.0

    def command(self, fleet, work: Path) -> tuple[list, dict | None]:
        raise NotImplementedError

    def after(self, work: Path) -> None:
        """Untimed clean-up after each run."""

    def reported_noop(self, out: str, n: int) -> bool:
        """Whether the tool's own report says that nothing changed on any of the n hosts."""
        raise NotImplementedError


class Provision(Tool):
    name = "provision"

    def command(self, fleet, work):
        inv = work / "inv.yml"
        inv.write_text("hosts:\n" + "".join(f"  {h.name}: {{}}\n" for h in fleet))
        return [PROVISION, "apply", "java17", "-i", inv, "--ssh-config", fleet.ssh_config,
                "--known-hosts", fleet.known_hosts, "--forks", len(fleet), "--json", "-q"], None

    def reported_noop(self, out, n):
        doc = json.loads(out[out.index("{"):])  # --json on stdout; -q keeps stderr short
        hosts = doc["hosts"]
        return len(hosts) == n and all(h["changed"] == 0 and not h["failed"] for h in hosts)


class Ansible(Tool):
    name = "ansible"

    def prepare(self, fleet, work):
        """python3 + python3-apt on every host (Ansible's modules run in Python on the target)."""
        t0 = time.monotonic()

        def install(host):
            archives = host.root.file("/var/cache/apt/archives")
            for deb in DEBS.glob("*.deb"):
                shutil.copy(deb, archives / deb.name)
            host.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                    "--no-download python3 python3-apt >/dev/null")

        with ThreadPoolExecutor(len(fleet)) as pool:
            list(pool.map(install, fleet))
        return time.monotonic() - t0

    def command(self, fleet, work):
        (work / "play.yml").write_text(ANSIBLE_PLAY)
        (work / "inventory.ini").write_text(
            "[lab]\n" + "".join(f"{h.name}\n" for h in fleet)
            + f"[lab:vars]\nansible_user=root\nansible_ssh_common_args=-F {fleet.ssh_config}\n")
        (work / "ansible.cfg").write_text(
            f"[defaults]\nforks = {len(fleet)}\nhost_key_checking = True\ngathering = explicit\n"
            f"interpreter_python = /usr/bin/python3\nnocolor = True\nlocal_tmp = {work}/tmp\n"
            f"[ssh_connection]\npipelining = True\ncontrol_path_dir = {tempfile.mkdtemp(dir=work)}\n")
        env = {**os.environ, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
        return [VENV / "bin" / "ansible-playbook", "-i", work / "inventory.ini", work / "play.yml"], env

    def after(self, work):
        """Close the ControlPersist masters this run left (the next run must connect afresh)."""
        for sock in work.glob("tmp*/*"):
            if sock.is_socket():
                sh(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], timeout=30)

    def reported_noop(self, out, n):
        recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.MULTILINE)
        return len(recap) == n and all(c == u == f == "0" for _, c, u, f in recap)


class Pyinfra(Tool):
    name = "pyinfra"

    def command(self, fleet, work):
        (work / "deploy.py").write_text(PYINFRA_DEPLOY)
        hosts = [(h.name, {"ssh_hostname": h.address, "ssh_user": "root", "ssh_key": str(fleet.key),
                           "ssh_known_hosts_file": str(fleet.known_hosts),
                           "ssh_strict_host_key_checking": "yes"}) for h in fleet]
        (work / "inventory.py").write_text(f"hosts = {hosts!r}\n")
        return [VENV / "bin" / "pyinfra", "-y", "--parallel", len(fleet), "--no-wait",
                work / "inventory.py", work / "deploy.py"], None

    def reported_noop(self, out, n):
        # pyinfra 3.x results table: "Grand total  <runs>  <success>  <error>  <no change>"
        m = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
        return m is not None and m.group(2) == m.group(3) == "-" and m.group(4) == m.group(1)


class Bash(Tool):
    name = "bash (floor)"

    def command(self, fleet, work):
        script = work / "fanout.sh"
        script.write_text("".join(f"ssh -F {fleet.ssh_config} root@{h.name} \"$1\" > {work}/{h.name}.out 2>&1 "
                                  f"|| echo FAILED {h.name} & \n" for h in fleet)
                          + f"wait\ncat {work}/*.out\n")
        return ["sh", script, BASH_JOB], None

    def reported_noop(self, out, n):
        return "CHANGED" not in out and "FAILED" not in out


TOOLS = {t.name: t for t in (Provision(), Ansible(), Pyinfra(), Bash())}


# -- checks and counts -----------------------------------------------------------------------------
def converged(host) -> bool:
    env = host.root.file("/etc/environment").read_text()
    status = host.root.file("/var/lib/dpkg/status").read_text()
    return len(JAVA_HOME_RE.findall(env)) == 1 and \
        re.search(rf"^Package: {PKG}\nStatus: install ok installed$", status, re.MULTILINE) is not None


def fingerprint(host) -> tuple:
    files = [host.root.file(p) for p in ("/etc/environment", "/var/lib/dpkg/status")]
    return tuple((hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files)


def ssh_counts(fleet) -> tuple[int, int]:
    logs = [h.sshd_log() for h in fleet]
    return (sum(log.count("Accepted publickey") for log in logs),
            sum(len(re.findall(r"Starting session: ", log)) for log in logs))


def timed_run(tool: Tool, fleet, work: Path) -> dict:
    argv, env = tool.command(fleet, work)
    conns0, sess0 = ssh_counts(fleet)
    t0 = time.monotonic()
    proc = sh(argv, env=env)
    seconds = time.monotonic() - t0
    tool.after(work)
    conns, sess = ssh_counts(fleet)
    with (work / "output.log").open("a") as log:
        log.write(f"$ {' '.join(map(str, argv))}\n{proc.stdout}\n")
    return {"seconds": seconds, "rc": proc.returncode, "out": proc.stdout,
            "connections": (conns - conns0) / len(fleet), "sessions": (sess - sess0) / len(fleet)}


def noop_reported(tool: Tool, out: str, n: int) -> bool:
    try:
        return tool.reported_noop(out, n)
    except (ValueError, KeyError, TypeError):  # no parsable report: not a no-op
        return False


def one_round(tool: Tool, n: int, logdir: Path) -> dict:
    """A fresh fleet: prepare, converge, no-op; every run checked. {scenario: result}; a scenario
    that failed has an "error", one that did not run is missing."""
    results: dict = {}
    stage = "prepare"
    try:
        with lab.hosts.Fleet(lab.jdk_base(), n) as fleet:
            work = Path(tempfile.mkdtemp(prefix=f"{tool.name.split()[0]}-", dir=logdir))
            results["prepare_seconds"] = tool.prepare(fleet, work)
            stage = "converge"
            first = timed_run(tool, fleet, work)
            bad = [h.name for h in fleet if not converged(h)]
            if first["rc"] != 0 or bad:
                first["error"] = f"rc={first['rc']}, not converged: {bad}"
            results["converge"] = first
            if "error" in first:
                return results
            stage = "noop"
            before = [fingerprint(h) for h in fleet]
            again = timed_run(tool, fleet, work)
            touched = [h.name for h, fp in zip(fleet, before, strict=True) if fingerprint(h) != fp]
            reported = noop_reported(tool, again["out"], n)
            if again["rc"] != 0 or touched or not reported or not all(converged(h) for h in fleet):
                again["error"] = f"rc={again['rc']}, files changed on {touched}, tool reported no-op: {reported}"
            results["noop"] = again
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # a failure, not a crash
        results.setdefault("converge" if stage == "prepare" else stage, {"error": f"{stage}: {exc!r}"})
    return results


# -- setup, report ---------------------------------------------------------------------------------
def ensure_tools() -> dict:
    if not (VENV / "bin" / "pyinfra").exists() or not (VENV / "bin" / "ansible-playbook").exists():
        print("creating bench/.venv (pip install ansible-core pyinfra)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "ansible-core", "pyinfra"], check=True)
    code = "import importlib.metadata as m; print(m.version('ansible-core'), m.version('pyinfra'))"
    out = sh([VENV / "bin" / "python", "-c", code]).stdout.split()
    return {"provision": sh([PROVISION, "--version"]).stdout.split()[-1],
            "ansible-core": out[0], "pyinfra": out[1], "openssh": sh(["ssh", "-V"]).stdout.strip()}


def ensure_debs() -> None:
    """python3 + python3-apt .debs for the Ansible fleets, fetched once with the lab's apt mirror."""
    if any(DEBS.glob("python3-apt_*.deb")):
        return
    DEBS.mkdir(parents=True, exist_ok=True)
    with lab.Root(lab.jdk_base(), name="bench-debs") as root:
        root.sh("apt-get install -y -q --download-only --no-install-recommends python3 python3-apt >/dev/null")
        for deb in root.file("/var/cache/apt/archives").glob("*.deb"):
            if not (lab.jdk_base() / "var/cache/apt/archives" / deb.name).exists():
                shutil.copy(deb, DEBS / deb.name)


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version()}


def summarise(rounds: dict, scenario: str) -> dict:
    out = {}
    for name, rs in rounds.items():
        runs = [r.get(scenario) for r in rs]
        errors = [r.get("error", "") if r else "did not run (converge failed)" for r in runs
                  if r is None or "error" in r]
        if errors:
            out[name] = {"failed": True, "error": errors[0]}
            continue
        out[name] = {"failed": False, "median": statistics.median(r["seconds"] for r in runs),
                     "runs": [round(r["seconds"], 2) for r in runs],
                     "connections_per_host": statistics.median(r["connections"] for r in runs),
                     "sessions_per_host": statistics.median(r["sessions"] for r in runs)}
    base = out.get("provision", {}).get("median")
    for r in out.values():
        if not r["failed"] and base:
            r["ratio"] = round(r["median"] / base, 2)
    return out


def table(title: str, rows: dict) -> str:
    header = f"{'tool':<14} {'median s':>9} {'vs provision':>13} {'conn/host':>10} {'sessions/host':>14}  runs"
    lines = [f"\n{title}", header]
    for name, r in rows.items():
        if r["failed"]:
            lines.append(f"{name:<14} {'FAILED':>9}  {r['error'][:200]}")
        else:
            ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "-"
            lines.append(f"{name:<14} {r['median']:>9.2f} {ratio:>13} {r['connections_per_host']:>10.1f} "
                         f"{r['sessions_per_host']:>14.1f}  {r['runs']}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: " + ", ".join(TOOLS))
    ap.add_argument("--json-out", default=str(BENCH / "results.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/run.py boots lab hosts: run it as root")
    tools = [TOOLS[t.strip()] for t in args.tools.split(",")]
    versions = ensure_tools()
    lab.jdk_base()
    if any(t.name == "ansible" for t in tools):
        ensure_debs()
    logdir = Path(tempfile.mkdtemp(prefix="bench-", dir="/var/tmp"))
    print(f"{args.hosts} hosts, {args.repeat} repeats; tool output in {logdir}", file=sys.stderr)
    rounds: dict = {t.name: [] for t in tools}
    for i in range(args.repeat):
        order = tools[i % len(tools):] + tools[:i % len(tools)]  # rotate: no tool always goes first
        for tool in order:
            print(f"round {i + 1}/{args.repeat}: {tool.name}", file=sys.stderr)
            rounds[tool.name].append(one_round(tool, args.hosts, logdir))
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "versions": versions, "hosts": args.hosts, "repeat": args.repeat,
              "scenarios": {s: summarise(rounds, s) for s in ("converge", "noop")}}
    prep = [r["prepare_seconds"] for r in rounds.get("ansible", []) if "prepare_seconds" in r]
    if prep:
        result["ansible_python3_install_seconds"] = round(statistics.median(prep), 2)
    print(f"\nprovision {versions['provision']}, ansible-core {versions['ansible-core']}, pyinfra "
          f"{versions['pyinfra']}; {result['machine']['cpus']} CPUs; {args.hosts} hosts; "
          f"median of {args.repeat}")
    print(table("converge (JDK present, JAVA_HOME missing):", result["scenarios"]["converge"]))
    print(table("no-op (already converged):", result["scenarios"]["noop"]))
    if prep:
        print(f"\nansible only: python3 + python3-apt installed on every host first "
              f"(not in the times above): median {result['ansible_python3_install_seconds']:.1f}s "
              f"for {args.hosts} hosts in parallel")
    Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
