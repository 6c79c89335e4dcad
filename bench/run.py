#!/usr/bin/env python3
"""Benchmark: provision against Ansible (ansible-core), pyinfra, pytest-testinfra and a bash
floor on the same job and the same lab hosts, as ratios measured side by side in one run.

Scenarios (every tool, the tools' order rotating from one repeat to the next):

- startup: ``--version`` and ``--help`` of each tool's command (no host);
- converge@N: N hosts booted from the lab's jdk base (openjdk-17-jdk-headless installed, no
  JAVA_HOME): the package is already there, JAVA_HOME is written;
- noop@N: the same command again on the converged hosts (the daily case); it must be reported
  as "no change" by the tool and leave /etc/environment and dpkg's status untouched;
- first@1: one fresh host (the lab's base: no JDK): apt-get update, then the JDK installed (every
  tool updates the lists; the .debs are put in the host's apt cache beforehand, for every tool,
  so that the mirror's speed does not decide);
- verify@N: on the converged hosts, ``provision verify java17`` against pytest-testinfra running
  bench/testinfra_java17.py (the same checks, hand-written) over its paramiko backend, with
  pytest-xdist spreading them over N workers;
- for each run: wall seconds, peak memory (max RSS of the tool's process), SSH connections and
  sessions per host (counted in each host's sshd log).

The floors: the bash floor is one OpenSSH connection per host running ``<check> || <fix>`` (with
OpenSSH's default key exchange, and again with curve25519), the paramiko floor one thread and one
paramiko connection per host in one Python process; "vs floor" is against the lowest of them in
the same scenario: what the job costs with nothing but an SSH client. A run counts only when its
result is checked (JAVA_HOME and the package on every host; verify: every check passed); a tool
that fails is reported as FAILED, not timed.

Run as root from the repository root with the project venv:
    .venv/bin/python bench/run.py                 # everything: 1, 10 and 50 hosts, 3 repeats
    .venv/bin/python bench/run.py --smoke         # 1 host, 1 repeat, every tool and scenario
The first run creates bench/.venv (bench/requirements.txt) and fetches python3 + python3-apt .debs
for the Ansible hosts into bench/.cache. Results: bench/RESULTS.md and bench/results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
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
import lab.peakrss  # noqa: E402

PKG = "openjdk-17-jdk-headless"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"  # the lab is amd64; provision derives it itself
LINE = f'JAVA_HOME="{JAVA_HOME}"'
JAVA_HOME_RE = re.compile(r'^JAVA_HOME="?/usr/lib/jvm/java-17-openjdk-[a-z0-9]+"?$', re.MULTILINE)
TIMEOUT = 1800
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as a user runs them

ANSIBLE_PLAY = """- hosts: all
  gather_facts: false
  tasks:
    - name: OpenJDK 17
      apt: {{name: {pkg}, state: present, install_recommends: false{update}}}
    - name: JAVA_HOME in /etc/environment
      lineinfile: {{path: /etc/environment, regexp: '^JAVA_HOME=', line: '{line}'}}
"""
PYINFRA_DEPLOY = """from pyinfra.operations import apt, files
apt.packages(name="OpenJDK 17", packages=["{pkg}"], no_recommends=True{update})
files.line(name="JAVA_HOME in /etc/environment", path="/etc/environment", line="^JAVA_HOME=",
           replace={line!r})
