"""Issue 21: several JDKs side by side, proven by a real consumer. A Debian 13 root with Debian's
own Maven and maven-compiler-plugin (offline, from /usr/share/maven-repo): java-multi installs
OpenJDK 21 (the default) and 25, and Maven, running on 21, compiles with 25 through the toolchain
the playbook registered (jdkToolchain): the class file's major version says which javac ran.
Gradle's list (org.gradle.java.installations.paths) goes into bob's ~/.gradle/gradle.properties,
which java.util.Properties itself reads back (Gradle is not in Debian 13's archive)."""

from __future__ import annotations

import re

import lab
import pytest
from conftest import doctor_says, lab_or_skip, provision
from lab import maven

pytestmark = pytest.mark.lab

J21 = "/usr/lib/jvm/java-21-openjdk-amd64"
J25 = "/usr/lib/jvm/java-25-openjdk-amd64"
FOREIGN = (b"  <!-- the site's own JDK: provision must keep this byte for byte -->\n"
           b"  <toolchain>\n    <type>jdk</type>\n    <provides><version>11</version><vendor>site</vendor>"
           b"</provides>\n    <configuration><jdkHome>/opt/site-jdk-11</jdkHome></configuration>\n"
           b"  </toolchain>\n")
BOB_PROPS = "/home/bob/.gradle/gradle.properties"
# bob's own settings: a comment, a continued value, ':' and blank separators, CRLF, a \u escape
BOB_OWN = (b"# bob's settings, keep\norg.gradle.jvmargs=-Xmx2g \\\n    -Dfile.encoding=UTF-8\n"
           b"org.gradle.parallel:true\r\nsystemProp.user.name bob\\u00e9\n")
PATHS = "org.gradle.java.installations.paths"
# What Java's own Properties.load reads from a file (run with the root's default java)
READ_PROPS = ("import java.io.*; import java.util.*; public class ReadProps { public static void main(String[] a) "
              "throws Exception { Properties p = new Properties(); try (InputStream in = new FileInputStream(a[0])) "
              "{ p.load(in); } for (String k : new TreeSet<>(p.stringPropertyNames())) "
              "System.out.println(k + \"=\" + p.getProperty(k)); } }\n")
def multi(root, *extra: str, versions: str = "[21, 25]", command: str = "apply"):
    return provision(command, "java-multi", "-H", root.target, "-e", f"java_versions={versions}",
                     "-e", "default_java=21", "-e", "gradle_user=bob", *extra, "--json")


def java_reads(root, path: str) -> dict[str, str]:
    """The properties OpenJDK's java.util.Properties reads from ``path`` in the root."""
    root.file("/tmp/ReadProps.java").write_text(READ_PROPS)
    out = root.out(f"java /tmp/ReadProps.java {path}")
    return dict(line.split("=", 1) for line in out.splitlines())


def env(root) -> str:
    return root.file("/etc/environment").read_text()


@pytest.fixture(scope="module")
def root():
    lab_or_skip()
    with lab.Root(lab.trixie_maven_base(), name="multi") as r:
        f = r.file(maven.TOOLCHAINS)
        data = f.read_bytes()
        at = data.rindex(b"</toolchains>")
        f.write_bytes(data[:at] + FOREIGN + data[at:])
        r.original = f.read_bytes()
        r.file("/etc/environment").write_bytes(b"# site settings, keep\nhttp_proxy=http://proxy.example:3128/\n")
        r.sh("useradd -m bob && mkdir /home/bob/.gradle")
        r.file(BOB_PROPS).write_bytes(BOB_OWN)
        r.sh("chown -R bob:bob /home/bob/.gradle")
        yield r


