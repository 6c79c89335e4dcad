"""Checks of a JDK and of JAVA_HOME: the Java knowledge ``verify`` needs, for the ``jdk`` type's
checks and for the ``JAVA_HOME`` an ``env_file`` sets. Built from the generic blocks of
provision.verify.checks."""

from __future__ import annotations

import base64
import re

from provision.verify.checks import (
    Check,
    CheckEnv,
    Probe,
    Test,
    default_tool,
    env_value,
    first_line,
    read_file,
    resolved,
)


def java_major(version: str) -> int | None:
    """'17.0.13' → 17, '1.8.0_392' → 8, '21' → 21."""
    m = re.match(r"^(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def tool_version(tool: str, want: int) -> Test:
    """``tool -version`` reports ``want``: read from the JDK run (``jdk_run``), which prints both
    versions (javac -version, java -showversion) while compiling and running a program."""
    def test(probe: Probe) -> tuple[bool, str]:
        rc, text = jdk_run(probe)[tool]
        if rc == 127 or "not found" in text and rc != 0:
            return False, f"{tool} is not on the PATH"
        m = re.search(r'version "([^"]+)"', text) if tool == "java" else re.search(r"javac (\S+)", text)
        if not m:
            return False, f"{tool} -version failed (exit {rc}): {first_line(text)}"
        major = java_major(m.group(1))
        if major != want:
            return False, f"{tool} -version reports {m.group(1)}, not {want}"
        if "(the JAVA_VERSION of" in text:  # read from its JDK's release file, not run
            return True, f"{tool} is part of a JDK {m.group(1)}: {first_line(text)[len(tool) + 1:]}"
        return True, f"{tool} -version: {first_line(text)}"
    return test


def is_jdk(probe: Probe, home: str) -> tuple[bool, str]:
    missing = [t for t in ("java", "javac") if not probe.host.file(f"{home}/bin/{t}").is_executable]
    if missing:
        if not probe.host.file(home).is_directory:
            return False, f"{home} is not a directory"
        return False, f"{home} has no bin/{' and no bin/'.join(missing)} (not a JDK)"
    return True, f"{home} has bin/java and bin/javac"


HELLO = """public class ProvisionCheck {
    public static void main(String[] args) {
        System.out.println("provision-verify " + Runtime.version().feature());
    }
}
"""

# One JVM proves it all (each tool's result base64 on its own line: nothing a tool prints can pass
# for the other's): java -showversion prints its version, then compiles the program in memory with
# its JDK's own compiler (the source launcher, Java 11+) and runs it. javac's version is read from
# the release file of the JDK that javac is part of (javac resolved through its links, in
# <home>/bin); a javac that is not in a JDK's bin/, or a java without the source launcher (Java 8),
# is run as before. The JVM options make a short run cheap (the JIT's first tier only, one GC
# thread); IgnoreUnrecognizedVMOptions keeps other JVMs working.
_JDK_RUN = r"""
d=$(mktemp -d) || exit 90
trap 'rm -rf "$d"' EXIT
printf '%s' "$1" > "$d/ProvisionCheck.java" || exit 91
cd "$d" || exit 92
o="-XX:+IgnoreUnrecognizedVMOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
javac_run() { javac $(for x in $o; do printf ' -J%s' "$x"; done) -version -d "$d" ProvisionCheck.java; }
v= j=$(command -v javac) && h=$(readlink -f -- "$j") && [ -x "$h" ] && r=${h%/bin/javac}/release &&
  [ "$r" != "$h/release" ] && [ -f "$r" ] && v=$(sed -n 's/^JAVA_VERSION="\([^"]*\)"$/\1/p' "$r" | head -n 1)
if [ -z "$j" ]; then echo "sh: 1: javac: not found" >"$d/javac.out"; rc=127
elif [ -n "$v" ]; then echo "javac $v (the JAVA_VERSION of $r)" >"$d/javac.out"; rc=0
else javac_run >"$d/javac.out" 2>&1; rc=$?; fi
java $o -showversion ProvisionCheck.java >"$d/java.out" 2>&1; jrc=$?
if [ "$jrc" != 0 ] && grep -q 'main class ProvisionCheck.java' "$d/java.out"; then  # no source launcher
  javac_run >"$d/javac.out" 2>&1; rc=$?
  java $o -showversion -cp "$d" ProvisionCheck >"$d/java.out" 2>&1; jrc=$?
fi
echo "javac $rc $(base64 -w0 "$d/javac.out")"
echo "java $jrc $(base64 -w0 "$d/java.out")"
"""


def jdk_run(probe: Probe) -> dict[str, tuple[int, str]]:
    """{"javac": (exit status, output), "java": (...)} of compiling and running HELLO (run once
    per host: the checks share it)."""
    r = probe.run("sh -c %s sh %s", _JDK_RUN, HELLO)
    found: dict[str, tuple[int, str]] = {"javac": (r.rc or 1, r.stderr), "java": (r.rc or 1, r.stderr)}
    for tool in ("javac", "java"):
        m = re.search(rf"^{tool} (\d+) ([A-Za-z0-9+/=]*)$", r.stdout, re.M)
        if m:
            found[tool] = (int(m.group(1)), base64.b64decode(m.group(2)).decode("utf-8", "replace"))
    return found


def compile_and_run(want: int) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        run = jdk_run(probe)
        for tool in ("javac", "java"):
            rc, text = run[tool]
            if rc != 0:
                lines = [ln for ln in text.splitlines() if ln.strip() and "version" not in ln]
                return False, f"{tool} failed (exit {rc}): {' | '.join(lines[-3:]) or 'no output'}"
        printed = [ln.strip() for ln in run["java"][1].splitlines() if ln.startswith("provision-verify")]
        if printed != [f"provision-verify {want}"]:
            return False, f"the program printed {printed!r}, expected 'provision-verify {want}'"
        return True, f"java compiled (its JDK's compiler) and ran a one-class program (Java {want})"
    return test


# A login shell of the user, as su - gives it: its start-up files (~/.profile) are the user's
# code, run as the user. su is PID 1 of a PID namespace of its own where one can be made (what
# the shell leaves running is killed when su ends; it sees no other process), for at most
# LOGIN_TIMEOUT seconds (then TERM, and KILL 5 s later). The answer is printenv's alone, on fd 3;
# what su and the start-up files print goes to stderr, so no message of theirs passes for it.
LOGIN_TIMEOUT = 30
LOGIN_SHELL = (
    "ns=; unshare --pid --fork --kill-child --mount-proc true 2>/dev/null && "
    "ns='unshare --pid --fork --kill-child --mount-proc'; "
    f"timeout -k 5 {LOGIN_TIMEOUT} $ns su - %s -c 'printenv JAVA_HOME >&3' 3>&1 >&2 </dev/null")


def java_home_checks(rid: str, label: str, path: str, value: str, env: CheckEnv) -> list[Check]:
    """JAVA_HOME as written, and as users get it (login shell; a new SSH session)."""

    def actual(probe: Probe) -> str | None:
        return env_value(read_file(probe, path), "JAVA_HOME")

    def home_is_jdk(probe: Probe) -> tuple[bool, str]:
        home = actual(probe)
        if home is None:
            return False, f"JAVA_HOME is not set in {path}"
        return is_jdk(probe, home)

    def is_default(probe: Probe) -> tuple[bool, str]:
        home = actual(probe)
        if home is None:
            return False, f"JAVA_HOME is not set in {path}"
        java = default_tool(probe, "java")
        if not java:
            return False, "there is no java on the PATH"
        mine = resolved(probe, f"{home}/bin/java")
        if java != mine:
            return False, f"the default java is {java}, but JAVA_HOME ({home}) has {mine or 'no bin/java'}"
        return True, f"the default java is {java}"

    def login_shell(probe: Probe) -> tuple[bool, str]:
        user = probe.user
        r = probe.run(LOGIN_SHELL, user)
        got = r.stdout.rstrip("\n")
        if r.rc in (124, 137):
            return False, f"a login shell of {user} did not finish within {LOGIN_TIMEOUT}s (su - {user})"
        if r.rc not in (0, 1):
            return False, f"su - {user} failed (exit {r.rc}): {first_line(r.stderr)}"
        if got != value:
            return False, (f"a login shell of {user} has JAVA_HOME={got}, expected {value}" if got
                           else f"a login shell of {user} has no JAVA_HOME (expected {value})")
        return True, f"a login shell of {user} has JAVA_HOME={value}"

    def ssh_session(probe: Probe) -> tuple[bool, str]:
        plain = getattr(probe.conn, "run_unprivileged", None)
        if plain is None:
            return False, f"the {probe.conn.kind} connection cannot open a plain session"
        r = plain(["printenv", "JAVA_HOME"], timeout=60)
        got = r.out.strip()
        if got != value:
            return False, (f"a new SSH session has JAVA_HOME={got}, expected {value}" if got
                           else f"a new SSH session has no JAVA_HOME (expected {value})")
        return True, f"a new SSH session has JAVA_HOME={value}"

    checks = [Check(f"{rid}: JAVA_HOME in {path} is a JDK (bin/java, bin/javac)", label, home_is_jdk),
              Check(f"{rid}: JAVA_HOME in {path} is the default java's home", label, is_default)]
    if path == "/etc/environment":  # read by pam_env: what su - and ssh sessions get
        checks.append(Check(f"{rid}: a login shell (su -) sees JAVA_HOME", label, login_shell))
        if env.kind == "ssh":
            checks.append(Check(f"{rid}: a new SSH session sees JAVA_HOME", label, ssh_session))
    return checks