"""
BASH_JOB = ("{update}dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null | grep -q 'ok installed' || "
            "{{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {pkg} "
            ">/dev/null && echo CHANGED; }}; grep -q '^JAVA_HOME=' /etc/environment || "
            "{{ echo '{line}' >> /etc/environment && echo CHANGED; }}")


def timed(argv: list, *, env: dict | None = None, cwd: Path | None = None, timeout: float = TIMEOUT) -> dict:
    """Run argv: its output, exit status, wall seconds, peak memory (max RSS, MB: the largest of
    the process and the children it waited for) and CPU seconds (the process and the children it
    waited for: its ssh processes too). All are the command's own (lab.peakrss): spawned straight
    from here, its max RSS would be this process's if that were larger."""
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as tmp:
        report = Path(tmp) / "usage"
        proc = subprocess.Popen(lab.peakrss.wrapped([str(a) for a in argv], report), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env or ENV, cwd=cwd,
                                start_new_session=True)  # a timeout kills the command with its wrapper
        chunks: list[bytes] = []
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read(65536), b"")))
        reader.start()
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        proc.wait()
        killer.cancel()
        reader.join()
        proc.stdout.close()
        if not report.exists():  # killed by the timeout
            return {"seconds": timeout, "rc": proc.returncode, "out": b"".join(chunks).decode("utf-8", "replace"),
                    "rss_mb": 0.0, "cpu": 0.0}
        usage = lab.peakrss.read(report)
    return {"seconds": usage.seconds, "rc": proc.returncode, "out": b"".join(chunks).decode("utf-8", "replace"),
            "rss_mb": usage.rss_mb, "cpu": usage.cpu}


# -- the tools -------------------------------------------------------------------------------------
class Tool:
    name = ""
    floor = False  # a floor: the job with nothing but an SSH client; "vs floor" is against the lowest
    version_cmd: list = []
    help_cmd: list = []

    def prepare(self, fleet, work: Path) -> float:
        """Untimed setup on the fleet; returns the seconds it took (0 when there is none)."""
        return 0.0

    def command(self, fleet, work: Path, *, update: bool = False) -> tuple[list, dict | None]:
        raise NotImplementedError

    def after(self, work: Path) -> None:
        """Untimed clean-up after each run."""

    def reported_noop(self, out: str, n: int) -> bool:
        """Whether the tool's own report says that nothing changed on any of the n hosts."""
        raise NotImplementedError


class Provision(Tool):
    name = "provision"
    version_cmd = [PROVISION, "--version"]
    help_cmd = [PROVISION, "--help"]

    def command(self, fleet, work, *, update=False):
        inv = work / "inv.yml"
        inv.write_text("hosts:\n" + "".join(f"  {h.name}: {{}}\n" for h in fleet.hosts))
        # update: provision decides itself (lists older than a day: the bench makes them so)
        return [PROVISION, "apply", "java17", "-i", inv, "--ssh-config", fleet.ssh_config,
                "--known-hosts", fleet.known_hosts, "--forks", max(10, len(fleet.hosts)), "--json", "-q"], None

    def reported_noop(self, out, n):
        doc = json.loads(out[out.index("{"):])  # --json on stdout; -q keeps stderr short
        hosts = doc["hosts"]
        return len(hosts) == n and all(h["changed"] == 0 and not h["failed"] for h in hosts)


class ProvisionParamiko(Provision):
    name = "provision (paramiko)"
    version_cmd: list = []
    help_cmd: list = []

    def command(self, fleet, work, *, update=False):
        argv, _ = super().command(fleet, work, update=update)
        return [*argv, "--ssh-transport", "paramiko"], None


