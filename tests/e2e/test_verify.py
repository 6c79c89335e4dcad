"""Issue 5 end to end: `provision verify` on real Debian 12 roots: a converged host passes with a
JUnit report listing every check; drift fails naming the check and the host; the playbook's own
`checks:` and the user's testinfra files are reported by name."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from conftest import provision

from provision.java.checks import HELLO, HELLO_CLASS

pytestmark = pytest.mark.lab

CORE_CHECKS = {
    "jdk: openjdk-17-jdk-headless is installed",
    "jdk: JDK 17 home has bin/java and bin/javac",
    "jdk: release file says JAVA_VERSION 17",
    "jdk: java -version reports 17",
    "jdk: javac -version reports 17",
    "jdk: java and javac are JDK 17's",
    "jdk: javac compiles and java runs a program",
    "java_home: /etc/environment sets JAVA_HOME",
    "java_home: JAVA_HOME in /etc/environment is a JDK (bin/java, bin/javac)",
    "java_home: JAVA_HOME in /etc/environment is the default java's home",
    "java_home: a login shell (su -) sees JAVA_HOME",
}


def converge(root) -> None:
    result = provision("apply", "java17", "-H", root.target, "-q")
    assert result.rc == 0, result


def failing(doc: dict) -> dict[str, str]:
    return {c["name"]: c["message"] for h in doc["hosts"] for c in h["checks"] if c["status"] == "failed"}


def junit_cases(path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def set_java_home(root, value: str | None) -> None:
    env = root.file("/etc/environment")
    lines = [ln for ln in env.read_text().splitlines() if not ln.startswith("JAVA_HOME=")]
    if value is not None:
        lines.append(f'JAVA_HOME="{value}"')
    env.write_text("\n".join(lines) + "\n")


def test_converged_root_passes_and_junit_lists_every_check_with_the_host(converged_root, tmp_path):
    root = converged_root
    converge(root)
    junit = tmp_path / "reports" / "verify.xml"
    result = provision("verify", "java17", "-H", root.target, "--junit-xml", str(junit), "--json")
    assert result.rc == 0, result
    doc = result.json
    assert doc["command"] == "verify" and doc["ok"] is True
    host = doc["hosts"][0]
    assert host["host"] == root.target and host["failed"] == 0
    names = [c["name"] for c in host["checks"]]
    assert CORE_CHECKS <= set(names), sorted(CORE_CHECKS - set(names))
    assert all(c["status"] == "passed" for c in host["checks"])

    cases = junit_cases(junit)
    assert [c.get("name") for c in cases] == names  # one testcase per check, in order
    assert {c.get("classname") for c in cases} == {root.target}
    assert not any(c.find("failure") is not None for c in cases)
    suites = ET.parse(junit).getroot()
    assert suites.get("tests") == str(len(names)) and suites.get("failures") == "0"
    assert f"{root.target}: {len(names)} passed, 0 failed" in result.stderr


def test_java_home_removed_fails_naming_the_check_and_host(converged_root, tmp_path):
    root = converged_root
    converge(root)
    set_java_home(root, None)
    junit = tmp_path / "verify.xml"
    result = provision("verify", "java17", "-H", root.target, "--json", "--junit-xml", str(junit))
    assert result.rc == 1, result
    bad = failing(result.json)
    assert "java_home: /etc/environment sets JAVA_HOME" in bad
    assert "JAVA_HOME is not set in /etc/environment" in bad["java_home: /etc/environment sets JAVA_HOME"]
    assert "java_home: a login shell (su -) sees JAVA_HOME" in bad
    assert not any(n.startswith("jdk:") for n in bad), bad  # the JDK itself is fine
    assert root.target in result.stderr
    assert "FAILED  java_home: /etc/environment sets JAVA_HOME: JAVA_HOME is not set" in result.stderr
    failed_cases = [c for c in junit_cases(junit) if c.find("failure") is not None]
    assert {c.get("name") for c in failed_cases} == set(bad)
    assert {c.get("classname") for c in failed_cases} == {root.target}


def test_java_home_pointing_at_a_jre_only_directory_fails(converged_root):
    root = converged_root
    converge(root)
    root.sh("mkdir -p /opt/jre-only/bin && printf '#!/bin/sh\\necho jre\\n' > /opt/jre-only/bin/java "
            "&& chmod +x /opt/jre-only/bin/java")
    set_java_home(root, "/opt/jre-only")
    result = provision("verify", "java17", "-H", root.target, "--json")
    assert result.rc == 1, result
    bad = failing(result.json)
    jdk_check = "java_home: JAVA_HOME in /etc/environment is a JDK (bin/java, bin/javac)"
    assert jdk_check in bad and "no bin/javac" in bad[jdk_check], bad
    assert "is /opt/jre-only in /etc/environment, expected /usr/lib/jvm/java-17-openjdk-" in \
        bad["java_home: /etc/environment sets JAVA_HOME"]
    assert "java_home: JAVA_HOME in /etc/environment is the default java's home" in bad
    assert f"{root.target}:" in result.stderr and jdk_check in result.stderr


def test_removed_jdk_package_fails(converged_root):
    root = converged_root
    converge(root)
    root.sh("dpkg --remove openjdk-17-jdk-headless >/dev/null")
    result = provision("verify", "java17", "-H", root.target, "--json")
    assert result.rc == 1, result
    bad = failing(result.json)
    assert "jdk: openjdk-17-jdk-headless is installed" in bad
    assert "not installed" in bad["jdk: openjdk-17-jdk-headless is installed"]
    assert "jdk: javac compiles and java runs a program" in bad
    assert "jdk: JDK 17 home has bin/java and bin/javac" in bad
    assert f"{root.target}: " in result.stderr
    assert "jdk: openjdk-17-jdk-headless is installed" in result.stderr


PLAYBOOK_WITH_CHECKS = """\
name: site
imports: [java17]
checks:
  - name: JAVA_HOME line is in /etc/environment
    file: {path: /etc/environment, contains: "JAVA_HOME={{ '\\"' }}{{ jdk.home }}"}
  - name: JDK 17 package version
    package: {name: openjdk-17-jdk-headless, version: "17."}
  - name: site marker exists
    command: {run: "test -e /etc/site-marker", rc: 0}
  - name: java says 17 on stderr
    command: {run: "java -version", stderr_matches: 'version "17\\.'}
  - name: only on WSL
    when: facts.wsl.version > 0
    command: {run: "false"}
"""


def test_a_failing_playbook_check_is_reported_by_its_name(converged_root, tmp_path):
    root = converged_root
    converge(root)
    playbook = tmp_path / "site.yml"
    playbook.write_text(PLAYBOOK_WITH_CHECKS)
    junit = tmp_path / "verify.xml"
    result = provision("verify", str(playbook), "-H", root.target, "--json", "--junit-xml", str(junit))
    assert result.rc == 1, result
    bad = failing(result.json)
    assert list(bad) == ["site marker exists"], bad
    assert "exit 1, expected 0" in bad["site marker exists"]
    checks = {c["name"]: c for c in result.json["hosts"][0]["checks"]}
    for name in ("JAVA_HOME line is in /etc/environment", "JDK 17 package version",
                 "java says 17 on stderr"):
        assert checks[name]["status"] == "passed" and checks[name]["resource"] == "checks", checks[name]
    assert "only on WSL" not in checks
    assert "FAILED  site marker exists" in result.stderr and root.target in result.stderr
    case = next(c for c in junit_cases(junit) if c.get("name") == "site marker exists")
    assert case.get("classname") == root.target and case.find("failure") is not None

    root.file("/etc/site-marker").write_text("")
    again = provision("verify", str(playbook), "-H", root.target)
    assert again.rc == 0, again


USER_TESTS = """\
def test_jdk_package(host):
    assert host.package("openjdk-17-jdk-headless").is_installed


def test_maven_is_installed(host):
    assert host.package("maven").is_installed, "maven is missing"
"""


def test_user_test_files_run_against_the_same_host(converged_root, tmp_path):
    root = converged_root
    converge(root)
    tests = tmp_path / "site-tests"
    tests.mkdir()
    (tests / "test_site.py").write_text(USER_TESTS)
    junit = tmp_path / "verify.xml"
    result = provision("verify", "java17", "-H", root.target, "--tests", str(tests), "--json",
                       "--junit-xml", str(junit))
    assert result.rc == 1, result
    checks = {c["name"]: c for c in result.json["hosts"][0]["checks"]}
    assert checks["tests: test_site.py::test_jdk_package"]["status"] == "passed", checks
    failed = checks["tests: test_site.py::test_maven_is_installed"]
    assert failed["status"] == "failed" and "maven is missing" in failed["message"]
    assert failing(result.json).keys() == {"tests: test_site.py::test_maven_is_installed"}
    names = {c.get("name") for c in junit_cases(junit)}
    assert {"tests: test_site.py::test_jdk_package", "tests: test_site.py::test_maven_is_installed"} <= names
    assert not re.search(r"^\.*F\.*\s*(\[\s*\d+%\])?$", result.stderr, re.M), result.stderr  # no raw pytest dots


# --------------------------------------------------------------------------- over SSH (booted lab hosts)

def ssh_args(fleet, known_hosts=None) -> list[str]:
    return ["--ssh-config", str(fleet.ssh_config), "--known-hosts", str(known_hosts or fleet.known_hosts)]


def by_host(doc: dict) -> dict[str, dict]:
    return {h["host"]: h for h in doc["hosts"]}


def test_ssh_hosts_verify_in_parallel_and_a_new_ssh_session_sees_java_home(fleet_factory, jdk_root, tmp_path):
    fleet = fleet_factory(2, base=jdk_root)
    a, b = fleet.hosts
    targets = ["-H", a.name, "-H", b.name, *ssh_args(fleet)]
    assert provision("apply", "java17", *targets, "-q").rc == 0

    junit = tmp_path / "verify.xml"
    ok = provision("verify", "java17", *targets, "--json", "--junit-xml", str(junit))
    assert ok.rc == 0, ok
    hosts = by_host(ok.json)
    assert set(hosts) == {a.name, b.name}
    for name, h in hosts.items():
        checks = {c["name"]: c for c in h["checks"]}
        assert CORE_CHECKS <= set(checks), (name, sorted(CORE_CHECKS - set(checks)))
        session = checks["java_home: a new SSH session sees JAVA_HOME"]
        assert session["status"] == "passed" and "/usr/lib/jvm/java-17-openjdk-" in session["message"]
    cases = junit_cases(junit)
    assert {c.get("classname") for c in cases} == {a.name, b.name}
    assert len(cases) == sum(len(h["checks"]) for h in hosts.values())
    assert "2 of 2 hosts verified" in ok.stderr

    # drift on one host only: the other still passes, the report names the host and the check
    env = b.root.file("/etc/environment")
    env.write_text("".join(ln for ln in env.read_text().splitlines(keepends=True)
                           if not ln.startswith("JAVA_HOME=")))
    drift = provision("verify", "java17", *targets, "--json")
    assert drift.rc == 1, drift
    hosts = by_host(drift.json)
    assert hosts[a.name]["ok"] is True
    bad = {c["name"] for c in hosts[b.name]["checks"] if c["status"] == "failed"}
    assert {"java_home: /etc/environment sets JAVA_HOME", "java_home: a new SSH session sees JAVA_HOME",
            "java_home: a login shell (su -) sees JAVA_HOME"} <= bad, bad
    assert f"1 of 2 hosts verified; failed: {b.name}" in drift.stderr


def test_unknown_host_key_makes_verify_refuse(fleet_factory, jdk_root, tmp_path):
    fleet = fleet_factory(1, base=jdk_root)
    host = fleet.hosts[0]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    junit = tmp_path / "verify.xml"
    refused = provision("verify", "java17", "-H", host.name, *ssh_args(fleet, empty), "--json",
                        "--junit-xml", str(junit))
    assert refused.rc == 1, refused
    h = refused.json["hosts"][0]
    assert "host key of" in h["error"] and "is not known" in h["error"]
    assert "--accept-new-host-keys" in h["error"]
    assert [c["name"] for c in h["checks"]] == ["provision: host is reachable"]
    assert empty.read_text() == ""  # nothing was accepted silently
    case = junit_cases(junit)[0]
    assert case.get("classname") == host.name and case.find("failure") is not None
    assert f"{host.name}: not verified: " in refused.stderr


def test_verify_as_a_sudo_user_with_a_password(fleet_factory, jdk_root, tmp_path):
    password = "Lab-v3rify-pw"
    fleet = fleet_factory(1, base=jdk_root, sudo_password=password)
    host = fleet.hosts[0]
    target = ["-H", f"dev@{host.name}", *ssh_args(fleet)]
    assert provision("apply", "java17", *target, "-K", "-q", input=password.encode() + b"\n").rc == 0
    result = provision("verify", "java17", *target, "-K", "--json", "--user", "dev",
                       input=password.encode() + b"\n")
    assert result.rc == 0, result
    checks = {c["name"]: c for c in result.json["hosts"][0]["checks"]}
    login = checks["java_home: a login shell (su -) sees JAVA_HOME"]
    assert login["status"] == "passed" and "a login shell of dev has JAVA_HOME=" in login["message"]
    assert checks["java_home: a new SSH session sees JAVA_HOME"]["status"] == "passed"
    assert password not in result.stdout + result.stderr


def test_wsl2_systemd_is_verified_after_the_distro_restarts(fleet_factory, jdk_root):
    host = fleet_factory(1, wsl=2, base=jdk_root).hosts[0]
    target = ["-H", host.name, *ssh_args(host.fleet)]
    assert provision("apply", *target, "-q").rc == 0  # the default playbook: java17 + wsl-systemd

    before = provision("verify", *target, "--json")
    assert before.rc == 1, before
    bad = failing(before.json)
    assert "wsl_systemd_conf: systemd is PID 1" in bad
    assert "PID 1 is init, not systemd: restart the distro" in bad["wsl_systemd_conf: systemd is PID 1"]
    checks = {c["name"]: c["status"] for c in before.json["hosts"][0]["checks"]}
    assert checks["wsl_systemd_conf: /etc/wsl.conf sets boot.systemd=true"] == "passed"
    assert checks["java_home_profile: /etc/profile.d/jdk.sh is present"] == "passed"  # WSL: profile.d

    host.restart()
    assert host.wait_system_running() in ("running", "degraded")
    after = provision("verify", *target, "--json")
    assert after.rc == 0, after
    checks = {c["name"]: c for c in after.json["hosts"][0]["checks"]}
    assert checks["wsl_systemd_conf: systemd is PID 1"]["status"] == "passed"
    running = checks["wsl_systemd_conf: systemctl is-system-running is running or degraded"]
    assert running["status"] == "passed" and running["message"].split(": ")[-1] in ("running", "degraded")


def test_the_class_verify_runs_is_its_source_compiled_on_a_host(converged_root):
    """provision.java.checks ships HELLO compiled (one JVM start per host, no compile): the bytes
    are what the JDK's javac makes of HELLO, so the program run is the one whose source is read."""
    root = converged_root
    root.sh("mkdir -p /tmp/hello && cat > /tmp/hello/ProvisionCheck.java", input=HELLO.encode())
    root.sh("cd /tmp/hello && javac --release 8 -g:none -d . ProvisionCheck.java")
    assert root.file("/tmp/hello/ProvisionCheck.class").read_bytes() == HELLO_CLASS


def test_a_broken_javac_fails_the_compile_check(converged_root):
    """javac on the PATH that is not a JDK's (here a script that fails) is run, not trusted by the
    JDK's files; and a javac whose JDK's files look right but whose home is not java's fails too."""
    root = converged_root
    converge(root)
    root.sh("printf '#!/bin/sh\\necho broken >&2\\nexit 3\\n' > /usr/local/bin/javac && chmod +x /usr/local/bin/javac")
    result = provision("verify", "java17", "-H", root.target, "--json")
    assert result.rc == 1, result
    bad = failing(result.json)
    assert bad["jdk: javac compiles and java runs a program"] == "javac failed (exit 3): broken", bad
    assert "jdk: java and javac are JDK 17's" in bad
    # a fake JDK: bin/javac and a release file that says 17, but not the JDK java runs from
    root.sh("rm /usr/local/bin/javac && mkdir -p /opt/fake/bin && printf '#!/bin/sh\\nexit 0\\n' > /opt/fake/bin/javac "
            "&& chmod +x /opt/fake/bin/javac && echo 'JAVA_VERSION=\"17.0.1\"' > /opt/fake/release "
            "&& ln -s /opt/fake/bin/javac /usr/local/bin/javac")
    result = provision("verify", "java17", "-H", root.target, "--json")
    assert result.rc == 1, result
    bad = failing(result.json)
    assert bad["jdk: javac compiles and java runs a program"] == \
        "javac is /opt/fake/bin/javac, but java runs from /usr/lib/jvm/java-17-openjdk-amd64", bad
