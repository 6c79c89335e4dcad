"""Issue 21 on Debian 12: two and three JDKs side by side where the archive has only one. A Debian 12 root
with Debian's OpenJDK 17 and Maven (lab.bookworm_maven_base()): java-multi with versions [17, 21],
default 17, where 21 is the loopback repository's test-built temurin-21-jdk (Debian 12 has no
OpenJDK 21, so vendor auto takes Temurin for it; tests/lab/aptrepo.py says how that JDK is made to
run on Debian 12's glibc). Debian's mvn, running on 17, compiles with 21 through the toolchain
provision registered: the class file's major version (65) says which javac ran. Then 21 is taken
off the list: 17 still compiles, toolchains.xml no longer lists 21. Over SSH, a booted Debian 12
host gets 17, Temurin 21 and Temurin 25 (the same kind of stand-in) and mvn, in an SSH session,
compiles with 21 and with 25.

Product code changed for this: Temurin's source file named one JDK's version in its label, so with
two Temurin JDKs each rewrote it and a second apply never had 0 changed (tests/unit/test_jdk_multi.py);
a label is no attack surface. The attacker's test here is on what the lab's JDK brings onto the
host (a home of its own, with a C library inside, that a user could otherwise replace)."""

from __future__ import annotations

import re

import lab
import pytest
from conftest import doctor_says, lab_or_skip, provision
from lab import aptrepo, maven

pytestmark = pytest.mark.lab

J17 = "/usr/lib/jvm/java-17-openjdk-amd64"
T21 = aptrepo.RECIPES[21].home
T25 = aptrepo.RECIPES[25].home
ADOPTIUM = "/etc/apt/sources.list.d/adoptium.sources"


@pytest.fixture(scope="module")
def repo():
    lab_or_skip()
    with aptrepo.AptRepo([aptrepo.temurin_deb(21), aptrepo.temurin_deb(25)], suite="bookworm") as r:
        yield r


@pytest.fixture(scope="module")
def root(repo):
    with lab.Root(lab.bookworm_maven_base(), name="bookworm-two") as r:
        r.original = r.file(maven.TOOLCHAINS).read_bytes()
        yield r


def multi(root, repo, versions: str = "[17, 21]", command: str = "apply", *, target: str = "", ssh: tuple = ()):
    return provision(command, "java-multi", "-H", target or root.target, "-e", f"java_versions={versions}",
                     "-e", "default_java=17", "-e", f"temurin_repository={repo.url}",
                     "-e", f"temurin_key_url={repo.key_url}", "-e", f"temurin_fingerprint={repo.fingerprint}",
                     *ssh, "--json")


def build(root, v: int):
    """Debian's mvn compiling /tmp/hello<v> with JDK v's toolchain: (exit code, Maven's output)."""
    maven.write_project(root.file, v, "bookworm")
    built = root.sh(maven.command(v, "bookworm"), check=False)
    return built.returncode, built.stdout.decode(errors="replace")


def test_debian_12_gets_temurin_21_beside_its_openjdk_17_and_maven_on_17_compiles_with_21(root, repo):
    assert root.out("apt-cache policy openjdk-21-jdk-headless") == "", "Debian 12's archive has no OpenJDK 21"
    first = multi(root, repo)
    assert first.rc == 0, first.stderr
    assert root.out("dpkg-query -W -f='${Status}' temurin-21-jdk") == "install ok installed"
    assert root.out("dpkg-query -W -f='${Status}' openjdk-17-jdk-headless") == "install ok installed"
    assert 'IMPLEMENTOR="Eclipse Adoptium"' in root.file(f"{T21}/release").read_text()
    assert f"URIs: {repo.url}" in root.file(ADOPTIUM).read_text() and "Suites: bookworm" in \
        root.file(ADOPTIUM).read_text()
    text = root.file("/etc/environment").read_text()
    assert f'JAVA_HOME="{J17}"' in text and f'JAVA_17_HOME="{J17}"' in text and f'JAVA_21_HOME="{T21}"' in text
    assert f'JAVA_HOME_17_X64="{J17}"' in text and f'JAVA_HOME_21_X64="{T21}"' in text, text
    assert root.out("readlink -f \"$(command -v javac)\"").strip() == f"{J17}/bin/javac", \
        "the default owns javac, though Temurin's priority (2111) is the highest"
    assert root.out("ldd --version").startswith("ldd (Debian GLIBC 2.36"), "Debian 12's own C library"
    assert root.out(f"{T21}/bin/javac -version").startswith("javac 21."), "javac 21 runs on Debian 12"
    xml = root.file(maven.TOOLCHAINS).read_bytes()
    for v, home in ((17, J17), (21, T21)):
        assert f"<id>provision-jdk-{v}</id>".encode() in xml and f"<jdkHome>{home}</jdkHome>".encode() in xml, xml
    at = root.original.rindex(b"</toolchains>")
    assert xml.startswith(root.original[:at]) and xml.endswith(root.original[at:]), "Debian's file kept around ours"

    for v, home in ((21, T21), (17, J17)):
        rc, log = build(root, v)
        assert rc == 0, log
        assert f"Toolchain in maven-compiler-plugin: JDK[{home}]" in log, log
        assert maven.major(root.file, v) == maven.MAJOR[v], f"javac {v} compiled it"
    assert "Java version: 17" in root.out("mvn -v"), "Maven itself runs on the default JDK"

    second = multi(root, repo)
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second.stderr
    proved = multi(root, repo, command="verify")
    assert proved.rc == 0, proved.stderr
    names = [c["name"] for c in proved.json["hosts"][0]["checks"]]
    assert f"jdk 21: {T21}/bin/javac -version reports 21" in names, names
    assert "jdk 17: java and javac are JDK 17's" in names, names
    for v in (17, 21):
        assert f"toolchains: {maven.TOOLCHAINS} lists JDK {v}" in names, names
    said = doctor_says(root.target)
    assert f"JDK 17 ({J17}, " in said and f"JDK 21 ({T21}, " in said, said
    for v, home in ((17, J17), (21, T21)):
        assert f"toolchain jdk {v} (provision's) → JDK {v} ({home}" in said, said


