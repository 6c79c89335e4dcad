"""provision verify without a host: check generation from data, `checks:` validation, the testinfra
backend over a fake connection, check tests against scripted answers, JUnit/JSON output, CLI usage."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from factsdata import facts_from

from provision import playbook
from provision.cli import cli
from provision.connections.base import CommandResult, Connection
from provision.errors import PlaybookError
from provision.java.checks import HELLO, HELLO_CLASS
from provision.registry import registry
from provision.resource import Resource
from provision.verify import output
from provision.verify.backend import make_host
from provision.verify.checks import Probe, default_user
from provision.verify.custom import version_matches
from provision.verify.runner import CheckResult, HostReport, plan_checks, run_check

DATA = Path(__file__).parent / "data"
CASES = yaml.safe_load((DATA / "verify_checks.yml").read_text())
BAD = yaml.safe_load((DATA / "bad_checks.yml").read_text())


def test_every_resource_type_has_checks():
    missing = sorted(name for name, cls in registry().items() if cls.checks is Resource.checks)
    assert not missing, f"resource types without checks (define checks() in their module): {missing}"


def _load(case, tmp_path):
    if "playbook" in case:
        return playbook.load(case["playbook"], case.get("vars"))
    for name, text in case.get("files", {}).items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "p.yml"
    path.write_text(case["text"])
    return playbook.load(str(path), case.get("vars"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_checks_generated_from_the_playbook(case, tmp_path):
    pb = _load(case, tmp_path)
    checks, skipped = plan_checks(pb, facts_from(case.get("facts") or {}), case.get("kind", "chroot"))
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    if "checks" in case:
        assert names == case["checks"]
    for name in case.get("has", []):
        assert name in names, names
    for name, resource in case.get("resources", {}).items():
        assert next(c.resource for c in checks if c.name == name) == resource
    if "skipped" in case:
        assert len(skipped) == len(case["skipped"]), skipped
        for got, want in zip(skipped, case["skipped"], strict=True):
            assert got.startswith(want), skipped


@pytest.mark.parametrize("case", BAD, ids=lambda c: c["name"])
def test_malformed_checks_are_refused_with_their_location(case, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(case["text"])
    with pytest.raises(PlaybookError) as err:
        playbook.load(str(path))
    e = err.value
    assert case["message"] in e.message, str(e)
    assert (e.line, e.key) == (case["line"], case["key"]), str(e)
    assert str(e).startswith(f"{path}:{case['line']}: ")


def test_checks_from_imports_come_first_and_names_are_unique_across_files(tmp_path):
    (tmp_path / "base.yml").write_text("resources: [{jdk: {}}]\nchecks:\n  - name: a\n    file: {path: /a}\n")
    (tmp_path / "site.yml").write_text("imports: [base.yml]\nchecks:\n  - name: b\n    file: {path: /b}\n")
    assert [c.name for c in playbook.load(str(tmp_path / "site.yml")).checks] == ["a", "b"]
    (tmp_path / "dup.yml").write_text("imports: [base.yml]\nchecks:\n  - name: a\n    file: {path: /c}\n")
    with pytest.raises(PlaybookError, match=r"two checks are named 'a' \(the other is at .*base.yml:3\)"):
        playbook.load(str(tmp_path / "dup.yml"))


# --------------------------------------------------------------------------- on a scripted host

class Scripted(Connection):
    """A host whose answers are scripted: first regex matching the shell command wins."""

    kind = "chroot"

    def __init__(self, answers: list[tuple[str, int, str, str]]) -> None:
        super().__init__("scripted")
        self.answers = answers
        self.seen: list[list[str]] = []

    def _exec(self, argv: Sequence[str], *, input, timeout, stream) -> CommandResult:  # noqa: ANN001
        self.seen.append(list(argv))
        text = argv[-1]
        for pattern, rc, out, err in self.answers:
            if re.search(pattern, text):
                return CommandResult(text, rc, out.encode(), err.encode())
        return CommandResult(text, 127, b"", f"unscripted: {text}".encode())


SYSTEM = [(r"^uname -s$", 0, "Linux\n", ""), (r"^cat /etc/os-release$", 0, "ID=debian\nVERSION_ID=12\n", ""),
          (r"^uname -m$", 0, "x86_64\n", "")]


def probe_for(answers) -> tuple[Probe, Scripted]:
    conn = Scripted(answers + SYSTEM)  # testinfra asks what system it is before using host.file
    return Probe(make_host(conn, "h1"), conn, user="dev"), conn


def test_the_backend_runs_testinfra_commands_through_our_connection_quoted():
    probe, conn = probe_for([(r"^echo ", 0, "a b;c\n", "")])
    r = probe.host.run("echo %s", "a b;c")
    assert (r.rc, r.stdout) == (0, "a b;c\n")
    assert conn.seen == [["sh", "-c", "echo 'a b;c'"]]  # no sudo prefix, no python probe
    assert probe.host.backend.get_pytest_id() == "h1"


HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
ENV_OK = f'PATH="/usr/bin:/bin"\nJAVA_HOME="{HOME}"\n'


def java17_checks(kind: str = "chroot"):
    pb = playbook.load("java17")
    facts = facts_from(CASES[0]["facts"])
    return {c.name: c for c in plan_checks(pb, facts, kind)[0]}


@pytest.mark.parametrize("env, ok, message", [
    (ENV_OK, True, f"JAVA_HOME={HOME}"),
    ('PATH="/usr/bin:/bin"\n', False, f"JAVA_HOME is not set in /etc/environment (expected {HOME})"),
    ('JAVA_HOME="/opt/jre-only"\n', False,
     f"JAVA_HOME is /opt/jre-only in /etc/environment, expected {HOME}"),
    (f'JAVA_HOME="{HOME}"\nJAVA_HOME=/opt/x\n', False, "JAVA_HOME is /opt/x"),  # pam_env: the last one wins
])
def test_env_file_check_reads_the_file_as_pam_env_does(env, ok, message):
    check = java17_checks()["java_home: /etc/environment sets JAVA_HOME"]
    probe, _ = probe_for([(r"^test -e /etc/environment$", 0, "", ""),
                          (r"^cat -- /etc/environment$", 0, env, "")])
    result = run_check(check, probe)
    assert (result.status == "passed", message in result.message) == (ok, True), result


def test_jre_only_java_home_is_not_a_jdk():
    check = java17_checks()["java_home: JAVA_HOME in /etc/environment is a JDK (bin/java, bin/javac)"]
    probe, _ = probe_for([(r"^test -e /etc/environment$", 0, "", ""),
                          (r"^cat -- /etc/environment$", 0, 'JAVA_HOME="/opt/jre-only"\n', ""),
                          (r"^test -x /opt/jre-only/bin/java$", 0, "", ""),
                          (r"^test -x /opt/jre-only/bin/javac$", 1, "", ""),
                          (r"^test -d /opt/jre-only$", 0, "", "")])
    result = run_check(check, probe)
    assert result.status == "failed" and result.message == "/opt/jre-only has no bin/javac (not a JDK)"


def test_login_shell_check_runs_su_for_the_user():
    check = java17_checks()["java_home: a login shell (su -) sees JAVA_HOME"]
    su = r" \$ns su - dev -c 'printenv JAVA_HOME >&3' 3>&1 >&2 </dev/null$"
    probe, conn = probe_for([(su, 0, f"{HOME}\n", "")])
    assert run_check(check, probe).status == "passed"
    probe, conn = probe_for([(su, 1, "", "")])
    result = run_check(check, probe)
    assert result.status == "failed"
    assert result.message == f"a login shell of dev has no JAVA_HOME (expected {HOME})"
    probe, conn = probe_for([(su, 124, "", "")])
    result = run_check(check, probe)
    assert result.status == "failed" and result.message.startswith("a login shell of dev did not finish within")


def test_ssh_session_check_uses_a_plain_session_of_the_connection():
    check = java17_checks("ssh")["java_home: a new SSH session sees JAVA_HOME"]
    probe, conn = probe_for([])
    plain: list[list[str]] = []

    def run_unprivileged(argv, timeout=None):  # noqa: ANN001, ANN202
        plain.append(list(argv))
        return CommandResult("printenv", 0, b"/opt/other\n", b"")

    conn.run_unprivileged = run_unprivileged  # type: ignore[attr-defined]
    result = run_check(check, probe)
    assert plain == [["printenv", "JAVA_HOME"]] and conn.seen == []  # not through sudo
    assert result.status == "failed"
    assert result.message == f"a new SSH session has JAVA_HOME=/opt/other, expected {HOME}"


def jdk_run_output(javac: tuple[int, str], java: tuple[int, str], home: tuple[int, str] = (0, "")) -> str:
    """What the JDK run (checks._JDK_RUN) prints: each tool's exit status and output (base64), then
    whether javac compiled the program and the home whose files prove javac."""
    return "".join(f"{tool} {rc} {base64.b64encode(out.encode()).decode()}\n"
                   for tool, (rc, out) in (("javac", javac), ("java", java), ("home", home)))


def ran(home: str = HOME, compiler: str = "com.sun.tools.javac.api.JavacTool", java: int = 17) -> tuple[int, str]:
    """java's output when it ran HELLO: -showversion's lines, then the program's."""
    return 0, (f'openjdk version "{java}.0.15" 2025-04-15\nOpenJDK Runtime Environment\n'
               f"provision-verify {java}\nprovision-compiler {compiler}\nprovision-home {home}\n")