class Ansible(Tool):
    name = "ansible"
    version_cmd = [VENV / "bin" / "ansible-playbook", "--version"]
    help_cmd = [VENV / "bin" / "ansible-playbook", "--help"]

    def prepare(self, fleet, work):
        """python3 + python3-apt on every host (Ansible's modules run in Python on the target)."""
        t0 = time.monotonic()

        def install(host):
            archives = host.root.file("/var/cache/apt/archives")
            for deb in DEBS.glob("*.deb"):
                shutil.copy(deb, archives / deb.name)
            host.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                    "--no-download python3 python3-apt >/dev/null")

        with ThreadPoolExecutor(min(16, len(fleet.hosts))) as pool:
            list(pool.map(install, fleet.hosts))
        return time.monotonic() - t0

    def command(self, fleet, work, *, update=False):
        (work / "play.yml").write_text(ANSIBLE_PLAY.format(pkg=PKG, line=LINE, update=", update_cache: true"
                                                           if update else ""))
        (work / "inventory.ini").write_text(
            "[lab]\n" + "".join(f"{h.name}\n" for h in fleet.hosts)
            + f"[lab:vars]\nansible_user=root\nansible_ssh_common_args=-F {fleet.ssh_config}\n")
        (work / "ansible.cfg").write_text(
            f"[defaults]\nforks = {len(fleet.hosts)}\nhost_key_checking = True\ngathering = explicit\n"
            f"interpreter_python = /usr/bin/python3\nnocolor = True\nlocal_tmp = {work}/tmp\n"
            f"[ssh_connection]\npipelining = True\ncontrol_path_dir = {tempfile.mkdtemp(dir=work)}\n")
        env = {**ENV, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
        return [VENV / "bin" / "ansible-playbook", "-i", work / "inventory.ini", work / "play.yml"], env

    def after(self, work):
        """Close the ControlPersist masters this run left (the next run must connect afresh)."""
        for sock in work.glob("tmp*/*"):
            if sock.is_socket():
                subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], capture_output=True,
                               timeout=30, check=False)

    def reported_noop(self, out, n):
        recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.MULTILINE)
        return len(recap) == n and all(c == u == f == "0" for _, c, u, f in recap)


class Pyinfra(Tool):
    name = "pyinfra"
    version_cmd = [VENV / "bin" / "pyinfra", "--version"]
    help_cmd = [VENV / "bin" / "pyinfra", "--help"]

    def command(self, fleet, work, *, update=False):
        (work / "deploy.py").write_text(PYINFRA_DEPLOY.format(pkg=PKG, line=LINE, update=", update=True"
                                                              if update else ""))
        hosts = [(h.name, {"ssh_hostname": h.address, "ssh_user": "root", "ssh_key": str(fleet.key),
                           "ssh_known_hosts_file": str(fleet.known_hosts),
                           "ssh_strict_host_key_checking": "yes"}) for h in fleet.hosts]
        (work / "inventory.py").write_text(f"hosts = {hosts!r}\n")
        return [VENV / "bin" / "pyinfra", "-y", "--parallel", len(fleet.hosts), "--no-wait",
                work / "inventory.py", work / "deploy.py"], None

    def reported_noop(self, out, n):
        # pyinfra 3.x results table: "Grand total  <runs>  <success>  <error>  <no change>"
        m = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
        return m is not None and m.group(2) == m.group(3) == "-" and m.group(4) == m.group(1)


class Bash(Tool):
    """A floor: N parallel ``ssh host '<check> || <fix>'``, OpenSSH's defaults."""
    name = "bash (floor)"
    floor = True
    ssh_options = ""

    def command(self, fleet, work, *, update=False):
        script = work / "fanout.sh"
        script.write_text("".join(f"ssh -F {fleet.ssh_config} {self.ssh_options}root@{h.name} \"$1\" "
                                  f"> {work}/{h.name}.out 2>&1 || echo FAILED {h.name} & \n" for h in fleet.hosts)
                          + f"wait\ncat {work}/*.out\n")
        return ["sh", script, job(update)], None

    def reported_noop(self, out, n):
        return "CHANGED" not in out and "FAILED" not in out


class BashCurve(Bash):
    """The same with the key exchange provision's OpenSSH transport prefers (curve25519, not the
    post-quantum sntrup761 that OpenSSH 9.2 picks by default). The cipher stays OpenSSH's
    (chacha20-poly1305, as in provision): aes128-gcm and aes128-ctr measured the same here."""
    name = "bash curve25519 (floor)"
    ssh_options = "-o KexAlgorithms=curve25519-sha256 "


class ParamikoThreads(Bash):
    """A floor: one Python process, one thread and one paramiko connection per host
    (bench/paramiko_floor.py), each running the same ``<check> || <fix>``."""
    name = "paramiko threads (floor)"

    def command(self, fleet, work, *, update=False):
        return [VENV / "bin" / "python", BENCH / "paramiko_floor.py", fleet.key, fleet.known_hosts, job(update),
                *[f"{h.name}={h.address}" for h in fleet.hosts]], None


