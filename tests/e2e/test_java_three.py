"""Issue 21: three JDKs side by side, and the same over SSH. Debian 13 with Debian's Maven
(lab.trixie_maven_base()): java-multi with versions [17, 21, 25], default 21, where 17 is the
loopback repository's test-built temurin-17-jdk (Debian 13 has no OpenJDK 17, so vendor auto takes
Temurin for it) and 21, 25 are Debian's. Each is a Maven toolchain, has its variables, and Debian's
mvn, running on 21, compiles with 17 and with 25 through them (the class file's major version says
which javac ran). Then a booted lab host (a real sshd on loopback) gets the same playbook over SSH
and mvn runs there in an SSH session.

(Debian 12 with Temurin 21 beside its OpenJDK 17: tests/e2e/test_java_bookworm_two.py.)"""

from __future__ import annotations

import re

import lab
import pytest
from conftest import doctor_says, lab_or_skip, provision
from lab import aptrepo, maven

pytestmark = pytest.mark.lab

T17 = aptrepo.RECIPES[17].home
J21 = "/usr/lib/jvm/java-21-openjdk-amd64"
J25 = "/usr/lib/jvm/java-25-openjdk-amd64"
@pytest.fixture(scope="module")
def repo():
    lab_or_skip()
    with aptrepo.AptRepo([aptrepo.temurin_deb()]) as r:
        yield r


def multi(target: str, repo, *extra: str, versions: str = "[17, 21, 25]", command: str = "apply"):
    return provision(command, "java-multi", "-H", target, "-e", f"java_versions={versions}",
                     "-e", "default_java=21", "-e", f"temurin_repository={repo.url}",
                     "-e", f"temurin_key_url={repo.key_url}", "-e", f"temurin_fingerprint={repo.fingerprint}",
                     *extra, "--json")


@pytest.fixture(scope="module")
def root(repo):
    with lab.Root(lab.trixie_maven_base(), name="three") as r:
        yield r


def test_three_jdks_one_of_them_temurin_and_maven_compiles_with_each_non_default(root, repo):
    first = multi(root.target, repo)
    assert first.rc == 0, first.stderr
    assert root.out("dpkg-query -W -f='${Status}' temurin-17-jdk") == "install ok installed"
    text = root.file("/etc/environment").read_text()
    for v, home in ((17, T17), (21, J21), (25, J25)):
        assert f'JAVA_{v}_HOME="{home}"' in text and f'JAVA_HOME_{v}_X64="{home}"' in text, text
    assert f'JAVA_HOME="{J21}"' in text
    assert root.out("readlink -f \"$(command -v javac)\"").strip() == f"{J21}/bin/javac", \
        "the default owns javac, though Temurin's priority (1711) is the highest"
    xml = root.file(maven.TOOLCHAINS).read_bytes()
    for v, home in ((17, T17), (21, J21), (25, J25)):
        assert f"<id>provision-jdk-{v}</id>".encode() in xml and f"<jdkHome>{home}</jdkHome>".encode() in xml, xml

    for v in (17, 25):
        maven.write_project(root.file, v)
        built = root.sh(maven.command(v), check=False)
        log = built.stdout.decode(errors="replace")
        assert built.returncode == 0, log
        assert f"Toolchain in maven-compiler-plugin: JDK[{T17 if v == 17 else J25}]" in log, log
        assert maven.major(root.file, v) == maven.MAJOR[v]
    assert "Java version: 21" in root.out("mvn -v"), "Maven itself runs on the default JDK"

    second = multi(root.target, repo)
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second.stderr
    proved = multi(root.target, repo, command="verify")
    assert proved.rc == 0, proved.stderr
    names = [c["name"] for c in proved.json["hosts"][0]["checks"]]
    for v in (17, 21, 25):
        assert f"toolchains: {maven.TOOLCHAINS} lists JDK {v}" in names, names
    assert f"jdk 17: {T17}/bin/javac -version reports 17" in names, names
    said = doctor_says(root.target)
    assert re.search(rf"JDKs in /usr/lib/jvm: .*JDK 17 \({re.escape(T17)}", said), said
    assert f"JDK 21 ({J21}, " in said and f"JDK 25 ({J25}, " in said, said
    for v, home in ((17, T17), (21, J21), (25, J25)):
        assert f"toolchain jdk {v} (provision's) → JDK {v} ({home}" in said, said