JAVAC_FILES = (0, f"javac 17.0.15 (the JAVA_VERSION of {HOME}/release)\n")
COMPILE = "jdk: javac compiles and java runs a program"


@pytest.mark.parametrize("output, passed, message", [
    (jdk_run_output(JAVAC_FILES, ran(), (0, HOME)), True,
     f"java ran a one-class program (Java 17); its JDK ({HOME}) has bin/javac and its compiler "
     "(com.sun.tools.javac.api.JavacTool)"),
    (jdk_run_output((0, "javac 17.0.15\n"), ran(), (1, "")), True,
     "javac compiled and java ran a one-class program (Java 17)"),  # a javac outside a JDK's bin/: run
    (jdk_run_output(JAVAC_FILES, ran(compiler="none"), (0, HOME)), False,
     f"javac cannot compile: the JDK java runs from ({HOME}) has no Java compiler (javax.tools: none)"),
    (jdk_run_output(JAVAC_FILES, ran(compiler="none (java.lang.ClassNotFoundException: javax.tools.ToolProvider)"),
                    (0, HOME)), False,
     f"javac cannot compile: the JDK java runs from ({HOME}) has no Java compiler "
     "(javax.tools: none (java.lang.ClassNotFoundException: javax.tools.ToolProvider))"),
    (jdk_run_output(JAVAC_FILES, ran(home="/opt/jdk-17"), (0, HOME)), False,
     f"javac is {HOME}/bin/javac, but java runs from /opt/jdk-17"),
    (jdk_run_output(JAVAC_FILES, ran(home=HOME + "/jre"), (0, HOME)), True,  # Java 8's java.home
     f"java ran a one-class program (Java 17); its JDK ({HOME}) has bin/javac and its compiler "
     "(com.sun.tools.javac.api.JavacTool)"),
    (jdk_run_output(JAVAC_FILES, (1, 'openjdk version "17.0.15"\nError: Could not find or load main class '
                                    "ProvisionCheck\n"), (0, HOME)), False,
     "java failed (exit 1): Error: Could not find or load main class ProvisionCheck"),
])
def test_the_compile_check_is_proven_by_one_java_run_and_the_jdks_files(output, passed, message):
    probe, conn = probe_for([(r"ProvisionCheck", 0, output, "")])
    result = run_check(java17_checks()[COMPILE], probe)
    assert (result.status == "passed", result.message) == (passed, message)
    assert len(conn.seen) == 1