def job(update: bool) -> str:
    return BASH_JOB.format(pkg=PKG, line=LINE, update="apt-get update -q >/dev/null; " if update else "")


TOOLS = {t.name: t for t in (Provision(), ProvisionParamiko(), Ansible(), Pyinfra(), Bash(), BashCurve(),
                             ParamikoThreads())}
FLOORS = [name for name, t in TOOLS.items() if t.floor]
VERIFIERS = ("provision verify", "testinfra")


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
    logs = [h.sshd_log() for h in fleet.hosts]
    return (sum(log.count("Accepted publickey") for log in logs),
            sum(len(re.findall(r"Starting session: ", log)) for log in logs))


def hosts_cpu(fleet) -> float:
    """CPU seconds used on the hosts' side: every sshd listener's own and its reaped children's
    (the logins, their sessions and whatever the job ran there)."""
    total = 0
    for host in fleet.hosts:
        for pid in Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() != "sshd":
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def run_counted(argv: list, fleet, work: Path, env: dict | None = None, cwd: Path | None = None) -> dict:
    conns0, sess0 = ssh_counts(fleet)
    cpu0 = hosts_cpu(fleet)
    r = timed(argv, env=env, cwd=cwd)
    time.sleep(0.3)  # the last sessions' sshd are reaped (their CPU counted) by their listener
    r["hosts_cpu"] = hosts_cpu(fleet) - cpu0
    conns, sess = ssh_counts(fleet)
    with (work / "output.log").open("a") as log:
        log.write(f"$ {' '.join(map(str, argv))}\n{r['out']}\n")
    n = len(fleet.hosts)
    r.update(connections=(conns - conns0) / n, sessions=(sess - sess0) / n)
    return r


def tool_run(tool: Tool, fleet, work: Path, *, update: bool = False) -> dict:
    argv, env = tool.command(fleet, work, update=update)
    r = run_counted(argv, fleet, work, env)
    tool.after(work)
    return r


def noop_reported(tool: Tool, out: str, n: int) -> bool:
    try:
        return tool.reported_noop(out, n)
    except (ValueError, KeyError, TypeError):  # no parsable report: not a no-op
        return False


def converge_and_noop(tool: Tool, n: int, logdir: Path, verify: str | None) -> dict:
    """A fresh fleet of n converged-but-JAVA_HOME hosts: prepare, converge, no-op (and verify);
    every run checked. {scenario: result}; a failed scenario has an "error". ``verify``: which
    verifier goes first on these hosts (None: no verify scenario)."""
    results: dict = {}
    stage = f"converge@{n}"
    try:
        with lab.hosts.Fleet(lab.jdk_base(), n) as fleet:
            work = Path(tempfile.mkdtemp(prefix=f"{tool.name.split()[0]}-{n}-", dir=logdir))
            results["prepare_seconds"] = tool.prepare(fleet, work)
            first = tool_run(tool, fleet, work)
            bad = [h.name for h in fleet.hosts if not converged(h)]
            if first["rc"] != 0 or bad:
                first["error"] = f"rc={first['rc']}, not converged: {bad[:5]}"
            results[stage] = first
            if "error" in first:
                return results
            stage = f"noop@{n}"
            before = [fingerprint(h) for h in fleet.hosts]
            again = tool_run(tool, fleet, work)
            touched = [h.name for h, fp in zip(fleet.hosts, before, strict=True) if fingerprint(h) != fp]
            reported = noop_reported(tool, again["out"], n)
            if again["rc"] != 0 or touched or not reported or not all(converged(h) for h in fleet.hosts):
                again["error"] = f"rc={again['rc']}, files changed on {touched[:5]}, tool reported no-op: {reported}"
            results[stage] = again
            if verify:
                stage = f"verify@{n}"
                results.update(verify_both(fleet, work, n, verify))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # a failure, not a crash
        results.setdefault(stage, {"error": f"{stage}: {exc!r}"})
    return results


