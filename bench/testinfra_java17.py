"""The checks `provision verify java17` makes, hand-written for pytest-testinfra as a user would
write them: bench/run.py times both on the same converged hosts (verify scenario).

Run: pytest --hosts=paramiko://root@lab11,... --ssh-config=FILE -n N bench/testinfra_java17.py
"""

import re

JDK = "openjdk-17-jdk-headless"
PROGRAM = "public class H { public static void main(String[] a) { System.out.println(Runtime.version().feature()); } }"


def jdk_home(host):
    javac = host.check_output("dpkg -L %s | grep -m 1 -E '/bin/javac$'", JDK)
    return javac.rsplit("/bin/", 1)[0]


def first_user(host):
    for line in host.check_output("getent passwd").splitlines():
        f = line.split(":")
        if len(f) == 7 and f[2].isdigit() and 1000 <= int(f[2]) < 65534 and not f[6].endswith("nologin"):
            return f[0]
    return "root"


def environment_java_home(host):
    m = re.search(r'^JAVA_HOME="?([^"\n]*)"?$', host.file("/etc/environment").content_string, re.M)
    return m.group(1) if m else None


def test_package_is_installed(host):
    assert host.package(JDK).is_installed


def test_jdk_home_has_java_and_javac(host):
    home = jdk_home(host)
    assert host.file(f"{home}/bin/java").mode & 0o111
    assert host.file(f"{home}/bin/javac").mode & 0o111


def test_release_file_says_17(host):
    assert 'JAVA_VERSION="17' in host.file(f"{jdk_home(host)}/release").content_string


def test_java_version_is_17(host):
    assert re.search(r'version "17[."]', host.run("java -version").stderr)


def test_javac_version_is_17(host):
    r = host.run("javac -version")
    assert re.match(r"javac 17\b", r.stdout + r.stderr)


def test_java_and_javac_are_jdk17s(host):
    home = jdk_home(host)
    assert host.check_output("readlink -f \"$(command -v java)\"") == f"{home}/bin/java"
    assert host.check_output("readlink -f \"$(command -v javac)\"") == f"{home}/bin/javac"


def test_javac_compiles_and_java_runs(host):
    out = host.check_output("d=$(mktemp -d) && cd \"$d\" && printf '%%s' %s > H.java && javac H.java && "
                            "java -cp . H; rc=$?; rm -rf \"$d\"; exit $rc", PROGRAM)
    assert out.strip() == "17"


def test_environment_sets_java_home(host):
    assert environment_java_home(host)


def test_java_home_is_a_jdk(host):
    home = environment_java_home(host)
    assert host.file(f"{home}/bin/java").mode & 0o111 and host.file(f"{home}/bin/javac").mode & 0o111


def test_java_home_is_the_default_javas_home(host):
    assert host.check_output("readlink -f \"$(command -v java)\"") == f"{environment_java_home(host)}/bin/java"


def test_login_shell_sees_java_home(host):
    out = host.check_output("su - %s -c 'echo $JAVA_HOME'", first_user(host))
    assert out == environment_java_home(host)


def test_new_ssh_session_sees_java_home(host):
    assert host.check_output("echo $JAVA_HOME") == environment_java_home(host)  # each run: a new session