def test_what_the_jdk_run_prints_reaches_the_terminal_escaped(capsys):
    """A JDK in a directory whose name carries escape sequences (or a java printing them): the
    check's message says so, and the terminal gets them escaped, never raw."""
    evil = "/opt/\x1b]0;owned\x07\x1b[2J"
    probe, _ = probe_for([(r"ProvisionCheck", 0, jdk_run_output(JAVAC_FILES, ran(home=evil), (0, HOME)), "")])
    result = run_check(java17_checks()[COMPILE], probe)
    assert result.status == "failed" and evil in result.message
    output.summary([HostReport("h1", checks=[result])], verbose=1)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "owned" in err


def test_the_class_run_on_the_host_is_the_program_s_source_compiled():
    """HELLO_CLASS is HELLO compiled (class file version 52: Java 8+), its strings the source's
    (tests/e2e/test_verify.py compiles HELLO on a host and compares the bytes)."""
    assert HELLO_CLASS[:4] == b"\xca\xfe\xba\xbe" and int.from_bytes(HELLO_CLASS[6:8], "big") == 52
    for text in re.findall(r'"([^"]+)"', HELLO):
        assert text.encode() in HELLO_CLASS, text


JDK21 = jdk_run_output((0, "javac 21.0.5\n"),
                       (0, 'openjdk version "21.0.5" 2024-10-15\nOpenJDK Runtime Environment\nprovision-verify 21\n'))