def verify_both(fleet, work: Path, n: int, first: str = "provision verify") -> dict:
    """provision verify and testinfra on the same converged hosts, in the order given."""
    hosts = [h.name for h in fleet.hosts]
    shutil.copy(BENCH / "testinfra_java17.py", work / "test_java17.py")  # run outside this repository
    commands = {
        "provision verify": ([PROVISION, "verify", "java17", *[a for h in hosts for a in ("-H", h)],
                              "--ssh-config", fleet.ssh_config, "--known-hosts", fleet.known_hosts, "-q",
                              "--forks", max(10, n)], None),
        "testinfra": ([VENV / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", n,
                       "--hosts=" + ",".join(f"paramiko://root@{h}" for h in hosts),
                       f"--ssh-config={fleet.ssh_config}", "test_java17.py"], work),
    }
    out = {}
    for name in sorted(commands, key=lambda k: k != first):
        argv, cwd = commands[name]
        r = run_counted(argv, fleet, work, cwd=cwd)
        if r["rc"] != 0:
            r["error"] = f"rc={r['rc']}: {r['out'][-300:]}"
        out[f"verify@{n}:{name}"] = r
    return out


def first_run(tool: Tool, logdir: Path) -> dict:
    """One fresh host (no JDK): the tool's first run, with apt-get update."""
    stage = "first@1"
    try:
        with lab.hosts.Fleet(lab.ensure_base(), 1) as fleet:
            work = Path(tempfile.mkdtemp(prefix=f"{tool.name.split()[0]}-first-", dir=logdir))
            host = fleet.hosts[0]
            archives = host.root.file("/var/cache/apt/archives")
            for deb in (lab.jdk_base() / "var/cache/apt/archives").glob("*.deb"):
                if not (archives / deb.name).exists():
                    shutil.copy(deb, archives / deb.name)
            host.sh("find /var/lib/apt/lists -maxdepth 1 -type f -exec touch -d '2 days ago' {} +")
            prep = tool.prepare(fleet, work)
            r = tool_run(tool, fleet, work, update=True)
            r["prepare_seconds"] = prep
            if r["rc"] != 0 or not converged(host):
                r["error"] = f"rc={r['rc']}, converged: {converged(host)}"
            return {stage: r}
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return {stage: {"error": f"{stage}: {exc!r}"}}


def startup(tools: list[Tool], repeat: int) -> dict:
    out: dict = {}
    for i in range(repeat):
        for tool in tools[i % len(tools):] + tools[:i % len(tools)]:
            for what, argv in (("--version", tool.version_cmd), ("--help", tool.help_cmd)):
                if argv:
                    r = timed(argv)
                    if r["rc"] != 0:
                        r["error"] = f"rc={r['rc']}"
                    out.setdefault(f"startup {what}", {}).setdefault(tool.name, []).append(r)
    return out


# -- setup, report ---------------------------------------------------------------------------------
def ensure_tools() -> dict:
    needed = ("pyinfra", "ansible-playbook", "pytest")
    if not all((VENV / "bin" / b).exists() for b in needed) or not _xdist():
        print("creating bench/.venv (pip install -r bench/requirements.txt)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r",
                        str(BENCH / "requirements.txt")], check=True)
    code = ("import importlib.metadata as m; print(*(m.version(p) for p in "
            "('ansible-core', 'pyinfra', 'pytest-testinfra', 'pytest-xdist', 'paramiko')))")
    out = subprocess.run([VENV / "bin" / "python", "-c", code], capture_output=True, text=True, check=True)
    a, p, t, x, pk = out.stdout.split()
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    prov = subprocess.run([PROVISION, "--version"], capture_output=True, text=True, check=True)
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True,
                            text=True, check=False).stdout.strip()
    return {"provision": f"{prov.stdout.split()[-1]} ({commit})", "ansible-core": a, "pyinfra": p,
            "pytest-testinfra": t, "pytest-xdist": x, "paramiko (testinfra, pyinfra)": pk,
            "openssh": (ssh.stderr or ssh.stdout).strip()}