def test_taking_25_off_leaves_temurin_17_and_21_working(root, repo):
    gone = multi(root.target, repo, versions="[17, 21]")
    assert gone.rc == 0, gone.stderr
    assert root.out("dpkg-query -W -f='${Status}' openjdk-25-jdk-headless 2>&1") != "install ok installed"
    assert root.out("dpkg-query -W -f='${Status}' temurin-17-jdk") == "install ok installed"
    text = root.file("/etc/environment").read_text()
    assert "JAVA_25_HOME" not in text and "JAVA_HOME_25_X64" not in text
    assert f'JAVA_17_HOME="{T17}"' in text and f'JAVA_HOME="{J21}"' in text
    xml = root.file(maven.TOOLCHAINS).read_bytes()
    assert b"provision-jdk-25" not in xml and b"provision-jdk-17" in xml and b"provision-jdk-21" in xml
    root.sh("rm -r /tmp/hello17/target")
    built = root.sh(maven.command(17), check=False)
    assert built.returncode == 0, built.stdout.decode(errors="replace")
    assert maven.major(root.file, 17) == 61
    again = multi(root.target, repo, versions="[17, 21]")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again.stderr
    proved = multi(root.target, repo, versions="[17, 21]", command="verify")
    assert proved.rc == 0, proved.stderr



def test_rollback_of_taking_25_off_puts_the_jdk_back_with_its_lines_and_toolchain(root, repo):
    """(It restored the lines and the toolchain but left the JDK purged: both pointed at a home
    that did not exist, and verify failed.)"""
    back = provision("rollback", "-H", root.target, "--json")
    assert back.rc == 0, back.stderr
    assert root.out("dpkg-query -W -f='${Status}' openjdk-25-jdk-headless") == "install ok installed"
    assert f"<jdkHome>{J25}</jdkHome>".encode() in root.file(maven.TOOLCHAINS).read_bytes()
    assert f'JAVA_25_HOME="{J25}"' in root.file("/etc/environment").read_text()
    assert root.out("readlink -f \"$(command -v javac)\"").strip() == f"{J21}/bin/javac"
    proved = multi(root.target, repo, command="verify")
    assert proved.rc == 0, proved.stderr
    said = doctor_says(root.target)
    assert "does not exist" not in said, said


def test_over_ssh_two_jdks_and_maven_in_an_ssh_session_compiles_with_temurin_17(fleet_factory, repo):
    """Then alice, a user of that host, whose ~/.m2 is a link to /etc/maven (so ~/.m2/toolchains.xml
    would be Maven's global file, root's), asks for her toolchains over SSH: refused, the global
    file unchanged."""
    fleet = fleet_factory(1, base=lab.trixie_maven_base())
    host = fleet.hosts[0]
    ssh = ["--ssh-config", str(fleet.ssh_config), "--known-hosts", str(fleet.known_hosts)]
    target = f"root@{host.name}"
    first = multi(target, repo, *ssh, versions="[17, 21]")
    assert first.rc == 0, first.stderr
    again = multi(target, repo, *ssh, versions="[17, 21]")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again.stderr
    proved = multi(target, repo, *ssh, versions="[17, 21]", command="verify")
    assert proved.rc == 0, proved.stderr
    names = [c["name"] for c in proved.json["hosts"][0]["checks"]]
    assert f"toolchains: {maven.TOOLCHAINS} lists JDK 17" in names, names

    # a new SSH login: PAM gives it the variables; mvn there compiles with Temurin 17
    env = host.ssh("printenv JAVA_HOME JAVA_17_HOME JAVA_HOME_21_X64").stdout.decode().split()
    assert env == [J21, T17, J21], env
    maven.write_project(host.root.file, 17)
    built = host.ssh(maven.command(17))
    log = built.stdout.decode(errors="replace")
    assert built.returncode == 0, log
    assert f"Toolchain in maven-compiler-plugin: JDK[{T17}]" in log, log
    assert maven.major(host.root.file, 17) == 61
    said = doctor_says(target, *ssh)
    assert f"toolchain jdk 17 (provision's) → JDK 17 ({T17}" in said, said

    host.sh("useradd -m alice && ln -s /etc/maven /home/alice/.m2 && chown -h alice:alice /home/alice/.m2")
    before = host.root.file(maven.TOOLCHAINS).read_bytes()
    hostile = multi(target, repo, *ssh, "-e", "maven_user=alice", versions="[17, 21]")
    assert hostile.rc == 1, hostile.stderr
    assert "symbolic link" in hostile.stderr, hostile.stderr
    assert host.root.file(maven.TOOLCHAINS).read_bytes() == before