MISSING = jdk_run_output((127, "sh: 1: javac: not found\n"), (127, "sh: 1: java: not found\n"))
JRE_ONLY = jdk_run_output((127, "sh: 1: javac: not found\n"),
                          (1, 'openjdk version "17.0.15" 2025-04-15\nError: Could not find or load main class '
                              'ProvisionCheck\n'))


@pytest.mark.parametrize("output, check, message", [
    (JDK21, "jdk: java -version reports 17", "java -version reports 21.0.5, not 17"),
    (JDK21, "jdk: javac -version reports 17", "javac -version reports 21.0.5, not 17"),
    (JDK21, "jdk: javac compiles and java runs a program",
     "the program printed ['provision-verify 21'], expected 'provision-verify 17'"),
    (MISSING, "jdk: java -version reports 17", "java is not on the PATH"),
    (MISSING, "jdk: javac -version reports 17", "javac is not on the PATH"),
    (JRE_ONLY, "jdk: java -version reports 17", "java -version: openjdk version \"17.0.15\" 2025-04-15"),
    (JRE_ONLY, "jdk: javac compiles and java runs a program",
     "javac failed (exit 127): sh: 1: javac: not found"),
])
def test_one_jdk_run_answers_the_version_and_compile_checks(output, check, message):
    probe, conn = probe_for([(r"ProvisionCheck", 0, output, "")])
    assert run_check(java17_checks()[check], probe).message == message
    assert len(conn.seen) == 1


def test_a_check_that_raises_fails_with_the_error_instead_of_stopping_the_run():
    check = java17_checks()["jdk: release file says JAVA_VERSION 17"]
    probe, _ = probe_for([(r"^test -e ", 0, "", ""), (r"^cat -- ", 1, "", "Permission denied")])
    result = run_check(check, probe)
    assert result.status == "failed" and result.message