def test_two_jdks_side_by_side_and_maven_compiles_with_the_one_that_is_not_the_default(root):
    first = multi(root)
    assert first.rc == 0, first.stderr
    text = env(root)
    assert f'JAVA_HOME="{J21}"' in text and f'JAVA_21_HOME="{J21}"' in text and f'JAVA_25_HOME="{J25}"' in text
    assert f'JAVA_HOME_21_X64="{J21}"' in text and f'JAVA_HOME_25_X64="{J25}"' in text, "setup-java's spelling"
    # a new SSH session's PAM would give these; pam_env's reading of the file, as the shell sees it
    seen = root.out("set -a; . /etc/environment; set +a; echo $JAVA_HOME_25_X64 $JAVA_25_HOME")
    assert seen.split() == [J25, J25]
    props = root.file(BOB_PROPS).read_bytes()
    assert props.startswith(BOB_OWN), "bob's own lines, byte for byte, ours after them"
    read = java_reads(root, BOB_PROPS)
    assert read[PATHS] == f"{J21},{J25}" and read["org.gradle.jvmargs"] == "-Xmx2g -Dfile.encoding=UTF-8"
    assert read["org.gradle.parallel"] == "true" and read["systemProp.user.name"] == "bob\u00e9"
    assert root.out(f"stat -c '%U %a' {BOB_PROPS}").strip() == "bob 644"
    for home in read[PATHS].split(","):
        assert root.out(f"runuser -u bob -- {home}/bin/javac -version 2>&1").startswith("javac ")
    assert text.startswith("# site settings, keep\nhttp_proxy=http://proxy.example:3128/\n")
    assert root.out("readlink -f \"$(command -v javac)\"").strip() == f"{J21}/bin/javac"
    xml = root.file(maven.TOOLCHAINS).read_bytes()
    assert FOREIGN in xml and xml.startswith(root.original[:root.original.rindex(b"</toolchains>")])

    maven.write_project(root.file, 25)
    built = root.sh(maven.command(25), check=False)
    log = built.stdout.decode(errors="replace")
    assert built.returncode == 0, log
    assert "Toolchain in maven-compiler-plugin: JDK[" + J25 in log, log
    assert "Java version: 21" in root.out("mvn -v"), "Maven itself runs on the default JDK"
    assert maven.major(root.file, 25) == 69, "javac 25 compiled it"

    second = multi(root)
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    assert root.file(BOB_PROPS).read_bytes() == props
    proved = multi(root, command="verify")
    assert proved.rc == 0, proved.stderr
    names = [c["name"] for c in proved.json["hosts"][0]["checks"]]
    assert f"jdk 25: {J25}/bin/javac -version reports 25" in names and "jdk 21: java and javac are JDK 21's" in names
    assert f"toolchains: {maven.TOOLCHAINS} lists JDK 25" in names
    assert f"gradle: {BOB_PROPS} lists JDK 21, 25 for Gradle" in names
    said = {c["name"]: c["message"] for c in proved.json["hosts"][0]["checks"]}
    alt = said["jdk 21: the java and javac alternatives point into JDK 21's home"]
    assert f"java → {J21}/bin/java (manual; {J25}/bin/java ranks higher)" in alt, alt

    said = doctor_says(root.target)  # which JDK each variable and toolchain is
    assert f"JDKs in /usr/lib/jvm: JDK 21 ({J21}, " in said and f"; JDK 25 ({J25}, " in said, said
    assert "JAVA_25_HOME (/etc/environment:" in said and "JAVA_HOME_25_X64 (/etc/environment:" in said, said
    assert f"toolchain jdk 25 (provision's) → JDK 25 ({J25}" in said, said
    assert "toolchain jdk 11 points at /opt/site-jdk-11, which does not exist" in said, said


def test_a_users_gradle_link_or_hard_link_to_a_root_file_is_refused(root):
    """mallory's ~/.gradle is a link to /etc (the file would be /etc/gradle.properties, made by
    root), then her gradle.properties is a hard link of /etc/shadow: neither is written."""
    root.sh("useradd -m mallory && ln -s /etc /home/mallory/.gradle && chown -h mallory:mallory /home/mallory/.gradle")
    shadow = root.file("/etc/shadow").read_bytes()
    linked = multi(root, "-e", "gradle_user=mallory")
    assert linked.rc == 1, linked
    assert "symbolic link" in linked.stderr, linked.stderr
    assert not root.file("/etc/gradle.properties").exists()

    root.sh("rm /home/mallory/.gradle && mkdir /home/mallory/.gradle && "
            "ln /etc/shadow /home/mallory/.gradle/gradle.properties && chown -h mallory:mallory /home/mallory/.gradle")
    hard = multi(root, "-e", "gradle_user=mallory")
    assert hard.rc == 1, hard
    assert "hard link" in hard.stderr, hard.stderr
    assert root.file("/etc/shadow").read_bytes() == shadow
    assert root.out("stat -c '%U %h' /etc/shadow").strip() == "root 2"
    root.sh("rm /home/mallory/.gradle/gradle.properties")


