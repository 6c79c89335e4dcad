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
        String v = System.getProperty("java.specification.version");
        System.out.println("provision-verify " + (v.startsWith("1.") ? v.substring(2) : v));
        String compiler = "none";
        try {
            Object tool = Class.forName("javax.tools.ToolProvider").getMethod("getSystemJavaCompiler").invoke(null);
            if (tool != null) {
                compiler = tool.getClass().getName();
            }
        } catch (Throwable e) {
            compiler = "none (" + e + ")";
        }
        System.out.println("provision-compiler " + compiler);
        System.out.println("provision-home " + System.getProperty("java.home"));
    }
}
"""

# HELLO compiled by `javac --release 8 -g:none` (OpenJDK 17; javac's output is the same byte for
# byte each time: tests/e2e/test_verify.py compiles HELLO on a host and compares). Class file
# version 52: it runs on Java 8 and later.
HELLO_CLASS = base64.b64decode(
    "yv66vgAAADQAZgoAAgADBwAEDAAFAAYBABBqYXZhL2xhbmcvT2JqZWN0AQAGPGluaXQ+AQADKClWCAAIAQAaamF2YS5zcGVjaWZp"
    "Y2F0aW9uLnZlcnNpb24KAAoACwcADAwADQAOAQAQamF2YS9sYW5nL1N5c3RlbQEAC2dldFByb3BlcnR5AQAmKExqYXZhL2xhbmcv"
    "U3RyaW5nOylMamF2YS9sYW5nL1N0cmluZzsJAAoAEAwAEQASAQADb3V0AQAVTGphdmEvaW8vUHJpbnRTdHJlYW07BwAUAQAXamF2"
    "YS9sYW5nL1N0cmluZ0J1aWxkZXIKABMAAwgAFwEAEXByb3Zpc2lvbi12ZXJpZnkgCgATABkMABoAGwEABmFwcGVuZAEALShMamF2"
    "YS9sYW5nL1N0cmluZzspTGphdmEvbGFuZy9TdHJpbmdCdWlsZGVyOwgAHQEAAjEuCgAfACAHACEMACIAIwEAEGphdmEvbGFuZy9T"
    "dHJpbmcBAApzdGFydHNXaXRoAQAVKExqYXZhL2xhbmcvU3RyaW5nOylaCgAfACUMACYAJwEACXN1YnN0cmluZwEAFShJKUxqYXZh"
    "L2xhbmcvU3RyaW5nOwoAEwApDAAqACsBAAh0b1N0cmluZwEAFCgpTGphdmEvbGFuZy9TdHJpbmc7CgAtAC4HAC8MADAAMQEAE2ph"
    "dmEvaW8vUHJpbnRTdHJlYW0BAAdwcmludGxuAQAVKExqYXZhL2xhbmcvU3RyaW5nOylWCAAzAQAEbm9uZQgANQEAGGphdmF4LnRv"
    "b2xzLlRvb2xQcm92aWRlcgoANwA4BwA5DAA6ADsBAA9qYXZhL2xhbmcvQ2xhc3MBAAdmb3JOYW1lAQAlKExqYXZhL2xhbmcvU3Ry"
    "aW5nOylMamF2YS9sYW5nL0NsYXNzOwgAPQEAFWdldFN5c3RlbUphdmFDb21waWxlcgoANwA/DABAAEEBAAlnZXRNZXRob2QBAEAo"
    "TGphdmEvbGFuZy9TdHJpbmc7W0xqYXZhL2xhbmcvQ2xhc3M7KUxqYXZhL2xhbmcvcmVmbGVjdC9NZXRob2Q7CgBDAEQHAEUMAEYA"
    "RwEAGGphdmEvbGFuZy9yZWZsZWN0L01ldGhvZAEABmludm9rZQEAOShMamF2YS9sYW5nL09iamVjdDtbTGphdmEvbGFuZy9PYmpl"
    "Y3Q7KUxqYXZhL2xhbmcvT2JqZWN0OwoAAgBJDABKAEsBAAhnZXRDbGFzcwEAEygpTGphdmEvbGFuZy9DbGFzczsKADcATQwATgAr"
    "AQAHZ2V0TmFtZQcAUAEAE2phdmEvbGFuZy9UaHJvd2FibGUIAFIBAAZub25lICgKABMAVAwAGgBVAQAtKExqYXZhL2xhbmcvT2Jq"
    "ZWN0OylMamF2YS9sYW5nL1N0cmluZ0J1aWxkZXI7CABXAQABKQgAWQEAE3Byb3Zpc2lvbi1jb21waWxlciAIAFsBAA9wcm92aXNp"
    "b24taG9tZSAIAF0BAAlqYXZhLmhvbWUHAF8BAA5Qcm92aXNpb25DaGVjawEABENvZGUBAARtYWluAQAWKFtMamF2YS9sYW5nL1N0"
    "cmluZzspVgEADVN0YWNrTWFwVGFibGUHAGUBABNbTGphdmEvbGFuZy9TdHJpbmc7ACEAXgACAAAAAAACAAEABQAGAAEAYAAAABEA"
    "AQABAAAABSq3AAGxAAAAAAAJAGEAYgABAGAAAAD6AAQABAAAAKoSB7gACUyyAA+7ABNZtwAVEha2ABgrEhy2AB6ZAAsrBbYAJKcA"
    "BCu2ABi2ACi2ACwSMk0SNLgANhI8A70AN7YAPgEDvQACtgBCTi3GAAsttgBItgBMTacAHU67ABNZtwAVElG2ABgttgBTEla2ABi2"
    "AChNsgAPuwATWbcAFRJYtgAYLLYAGLYAKLYALLIAD7sAE1m3ABUSWrYAGBJcuAAJtgAYtgAotgAssQABADMAVgBZAE8AAQBjAAAA"
    "NgAF/wAmAAIHAGQHAB8AAgcALQcAE/8AAAACBwBkBwAfAAMHAC0HABMHAB/8AC4HAB9CBwBPGQAA"
)

# One JVM start proves it all (each tool's result base64 on its own line: nothing a tool prints
# can pass for the other's): java -showversion prints its version, then runs the compiled HELLO,
# which prints Java's version, its own JDK's compiler (javax.tools: the jdk.compiler module that
# javac runs) and the JDK's home. Compiling is what costs (the source launcher's in-memory javac
# took ~0.75 s of CPU, against ~0.08 s for this run), so javac is proven by the JDK's own files
# where they prove it: javac resolved through its links is <home>/bin/javac of a JDK with a release
# file (its JAVA_VERSION is javac's version), and that home is the one java runs from and has its
# compiler. A javac that is not in a JDK's bin/ is run as before: it compiles HELLO (its class is
# the one run) and reports its version. The JVM options make a short run cheap (the JIT's first
# tier only, one GC thread); IgnoreUnrecognizedVMOptions keeps other JVMs working.
_JDK_RUN = r"""
d=$(mktemp -d) || exit 90
trap 'rm -rf "$d"' EXIT
cd "$d" || exit 92
o="-XX:+IgnoreUnrecognizedVMOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
v= c=0 home= j=$(command -v javac) && h=$(readlink -f -- "$j") && [ -x "$h" ] && r=${h%/bin/javac}/release &&
  [ "$r" != "$h/release" ] && [ -f "$r" ] && v=$(sed -n 's/^JAVA_VERSION="\([^"]*\)"$/\1/p' "$r" | head -n 1)