def _xdist() -> bool:
    return any((VENV / "lib").glob("python*/site-packages/xdist"))


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
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0)
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_mb": mem, "kernel": platform.release(),
            "python": platform.python_version(), "os": platform.freedesktop_os_release().get("PRETTY_NAME", "")}


def summarise(runs: list[dict | None]) -> dict:
    errors = [r.get("error", "") if r else "did not run (an earlier stage failed)" for r in runs
              if r is None or "error" in r]
    if errors or not runs:
        return {"failed": True, "error": (errors or ["no run"])[0]}
    secs = [r["seconds"] for r in runs]
    out = {"failed": False, "median": statistics.median(secs), "min": min(secs), "max": max(secs),
           "runs": [round(s, 3) for s in secs], "rss_mb": max(r.get("rss_mb", 0.0) for r in runs)}
    out["cpu"] = statistics.median(r.get("cpu", 0.0) for r in runs)
    if "hosts_cpu" in runs[0]:
        out["hosts_cpu"] = statistics.median(r["hosts_cpu"] for r in runs)
    if "connections" in runs[0]:
        out["connections_per_host"] = statistics.median(r["connections"] for r in runs)
        out["sessions_per_host"] = statistics.median(r["sessions"] for r in runs)
    return out


def with_ratios(rows: dict, base: str, floors: list[str]) -> dict:
    """vs provision, and vs the lowest of the floors measured in this scenario (named in "floor")."""
    b = rows.get(base, {})
    measured = [name for name in floors if not rows.get(name, {}).get("failed", True)]
    floor = min(measured, key=lambda name: rows[name]["median"]) if measured else None
    for r in rows.values():
        if not r["failed"] and not b.get("failed", True):
            r["vs_provision"] = round(r["median"] / b["median"], 2)
        if floor and not r["failed"]:
            r["vs_floor"] = round(r["median"] / rows[floor]["median"], 2)
            r["floor"] = floor
    return rows