def test_a_users_toolchains_link_to_shadow_is_refused_and_her_own_file_is_hers(root):
    root.sh("useradd -m alice && mkdir /home/alice/.m2 && ln -s /etc/shadow /home/alice/.m2/toolchains.xml "
            "&& chown -R -h alice:alice /home/alice/.m2")
    shadow = root.file("/etc/shadow").read_bytes()
    hostile = multi(root, "-e", "maven_user=alice")
    assert hostile.rc == 1, hostile
    assert "symbolic link" in hostile.stderr, hostile
    assert root.file("/etc/shadow").read_bytes() == shadow
    assert root.file("/home/alice/.m2/toolchains.xml").is_symlink()

    root.sh("rm -r /home/alice/.m2")
    own = multi(root, "-e", "maven_user=alice")
    assert own.rc == 0, own.stderr
    assert root.out("stat -c '%U %a' /home/alice/.m2 /home/alice/.m2/toolchains.xml").split() == \
        ["alice", "755", "alice", "644"]
    assert b"<id>provision-jdk-25</id>" in root.file("/home/alice/.m2/toolchains.xml").read_bytes()


def test_taking_a_version_off_the_list_removes_it_its_variables_and_its_toolchain(root):
    gone = multi(root, versions="[21]")
    assert gone.rc == 0, gone.stderr
    assert root.out("dpkg-query -W -f='${Status}' openjdk-25-jdk-headless 2>&1") != "install ok installed"
    assert root.out("dpkg-query -W -f='${Status}' openjdk-21-jdk-headless") == "install ok installed"
    text = env(root)
    assert "JAVA_25_HOME" not in text and f'JAVA_21_HOME="{J21}"' in text and f'JAVA_HOME="{J21}"' in text
    assert "JAVA_HOME_25_X64" not in text and f'JAVA_HOME_21_X64="{J21}"' in text
    props = root.file(BOB_PROPS).read_bytes()
    assert props.startswith(BOB_OWN) and java_reads(root, BOB_PROPS)[PATHS] == J21
    xml = root.file(maven.TOOLCHAINS).read_bytes()
    assert b"provision-jdk-25" not in xml and b"provision-jdk-21" in xml and FOREIGN in xml
    again = multi(root, versions="[21]")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again.stderr
    doctor = doctor_says(root.target)
    assert "JAVA_25_HOME" not in doctor and "JDK 25" not in doctor and f"JDKs in /usr/lib/jvm: JDK 21 ({J21}" in doctor
    root.file("/etc/profile.d/site.sh").write_text(f'export JAVA_25_HOME="{J25}"\n')  # someone's, left behind
    doctor = doctor_says(root.target)
    assert f"JAVA_25_HOME (/etc/profile.d/site.sh:1) points at {J25}, which does not exist" in doctor, doctor
    root.file("/etc/profile.d/site.sh").unlink()

    ours = re.compile(rb"  <toolchain>\n    <!-- written by provision: JDK 21,.*?</toolchain>\n", re.S)
    assert len(ours.findall(xml)) == 1 and ours.sub(b"", xml) == root.original, \
        "others' toolchains and Debian's comment, byte for byte"


def test_gradle_jdks_absent_gives_bob_his_gradle_properties_back_byte_for_byte(root, tmp_path):
    """(java-multi's state=absent would remove the JDK Debian's maven needs, which apt refuses
    without allow_extra_removals: the gradle part alone, as a playbook of its own.)"""
    book = tmp_path / "gradle-off.yml"
    book.write_text("name: gradle-off\nresources:\n  - gradle_jdks:\n      user: bob\n      state: absent\n")
    gone = provision("apply", str(book), "-H", root.target, "--json")
    assert gone.rc == 0 and gone.json["hosts"][0]["changed"] == 1, gone.stderr
    assert root.file(BOB_PROPS).read_bytes() == BOB_OWN, "bob's own lines, byte for byte, ours gone"
    again = provision("apply", str(book), "-H", root.target, "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again.stderr