if [ -z "$j" ]; then echo "sh: 1: javac: not found" >javac.out; rc=127
elif [ -n "$v" ]; then echo "javac $v (the JAVA_VERSION of $r)" >javac.out; rc=0; home=${h%/bin/javac}
else
  printf '%s' "$1" >ProvisionCheck.java || exit 91
  javac $(for x in $o; do printf ' -J%s' "$x"; done) -version -d "$d" ProvisionCheck.java >javac.out 2>&1; rc=$?
  [ "$rc" = 0 ] && c=1
fi
[ "$c" = 1 ] || printf '%s' "$2" | base64 -d >ProvisionCheck.class || exit 91
java $o -showversion -cp "$d" ProvisionCheck >java.out 2>&1; jrc=$?
echo "javac $rc $(base64 -w0 javac.out)"
echo "java $jrc $(base64 -w0 java.out)"
echo "home $c $(printf '%s' "$home" | base64 -w0)"
"""


def jdk_run(probe: Probe) -> dict[str, tuple[int, str]]:
    """{"javac": (exit status, output), "java": (...), "home": (1 if javac compiled HELLO, else 0;
    the home of the JDK whose files prove javac, "" if none)} of running HELLO (once per host:
    the checks share it)."""
    r = probe.run("sh -c %s sh %s %s", _JDK_RUN, HELLO, base64.b64encode(HELLO_CLASS).decode())
    found: dict[str, tuple[int, str]] = {"javac": (r.rc or 1, r.stderr), "java": (r.rc or 1, r.stderr),
                                         "home": (0, "")}
    for tool in ("javac", "java", "home"):
        m = re.search(rf"^{tool} (\d+) ([A-Za-z0-9+/=]*)$", r.stdout, re.M)
        if m:
            found[tool] = (int(m.group(1)), base64.b64decode(m.group(2)).decode("utf-8", "replace"))
    return found


def _said(text: str, key: str) -> str | None:
    """What HELLO printed after ``provision-<key> `` (its last such line), None if it did not."""
    lines = [ln[len(key) + 11:].rstrip("\r") for ln in text.splitlines() if ln.startswith(f"provision-{key} ")]
    return lines[-1] if lines else None


def compile_and_run(want: int) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        run = jdk_run(probe)
        for tool in ("javac", "java"):
            rc, text = run[tool]
            if rc != 0:
                lines = [ln for ln in text.splitlines() if ln.strip() and "version" not in ln]
                return False, f"{tool} failed (exit {rc}): {' | '.join(lines[-3:]) or 'no output'}"
        out = run["java"][1]
        printed = [ln.strip() for ln in out.splitlines() if ln.startswith("provision-verify")]
        if printed != [f"provision-verify {want}"]:
            return False, f"the program printed {printed!r}, expected 'provision-verify {want}'"
        compiled, javac_home = run["home"]
        if compiled:
            return True, f"javac compiled and java ran a one-class program (Java {want})"
        java_home, compiler = _said(out, "home") or "", _said(out, "compiler") or "none"
        if compiler.startswith("none"):
            return False, f"javac cannot compile: the JDK java runs from ({java_home}) has no Java compiler " \
                          f"(javax.tools: {compiler})"
        if javac_home not in (java_home, java_home.removesuffix("/jre")):  # Java 8: <jdk>/jre
            return False, f"javac is {javac_home}/bin/javac, but java runs from {java_home}"
        return True, (f"java ran a one-class program (Java {want}); its JDK ({javac_home}) has bin/javac "
                      f"and its compiler ({compiler})")
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