def test_no_user_can_change_what_the_temurin_21_home_runs_with(root, repo):
    """mallory, a user of the host, would own every JDK user's process if she could put a file into
    the home (its bin/, its lib/, the C library and loader in lib/trixie): every file and directory
    there is root's and writable by root alone, her attempt fails, and she can run the JDK."""
    root.sh("id mallory >/dev/null 2>&1 || useradd -m mallory")
    assert root.out(f"find {T21} ! -user root -o ! -group root -o -perm /022 ! -type l") == ""
    assert root.out(f"find {T21} -type l") == "", "every symlink resolved: none can point where a user writes"
    for where in (f"{T21}/lib/trixie/libc.so.6", f"{T21}/lib/trixie/x", f"{T21}/bin/x"):
        tried = root.sh(f"runuser -u mallory -- sh -c 'echo x > {where}'", check=False)
        assert tried.returncode != 0 and b"Permission denied" in tried.stderr, tried
    assert root.out(f"runuser -u mallory -- {T21}/bin/javac -version").startswith("javac 21.")


def test_taking_21_off_leaves_17_compiling_and_toolchains_without_21(root, repo):
    gone = multi(root, repo, versions="[17]")
    assert gone.rc == 0, gone.stderr
    assert root.out("dpkg-query -W -f='${Status}' temurin-21-jdk 2>&1") != "install ok installed"
    assert not root.file(T21).exists()
    assert not root.file(ADOPTIUM).exists(), "no other Temurin package uses the repository"
    assert root.out("dpkg-query -W -f='${Status}' openjdk-17-jdk-headless") == "install ok installed"
    text = root.file("/etc/environment").read_text()
    assert "JAVA_21_HOME" not in text and "JAVA_HOME_21_X64" not in text and f'JAVA_HOME="{J17}"' in text
    xml = root.file(maven.TOOLCHAINS).read_bytes()
    assert b"provision-jdk-21" not in xml and T21.encode() not in xml and b"provision-jdk-17" in xml
    ours = re.compile(rb"  <toolchain>\n    <!-- written by provision: JDK 17,.*?</toolchain>\n", re.S)
    assert len(ours.findall(xml)) == 1 and ours.sub(b"", xml) == root.original, "Debian's file byte for byte"

    root.sh("rm -r /tmp/hello17/target /tmp/hello21/target")
    rc, log = build(root, 17)
    assert rc == 0, log
    assert maven.major(root.file, 17) == 61
    rc, log = build(root, 21)
    # (without a matching toolchain the plugin falls back to Maven's own JDK, 17, which cannot)
    assert rc != 0 and "error: release version 21 not supported" in log, log
    again = multi(root, repo, versions="[17]")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again.stderr
    proved = multi(root, repo, versions="[17]", command="verify")
    assert proved.rc == 0, proved.stderr


def test_over_ssh_three_jdks_on_debian_12_and_maven_in_an_ssh_session_compiles_with_21_and_25(fleet_factory, repo):
    """A booted Debian 12 lab host (a real sshd on loopback): OpenJDK 17, Temurin 21 and 25."""
    fleet = fleet_factory(1, base=lab.bookworm_maven_base())
    host = fleet.hosts[0]
    ssh = ("--ssh-config", str(fleet.ssh_config), "--known-hosts", str(fleet.known_hosts))
    target = f"root@{host.name}"
    first = multi(None, repo, "[17, 21, 25]", target=target, ssh=ssh)
    assert first.rc == 0, first.stderr
    again = multi(None, repo, "[17, 21, 25]", target=target, ssh=ssh)
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again.stderr
    proved = multi(None, repo, "[17, 21, 25]", "verify", target=target, ssh=ssh)
    assert proved.rc == 0, proved.stderr
    names = [c["name"] for c in proved.json["hosts"][0]["checks"]]
    for v in (17, 21, 25):
        assert f"toolchains: {maven.TOOLCHAINS} lists JDK {v}" in names, names

    # a new SSH login: PAM gives it the variables; mvn there, on 17, compiles with 21 and with 25
    env = host.ssh("printenv JAVA_HOME JAVA_21_HOME JAVA_HOME_25_X64").stdout.decode().split()
    assert env == [J17, T21, T25], env
    assert "Java version: 17" in host.ssh("mvn -v").stdout.decode(errors="replace")
    for v, home in ((21, T21), (25, T25)):
        maven.write_project(host.root.file, v, "bookworm")
        built = host.ssh(maven.command(v, "bookworm"))
        log = built.stdout.decode(errors="replace")
        assert built.returncode == 0, log
        assert f"Toolchain in maven-compiler-plugin: JDK[{home}]" in log, log
        assert maven.major(host.root.file, v) == maven.MAJOR[v], f"javac {v} compiled it"
    said = doctor_says(target, *ssh)
    for v, home in ((17, J17), (21, T21), (25, T25)):
        assert f"toolchain jdk {v} (provision's) → JDK {v} ({home}" in said, said
