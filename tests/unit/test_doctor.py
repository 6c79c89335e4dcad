"""`provision doctor` diagnosis: a pure function of facts and probes — from data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from factsdata import facts_from

from provision import cadoctor, doctor
from provision.crossdoctor import Crossover, CrossoverState, PathEntry
from provision.facts import Facts
from provision.java.doctor import DefaultJava, JavaHomeLine, JavaHomes, JavaHomeSettings
from provision.wslconfigdoctor import WslConfigFile, WslConfigState
from provision.wsldoctor import SystemdState, SystemdStatus

CASES = yaml.safe_load((Path(__file__).parent / "data/doctor.yml").read_text())
RANK = {doctor.OK: 0, doctor.INFO: 0, doctor.WARN: 1, doctor.PROBLEM: 2}


def with_probes(facts: Facts, d: dict) -> Facts:
    """The doctor's own facts (systemd's state, JAVA_HOME's settings, the default java) from data."""
    facts.set(SystemdState(), SystemdStatus(d.get("state", ""), d.get("error", ""), True, d.get("failed", [])))
    facts.set(JavaHomeSettings(), JavaHomes([JavaHomeLine(p, n, v) for p, n, v in d.get("java_home", [])],
                                            {k: (v[0], v[1], v[2]) for k, v in d.get("homes", {}).items()}))
    facts.set(DefaultJava(), {"java": d.get("java", ""), "javac": d.get("javac", "")})
    cross = d.get("crossover", {})  # tests/unit/test_crossover.py has its cases; here what the CA part reads
    facts.set(Crossover(), CrossoverState(env=cross.get("env", {}), path=[
        PathEntry(i, directory, java, exe) for i, (directory, java, exe) in enumerate(cross.get("path", []), 1)]))
    facts.set(WslConfigFile(), WslConfigState())  # and tests/unit/test_wslconfig.py
    facts.set(cadoctor.CaTrust(), cadoctor.CaTrust().parse(d.get("ca_trust", [])))  # lines as the host prints
    return facts


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_diagnose(case):
    findings = doctor.diagnose(with_probes(facts_from(case["facts"]), case["probe"]), case.get("kind", "local"))
    worst: dict[str, str] = {}
    for f in findings:
        assert f.summary
        if f.status == doctor.PROBLEM:
            assert f.fix, f"a problem without a fix: {f.summary}"
        if f.check not in worst or RANK[f.status] > RANK[worst[f.check]]:
            worst[f.check] = f.status
    for check, status in case["expect"].items():
        assert worst.get(check) == status, (check, findings)
    text = "\n".join(f"{f.summary} | {f.fix}" for f in findings)
    for expected in case.get("has", []):
        assert expected in text, text
    for secret in case.get("lacks", []):
        assert secret not in text, text
    if "ok" in case:
        report = doctor.Report("h", findings)
        assert report.ok == case["ok"], text


def test_probe_facts_are_parsed():
    homes = JavaHomeSettings().parse("""line /etc/environment:3:JAVA_HOME="/usr/lib/jvm/java-17-openjdk-arm64"
line /etc/profile.d/jdk.sh:3:export JAVA_HOME="/usr/lib/jvm/java-17-openjdk-arm64"
line /root/.bashrc:9:export JAVA_HOME=/opt/jdk # mine
home /usr/lib/jvm/java-17-openjdk-arm64\t/usr/lib/jvm/java-17-openjdk-arm64\tjava\tjavac
home /opt/jdk\t-\t-\t-
origin /usr/lib/jvm/java-17-openjdk-arm64\topenjdk-17-jre-headless\tDebian\t17.0.15"""
        .replace("\\t", "\t").splitlines())
    assert [(j.path, j.line, j.value) for j in homes.lines] == [
        ("/etc/environment", 3, "/usr/lib/jvm/java-17-openjdk-arm64"),
        ("/etc/profile.d/jdk.sh", 3, "/usr/lib/jvm/java-17-openjdk-arm64"),
        ("/root/.bashrc", 9, "/opt/jdk")]
    assert homes.homes["/opt/jdk"] == ("", False, False)
    assert homes.origins == {"/usr/lib/jvm/java-17-openjdk-arm64": ("openjdk-17-jre-headless", "Debian", "17.0.15")}
    state = SystemdState().parse([
        "state offline", "error System has not been booted with systemd as init system (PID 1). Can't "
        "operate. Failed to connect to bus: Host is down", "failed ssh.service loaded failed failed"])
    assert state.state == "offline" and "Host is down" in state.error and state.failed_units == ["ssh.service"]
    java = DefaultJava().parse(["java /usr/lib/jvm/java-17-openjdk-arm64/bin/java", "javac"])
    assert java == {"java": "/usr/lib/jvm/java-17-openjdk-arm64/bin/java", "javac": ""}


def test_doctor_reads_in_one_read_only_script():
    from provision.facts import batch

    s = batch.script(batch.sections(doctor.facts()))
    for word in ("apt-get install", "rm ", "> /etc", "tee ", "sed -i", "systemctl start", "wsl.exe --terminate"):
        assert word not in s, word
    assert s.rstrip().endswith("exit 0")


@pytest.mark.parametrize("fix, target, want", [
    ("provision apply java17 (writes /etc/profile.d/jdk.sh on WSL)", "chroot:/srv/rootfs",
     "provision apply java17 -H chroot:/srv/rootfs (writes /etc/profile.d/jdk.sh on WSL)"),
    ("provision apply wsl-systemd (or the default playbook), then restart the distro", "dev@lab11",
     "provision apply wsl-systemd -H dev@lab11 (or the default playbook), then restart the distro"),
    ("`provision apply --restart` here", "lab11", "`provision apply --restart -H lab11` here"),
    ("provision apply java17", "chroot:/my root", "provision apply java17 -H 'chroot:/my root'"),
    ("provision apply java17", "local", "provision apply java17"),
    ("install systemd-sysv", "lab11", "install systemd-sysv"),
])
def test_every_fix_printed_for_a_target_names_that_target(fix, target, want):
    assert doctor.for_target(fix, target) == want
