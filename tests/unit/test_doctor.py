"""`provision doctor` diagnosis: a pure function of facts and probes — from data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from factsdata import facts_from
from provision import doctor

CASES = yaml.safe_load((Path(__file__).parent / "data/doctor.yml").read_text())
RANK = {doctor.OK: 0, doctor.INFO: 0, doctor.WARN: 1, doctor.PROBLEM: 2}


def probe_from(d: dict) -> doctor.Probe:
    return doctor.Probe(
        system_state=d.get("state", ""), systemctl_error=d.get("error", ""),
        failed_units=d.get("failed", []),
        java_home=[doctor.JavaHomeLine(p, n, v) for p, n, v in d.get("java_home", [])],
        homes={k: (v[0], v[1], v[2]) for k, v in d.get("homes", {}).items()},
        java=d.get("java", ""), javac=d.get("javac", ""))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_diagnose(case):
    findings = doctor.diagnose(facts_from(case["facts"]), probe_from(case["probe"]), case.get("kind", "local"))
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
    if "ok" in case:
        report = doctor.Report("h", findings)
        assert report.ok == case["ok"], text


def test_probe_output_is_parsed():
    out = """@@os-release
ID=debian
@@doctor-systemctl
state offline
error System has not been booted with systemd as init system (PID 1). Can't operate. Failed to connect to bus: Host is down
@@doctor-java-home
/etc/environment:3:JAVA_HOME="/usr/lib/jvm/java-17-openjdk-arm64"
/etc/profile.d/jdk.sh:3:export JAVA_HOME="/usr/lib/jvm/java-17-openjdk-arm64"
/root/.bashrc:9:export JAVA_HOME=/opt/jdk # mine
@@doctor-homes
/usr/lib/jvm/java-17-openjdk-arm64\t/usr/lib/jvm/java-17-openjdk-arm64\tjava\tjavac
/opt/jdk\t-\t-\t-
@@doctor-java
java /usr/lib/jvm/java-17-openjdk-arm64/bin/java
javac
""".replace("\\t", "\t")
    p = doctor.parse_probe(out)
    assert p.system_state == "offline" and "Host is down" in p.systemctl_error
    assert [(j.path, j.line, j.value) for j in p.java_home] == [
        ("/etc/environment", 3, "/usr/lib/jvm/java-17-openjdk-arm64"),
        ("/etc/profile.d/jdk.sh", 3, "/usr/lib/jvm/java-17-openjdk-arm64"),
        ("/root/.bashrc", 9, "/opt/jdk")]
    assert p.homes["/opt/jdk"] == ("", False, False)
    assert p.java.endswith("/bin/java") and p.javac == ""


def test_doctor_script_is_read_only_and_one_script():
    s = doctor.script()
    assert s.count("@@doctor-") == 0 or "mark doctor-systemctl" in s
    for word in ("apt-get install", "rm ", "> /etc", "tee ", "sed -i", "systemctl start", "wsl.exe --terminate"):
        assert word not in s, word
    assert s.rstrip().endswith("exit 0")