def test_playbook_command_check_reports_every_mismatch(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("resources: [{jdk: {}}]\nchecks:\n  - name: mvn\n"
                    "    command: {run: mvn -v, stdout_contains: Apache Maven, stderr_matches: '^$'}\n")
    checks, _ = plan_checks(playbook.load(str(path)), facts_from(CASES[0]["facts"]))
    probe, _ = probe_for([(r"^mvn -v$", 127, "", "sh: mvn: not found")])
    result = run_check(next(c for c in checks if c.name == "mvn"), probe)
    assert result.status == "failed"
    assert result.message == ("'mvn -v': exit 127, expected 0; stdout does not contain 'Apache Maven'; "
                              "stderr does not match '^$' (output: sh: mvn: not found)")


@pytest.mark.parametrize("version, want, ok", [
    ("17.0.15+6-1~deb12u1", "17.", True), ("17.0.15+6-1~deb12u1", "17\\.0\\.\\d+.*", True),
    ("21.0.5", "17", False), ("1:2.39.5-0+deb12u1", "1:2.39", True), ("1:2.39.5", "(", False)])
def test_package_version_is_a_prefix_or_a_regex(version, want, ok):
    assert version_matches(version, want) is ok


def test_default_user_is_the_first_regular_user_with_a_shell():
    passwd = ("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
              "svc:x:1000:1000::/home/svc:/usr/sbin/nologin\ndev:x:1001:1001::/home/dev:/bin/bash\n")
    assert default_user(passwd) == "dev"
    assert default_user("root:x:0:0:root:/root:/bin/bash\n") == "root"


# --------------------------------------------------------------------------- output

def reports() -> list[HostReport]:
    a = HostReport("web1", [CheckResult("jdk: java -version reports 17", "OpenJDK", "passed", "ok", 0.1),
                            CheckResult("java_home: /etc/environment sets JAVA_HOME", "env", "failed",
                                        "JAVA_HOME is not set in /etc/environment", 0.2)], duration=1.0)
    b = HostReport("web2", [CheckResult("provision: host is reachable", "connection", "failed",
                                        "web2: host key is not known")], error="web2: host key is not known")
    return [a, b]


def test_junit_has_one_testcase_per_check_per_host_with_failures():
    root = ET.fromstring(ET.tostring(output.junit(reports()).getroot()))
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    cases = [(c.get("classname"), c.get("name"), c.find("failure") is not None)
             for c in root.iter("testcase")]
    assert cases == [("web1", "jdk: java -version reports 17", False),
                     ("web1", "java_home: /etc/environment sets JAVA_HOME", True),
                     ("web2", "provision: host is reachable", True)]
    failure = root.find(".//testcase[@name='java_home: /etc/environment sets JAVA_HOME']/failure")
    assert failure.get("message") == "JAVA_HOME is not set in /etc/environment"
    assert "web1" in failure.text


def test_json_document_and_summary():
    doc = output.document("java17", reports())
    assert doc["command"] == "verify" and doc["ok"] is False and (doc["passed"], doc["failed"]) == (1, 2)
    assert json.loads(json.dumps(doc))["hosts"][0]["checks"][1] == {
        "name": "java_home: /etc/environment sets JAVA_HOME", "resource": "env", "status": "failed",
        "message": "JAVA_HOME is not set in /etc/environment", "duration": 0.2}

    class Out:
        text = ""

        def write(self, s: str) -> None:
            Out.text += s

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    output.summary(reports(), stream=Out())  # type: ignore[arg-type]
    text = Out.text
    assert "FAILED  java_home: /etc/environment sets JAVA_HOME: JAVA_HOME is not set" in text
    assert "web1: 1 passed, 1 failed" in text and "web2: not verified: web2: host key is not known" in text
    assert "jdk: java -version reports 17" not in text  # passing checks only with -v
    assert "0 of 2 hosts verified; failed: web1, web2" in text


# --------------------------------------------------------------------------- CLI usage

def test_usage_errors_exit_2_before_any_host_is_touched(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["verify", str(tmp_path / "missing.yml")])
    assert r.exit_code == 2 and "no such file" in r.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("resources: [{jdk: {}}]\nchecks:\n  - name: x\n")
    r = runner.invoke(cli, ["verify", str(bad), "-H", "chroot:/nonexistent"])
    assert r.exit_code == 2 and f"{bad}:3: checks[0]: give exactly one of" in r.stderr
    r = runner.invoke(cli, ["verify", "java17", "--tests", str(tmp_path / "nope")])
    assert r.exit_code == 2


def test_an_unreachable_host_fails_verify_with_exit_1(tmp_path):
    junit = tmp_path / "v.xml"
    r = CliRunner().invoke(cli, ["verify", "java17", "-H", f"chroot:{tmp_path}/none", "--json",
                                 "--junit-xml", str(junit)])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["hosts"][0]["error"]
    case = ET.parse(junit).getroot().find(".//testcase")
    assert case.get("name") == "provision: host is reachable" and case.find("failure") is not None