def table(title: str, rows: dict) -> str:
    floor = next((r["floor"] for r in rows.values() if r.get("floor")), None)
    title += f" (vs floor: against {floor}, the lowest floor here)" if floor else ""
    lines = [f"\n{title}\n", "| tool | median s | min–max s | vs provision | vs floor | CPU s (tool) | "
             "CPU s (hosts) | peak MB | conn/host | sessions/host |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        if r["failed"]:
            lines.append(f"| {name} | FAILED | {r['error'][:160].replace('|', '/')} | | | | | | | |")
            continue
        lines.append(f"| {name} | {r['median']:.2f} | {r['min']:.2f}–{r['max']:.2f} | "
                     f"{_x(r.get('vs_provision'))} | {_x(r.get('vs_floor'))} | {r.get('cpu', 0.0):.2f} | "
                     f"{_s(r.get('hosts_cpu'))} | {r['rss_mb']:.0f} | "
                     f"{_n(r.get('connections_per_host'))} | {_n(r.get('sessions_per_host'))} |")
    return "\n".join(lines)


def _x(v: float | None) -> str:
    return f"{v:.2f}x" if v is not None else "–"


def _s(v: float | None) -> str:
    return f"{v:.2f}" if v is not None else "–"


def _n(v: float | None) -> str:
    return f"{v:.1f}" if v is not None else "–"


def markdown(result: dict) -> str:
    m, v = result["machine"], result["versions"]
    head = [
        "# bench results", "",
        f"{result['date']}; {m['cpus']} CPUs ({m['cpu']}), {m['memory_mb']} MB, {m['os']}, kernel "
        f"{m['kernel']}, Python {m['python']}. Hosts: lab hosts on this machine (sharing its CPUs), "
        f"{result['repeat']} repeat(s), median (min–max). Written by `bench/run.py` "
        f"({'smoke: not a measurement' if result['smoke'] else 'full run'}).", "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
    ]
    body = []
    for scenario, rows in result["scenarios"].items():
        body.append(table(f"**{scenario}**", rows))
    if result.get("ansible_python3_install_seconds"):
        body.append(f"\nNot in the times above: Ansible needed python3 + python3-apt installed on every host "
                    f"first (median {result['ansible_python3_install_seconds']:.1f} s per fleet, from cached .debs).")
    return "\n".join(head + body) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,10,50", help="fleet sizes for converge/no-op (default 1,10,50)")
    ap.add_argument("--verify-size", type=int, default=10, help="fleet size of the verify scenario")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: " + ", ".join(TOOLS))
    ap.add_argument("--smoke", action="store_true", help="1 host, 1 repeat: the bench still works (CI)")
    ap.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--json-out", default=str(BENCH / "results.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/run.py boots lab hosts: run it as root")
    sizes = [1] if args.smoke else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.smoke else args.repeat
    verify_size = 1 if args.smoke else args.verify_size
    tools = [TOOLS[t.strip()] for t in args.tools.split(",")]
    versions = ensure_tools()
    lab.jdk_base()
    if any(t.name == "ansible" for t in tools):
        ensure_debs()
    logdir = Path(tempfile.mkdtemp(prefix="bench-", dir="/var/tmp"))
    print(f"sizes {sizes}, {repeat} repeat(s); tool output in {logdir}", file=sys.stderr)
    runs: dict[str, dict[str, list]] = {}

    def add(results: dict, tool: str) -> None:
        for scenario, r in results.items():
            if scenario == "prepare_seconds":
                continue
            name = tool
            if scenario.startswith("verify@"):
                scenario, name = scenario.split(":", 1)
            runs.setdefault(scenario, {}).setdefault(name, []).append(r)

    prep: list[float] = []
    for i in range(repeat):
        order = tools[i % len(tools):] + tools[:i % len(tools)]  # rotate: no tool always goes first
        for n in sizes:
            for tool in order:
                print(f"repeat {i + 1}/{repeat}: {n} host(s), {tool.name}", file=sys.stderr)
                verify = VERIFIERS[i % 2] if tool.name == "provision" and n == verify_size else None
                got = converge_and_noop(tool, n, logdir, verify)
                if tool.name == "ansible" and "prepare_seconds" in got:
                    prep.append(got["prepare_seconds"])
                add(got, tool.name)
        for tool in order:
            print(f"repeat {i + 1}/{repeat}: first run, {tool.name}", file=sys.stderr)
            add(first_run(tool, logdir), tool.name)
        if verify_size not in sizes:
            with lab.hosts.Fleet(lab.jdk_base(), verify_size) as fleet:
                work = Path(tempfile.mkdtemp(prefix="verify-", dir=logdir))
                tool_run(TOOLS["provision"], fleet, work)
                add(verify_both(fleet, work, verify_size, VERIFIERS[i % 2]), "provision")
    for name, by_tool in startup(tools, 2 if args.smoke else 10).items():
        runs[name] = by_tool
    scenarios: dict = {}
    order = ["startup --version", "startup --help", *[f"{s}@{n}" for s in ("noop", "converge") for n in sizes],
             "first@1", f"verify@{verify_size}"]
    for scenario in sorted(runs, key=lambda s: order.index(s) if s in order else len(order)):
        rows = {tool: summarise(r) for tool, r in runs[scenario].items()}
        base = "provision verify" if scenario.startswith("verify") else "provision"
        scenarios[scenario] = with_ratios(rows, base, [] if scenario.startswith(("verify", "startup")) else FLOORS)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "versions": versions, "sizes": sizes, "repeat": repeat, "smoke": args.smoke, "scenarios": scenarios}
    if prep:
        result["ansible_python3_install_seconds"] = round(statistics.median(prep), 2)
    Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out).write_text(markdown(result))
    print(markdown(result))
    failed = [f"{s}: {t}" for s, rows in scenarios.items() for t, r in rows.items() if r["failed"]]
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
