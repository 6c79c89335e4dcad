"""Checks: the desired state of each resource, as testinfra assertions on a host.

Checks are data. Each resource type registers a generator here (``CHECKS[type]``) that turns the
resource, as this host resolves it (``when:`` evaluated, values rendered with facts and earlier
outputs, exactly as apply does), into a list of ``Check`` values. A ``Check`` has a stable name
(``<resource id>: <what>``), the resource it comes from, and a test: a function of the ``Probe``
(testinfra host + connection) returning ``(passed, one-line message)``.

Generators are pure (no host is touched until a test runs), so they are unit-tested from data;
a resource type without a generator is a unit-test failure, so none can be forgotten.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from provision.connections.base import Connection
from provision.facts import Facts, jdk_packages
from provision.formats import pamenv
from provision.playbook.checks import CommandCheck, FileCheck, PackageCheck
from provision.resources.base import Resource

Test = Callable[["Probe"], tuple[bool, str]]


@dataclass
class Check:
    name: str  # stable across runs and hosts: "<resource id>: <what>"
    resource: str  # where it comes from: a resource's label, "checks", "tests"
    test: Test = field(repr=False)


@dataclass
class CheckEnv:
    """What generators may look at besides the resource: the host's facts and its kind."""

    facts: Facts
    kind: str = "local"  # the connection's kind: local | chroot | ssh


class Probe:
    """What a check's test runs against: a testinfra host and the connection beneath it."""

    def __init__(self, host: Any, conn: Connection, user: str | None = None) -> None:
        self.host = host
        self.conn = conn
        self._user = user

    def run(self, command: str, *args: str) -> Any:
        return self.host.run(command, *args)

    @cached_property
    def user(self) -> str:
        """The user whose login shell is checked: --user, else the first regular user, else root."""
        if self._user:
            return self._user
        out = self.host.run("getent passwd || cat /etc/passwd").stdout
        return default_user(out)


def default_user(passwd: str) -> str:
    """The first user with uid >= 1000 (not nobody) and a login shell, else root."""
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) < 7 or not f[2].isdigit():
            continue
        uid, shell = int(f[2]), f[6].strip()
        if 1000 <= uid < 65534 and shell and not shell.endswith(("nologin", "/false", "/sync")):
            return f[0]
    return "root"


Generator = Callable[[str, Resource, dict[str, Any], CheckEnv], list[Check]]
CHECKS: dict[str, Generator] = {}


def checks_for(type_name: str) -> Callable[[Generator], Generator]:
    def register(fn: Generator) -> Generator:
        CHECKS[type_name] = fn
        return fn
    return register


def generate(rid: str, resource: Resource, outputs: dict[str, Any], env: CheckEnv) -> list[Check]:
    """The checks of one resolved resource (``rid``: its id in the playbook)."""
    fn = CHECKS.get(resource.type_name)
    if fn is None:
        raise KeyError(f"no checks for resource type {resource.type_name!r}")
    return fn(rid, resource, outputs, env)


# --------------------------------------------------------------------------- building blocks

def _first_line(text: str, limit: int = 160) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit] + "…"


def _dpkg_status(probe: Probe, name: str) -> tuple[str, str]:
    r = probe.run("dpkg-query -W -f='${db:Status-Abbrev}\t${Version}' %s", name)
    if r.rc != 0:
        return "", ""
    status, _, version = r.stdout.partition("\t")
    return status.strip(), version.strip()


def package_installed(name: str) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        pkg = probe.host.package(name)
        if pkg.is_installed:
            return True, f"{name} {pkg.version} is installed"
        status, _ = _dpkg_status(probe, name)
        why = {"": "not known to dpkg", "un": "not installed", "rc": "removed (config files remain)"}
        return False, f"{name} is not installed ({why.get(status, f'dpkg status {status!r}')})"
    return test


def package_absent(name: str) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        pkg = probe.host.package(name)
        if pkg.is_installed:
            return False, f"{name} {pkg.version} is installed"
        return True, f"{name} is not installed"
    return test


def _java_major(version: str) -> int | None:
    """'17.0.13' → 17, '1.8.0_392' → 8, '21' → 21."""
    m = re.match(r"^(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _tool_version(tool: str, want: int) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.run("%s -version", tool)
        text = r.stderr + r.stdout  # java prints on stderr; javac on stdout (newer) or stderr
        if r.rc == 127 or "not found" in text and r.rc != 0:
            return False, f"{tool} is not on the PATH"
        if tool == "java":
            m = re.search(r'version "([^"]+)"', text)
        else:
            m = re.search(r"javac (\S+)", text)
        if r.rc != 0 or not m:
            return False, f"{tool} -version failed (exit {r.rc}): {_first_line(text)}"
        major = _java_major(m.group(1))
        if major != want:
            return False, f"{tool} -version reports {m.group(1)}, not {want}"
        return True, f"{tool} -version: {_first_line(text)}"
    return test


def _resolved(probe: Probe, path: str) -> str:
    return probe.run("readlink -f -- %s", path).stdout.strip()


def _default_tool(probe: Probe, tool: str) -> str:
    r = probe.run("command -v %s", tool)
    return _resolved(probe, r.stdout.strip()) if r.rc == 0 and r.stdout.strip() else ""


def _is_jdk(probe: Probe, home: str) -> tuple[bool, str]:
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

_COMPILE_AND_RUN = r"""
d=$(mktemp -d) || exit 90
trap 'rm -rf "$d"' EXIT
printf '%s' "$1" > "$d/ProvisionCheck.java" || exit 91
cd "$d" || exit 92
javac -d "$d" ProvisionCheck.java 2>&1 || { echo "javac failed"; exit 93; }
java -cp "$d" ProvisionCheck 2>&1 || { echo "java failed"; exit 94; }
"""


def _compile_and_run(want: int) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.run("sh -c %s sh %s", _COMPILE_AND_RUN, HELLO)
        out = r.stdout.strip()
        if r.rc != 0:
            return False, f"exit {r.rc}: {' | '.join(out.splitlines()[-3:]) or _first_line(r.stderr)}"
        if out != f"provision-verify {want}":
            return False, f"the program printed {out!r}, expected 'provision-verify {want}'"
        return True, f"javac compiled and java ran a one-class program (Java {want})"
    return test


def _read(probe: Probe, path: str) -> bytes | None:
    f = probe.host.file(path)
    if not f.exists:
        return None
    return f.content


# --------------------------------------------------------------------------- resource types

@checks_for("apt")
def apt_checks(rid: str, resource: Resource, outputs: dict[str, Any], env: CheckEnv) -> list[Check]:
    s = resource.spec
    label = resource.label()
    if s.state == "present":  # type: ignore[attr-defined]
        return [Check(f"{rid}: {p} is installed", label, package_installed(p))
                for p in s.packages]  # type: ignore[attr-defined]
    return [Check(f"{rid}: {p} is absent", label, package_absent(p))
            for p in s.packages]  # type: ignore[attr-defined]


@checks_for("jdk")
def jdk_checks(rid: str, resource: Resource, outputs: dict[str, Any], env: CheckEnv) -> list[Check]:
    from provision.resources.jdk import packages_for, predicted_home

    s = resource.spec
    v: int = s.version  # type: ignore[attr-defined]
    label = resource.label()
    if s.state == "absent":  # type: ignore[attr-defined]
        return [Check(f"{rid}: {p} is absent", label, package_absent(p)) for p in jdk_packages(v)]
    fact = env.facts.jdks.get(v)
    home = outputs.get("home") or (fact.home if fact else "") or predicted_home(v, env.facts.arch)
    pkg = packages_for(s)[0]  # type: ignore[arg-type]

    def release(probe: Probe) -> tuple[bool, str]:
        data = _read(probe, f"{home}/release")
        if data is None:
            return False, f"{home}/release does not exist"
        m = re.search(r'^JAVA_VERSION="?([^"\n]+)"?', data.decode("utf-8", "replace"), re.M)
        if not m:
            return False, f"{home}/release has no JAVA_VERSION line"
        if _java_major(m.group(1)) != v:
            return False, f"{home}/release says JAVA_VERSION {m.group(1)}, not {v}"
        return True, f"{home}/release: JAVA_VERSION {m.group(1)}"

    def default(probe: Probe) -> tuple[bool, str]:
        wrong = []
        for tool in ("java", "javac"):
            got = _default_tool(probe, tool)
            want = _resolved(probe, f"{home}/bin/{tool}") or f"{home}/bin/{tool}"
            if got != want:
                wrong.append(f"{tool} is {got or 'not on the PATH'}, not {want}")
        if wrong:
            return False, "; ".join(wrong)
        return True, f"java and javac on the PATH are {home}'s"

    checks = [
        Check(f"{rid}: {pkg} is installed", label, package_installed(pkg)),
        Check(f"{rid}: JDK {v} home has bin/java and bin/javac", label, lambda p: _is_jdk(p, home)),
        Check(f"{rid}: release file says JAVA_VERSION {v}", label, release),
        Check(f"{rid}: java -version reports {v}", label, _tool_version("java", v)),
        Check(f"{rid}: javac -version reports {v}", label, _tool_version("javac", v)),
    ]
    if s.default:  # type: ignore[attr-defined]
        checks.append(Check(f"{rid}: java and javac are JDK {v}'s", label, default))
    checks.append(Check(f"{rid}: javac compiles and java runs a program", label, _compile_and_run(v)))
    return checks


def _env_value(data: bytes | None, key: str) -> str | None:
    return None if data is None else pamenv.effective(data).get(key)


@checks_for("env_file")
def env_file_checks(rid: str, resource: Resource, outputs: dict[str, Any], env: CheckEnv) -> list[Check]:
    s = resource.spec
    path: str = s.path  # type: ignore[attr-defined]
    label = resource.label()
    wanted: dict[str, str] = resource.wanted()  # type: ignore[attr-defined]
    checks: list[Check] = []
    present = s.state == "present"  # type: ignore[attr-defined]
    for key, value in wanted.items():
        def sets(probe: Probe, key: str = key, value: str = value) -> tuple[bool, str]:
            data = _read(probe, path)
            got = _env_value(data, key)
            if data is None:
                return False, f"{path} does not exist (expected {key}={value})"
            if present:
                if got is None:
                    return False, f"{key} is not set in {path} (expected {value})"
                if got != value:
                    return False, f"{key} is {got} in {path}, expected {value}"
                return True, f"{key}={value}"
            if got == value:
                return False, f"{path} still sets {key}={value}"
            return True, f"{key} is {'not set' if got is None else got}"

        if not present:
            checks.append(Check(f"{rid}: {path} does not set {key}={value}", label, sets))
            continue
        checks.append(Check(f"{rid}: {path} sets {key}", label, sets))
        if key == "JAVA_HOME":
            checks += _java_home_checks(rid, label, path, value, env)
    return checks


def _java_home_checks(rid: str, label: str, path: str, value: str, env: CheckEnv) -> list[Check]:
    """JAVA_HOME as written, and as users get it (login shell; a new SSH session)."""

    def actual(probe: Probe) -> str | None:
        return _env_value(_read(probe, path), "JAVA_HOME")

    def is_jdk(probe: Probe) -> tuple[bool, str]:
        home = actual(probe)
        if home is None:
            return False, f"JAVA_HOME is not set in {path}"
        return _is_jdk(probe, home)

    def is_default(probe: Probe) -> tuple[bool, str]:
        home = actual(probe)
        if home is None:
            return False, f"JAVA_HOME is not set in {path}"
        java = _default_tool(probe, "java")
        if not java:
            return False, "there is no java on the PATH"
        mine = _resolved(probe, f"{home}/bin/java")
        if java != mine:
            return False, f"the default java is {java}, but JAVA_HOME ({home}) has {mine or 'no bin/java'}"
        return True, f"the default java is {java}"

    def login_shell(probe: Probe) -> tuple[bool, str]:
        user = probe.user
        r = probe.run("su - %s -c 'printenv JAVA_HOME' </dev/null", user)
        got = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if r.rc not in (0, 1):
            return False, f"su - {user} failed (exit {r.rc}): {_first_line(r.stderr)}"
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

    checks = [Check(f"{rid}: JAVA_HOME in {path} is a JDK (bin/java, bin/javac)", label, is_jdk),
              Check(f"{rid}: JAVA_HOME in {path} is the default java's home", label, is_default)]
    if path == "/etc/environment":  # read by pam_env: what su - and ssh sessions get
        checks.append(Check(f"{rid}: a login shell (su -) sees JAVA_HOME", label, login_shell))
        if env.kind == "ssh":
            checks.append(Check(f"{rid}: a new SSH session sees JAVA_HOME", label, ssh_session))
    return checks


def _whole_file(path: str, content: bytes | None, mode: int | None = None,
                owner: str | None = None, group: str | None = None) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        f = probe.host.file(path)
        if content is None:
            return (False, f"{path} exists") if f.exists else (True, f"{path} does not exist")
        if not f.exists:
            return False, f"{path} does not exist"
        problems = []
        if f.content != content:
            problems.append("its content differs from the template")
        if mode is not None and f.mode != mode:
            problems.append(f"mode {f.mode:04o}, expected {mode:04o}")
        if owner and owner not in (f.user, str(f.uid)):
            problems.append(f"owner {f.user}, expected {owner}")
        if group and group not in (f.group, str(f.gid)):
            problems.append(f"group {f.group}, expected {group}")
        if problems:
            return False, f"{path}: {'; '.join(problems)}"
        return True, f"{path} is as rendered ({len(content)} bytes)"
    return test


@checks_for("profile_script")
def profile_script_checks(rid: str, resource: Resource, outputs: dict[str, Any],
                          env: CheckEnv) -> list[Check]:
    s = resource.spec
    path = resource.path  # type: ignore[attr-defined]
    label = resource.label()
    if s.state == "absent":  # type: ignore[attr-defined]
        return [Check(f"{rid}: {path} is absent", label, _whole_file(path, None))]
    template: str = s.template  # type: ignore[attr-defined]
    content = resource.renderer.render(template).encode() if resource.renderer else b""
    return [Check(f"{rid}: {path} is present", label, _whole_file(path, content, 0o644))]


@checks_for("template")
def template_checks(rid: str, resource: Resource, outputs: dict[str, Any], env: CheckEnv) -> list[Check]:
    from provision.resources.files import parse_mode

    s = resource.spec
    dest: str = s.dest  # type: ignore[attr-defined]
    label = resource.label()
    if s.state == "absent":  # type: ignore[attr-defined]
        return [Check(f"{rid}: {dest} is absent", label, _whole_file(dest, None))]
    src: str = s.src  # type: ignore[attr-defined]
    content = resource.renderer.render(src).encode() if resource.renderer else b""
    test = _whole_file(dest, content, parse_mode(s.mode), s.owner, s.group)  # type: ignore[attr-defined]
    return [Check(f"{rid}: {dest} matches {src}", label, test)]


@checks_for("wsl_conf")
def wsl_conf_checks(rid: str, resource: Resource, outputs: dict[str, Any], env: CheckEnv) -> list[Check]:
    """Keys of /etc/wsl.conf as WSL reads them; on WSL2 with boot.systemd, systemd is up."""
    from provision.formats import wslconf

    s = resource.spec
    path: str = getattr(s, "path", "/etc/wsl.conf")
    label = resource.label()
    wanted: dict[str, Any] = (resource.wanted() if hasattr(resource, "wanted")  # type: ignore[attr-defined]
                              else dict(getattr(s, "set", {}) or {}))
    present = getattr(s, "state", "present") == "present"
    systemd = {k.lower(): v for k, v in wanted.items()}.get("boot.systemd")
    systemd_on = systemd is not None and wslconf.normalise_value("boot.systemd", systemd) == "true"
    checks: list[Check] = []
    for key, value in wanted.items():
        want = wslconf.normalise_value(key, value)
        if key.lower() == "boot.systemd" and systemd_on and env.facts.pid1 == "systemd":
            continue  # systemd already runs as PID 1 (apply leaves the key alone): checked below

        def test(probe: Probe, key: str = key, want: str = want) -> tuple[bool, str]:
            data = _read(probe, path)
            got = wslconf.effective(data).get(key.lower()) if data is not None else None
            bad = wslconf.first_invalid(data) if data is not None else None
            where = f" (WSL stops reading at line {bad.no}, which is invalid)" if bad is not None else ""
            if present:
                if got == want:
                    return True, f"{key}={want}"
                if data is None:
                    return False, f"{path} does not exist (expected {key}={want})"
                return False, f"WSL reads {key}={got if got is not None else '(not set)'} from {path}, " \
                              f"expected {want}{where}"
            if got == want:
                return False, f"{path} still sets {key}={want}"
            return True, f"{key} is not {want}"

        name = f"{rid}: {path} sets {key}={want}" if present else f"{rid}: {path} does not set {key}={want}"
        checks.append(Check(name, label, test))

    if present and systemd_on and getattr(s, "install_systemd", False):
        checks.append(Check(f"{rid}: systemd-sysv is installed", label, package_installed("systemd-sysv")))
    if present and systemd_on and env.facts.wsl.version == 2:
        hint = "restart the distro from Windows (wsl.exe --terminate <distro>, or wsl.exe --shutdown)"

        def pid1(probe: Probe) -> tuple[bool, str]:
            comm = probe.run("cat /proc/1/comm").stdout.strip()
            if comm != "systemd":
                return False, f"PID 1 is {comm or 'unknown'}, not systemd: {hint}"
            return True, "PID 1 is systemd"

        def running(probe: Probe) -> tuple[bool, str]:
            r = probe.run("systemctl is-system-running")
            state = r.stdout.strip() or _first_line(r.stderr) or f"exit {r.rc}"
            if state in ("running", "degraded"):
                return True, f"systemctl is-system-running: {state}"
            if state in ("starting", "initializing"):
                return False, f"systemd is still {state}: wait for it and verify again"
            return False, f"systemctl is-system-running: {state}: {hint}"

        checks.append(Check(f"{rid}: systemd is PID 1", label, pid1))
        checks.append(Check(f"{rid}: systemctl is-system-running is running or degraded", label, running))
    return checks


# --------------------------------------------------------------------------- playbook checks:

def playbook_check(name: str, spec: Any) -> Check:
    """A ``checks:`` item of the playbook (rendered and validated) as a Check named ``name``."""
    if isinstance(spec, CommandCheck):
        return Check(name, "checks", _command_test(spec))
    if isinstance(spec, FileCheck):
        return Check(name, "checks", _file_test(spec))
    if isinstance(spec, PackageCheck):
        return Check(name, "checks", _package_test(spec))
    raise TypeError(f"unknown check spec {type(spec).__name__}")


def _command_test(c: CommandCheck) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.conn.run(["sh", "-c", c.run], timeout=c.timeout)
        out, err = r.out, r.err
        problems = []
        if c.rc is not None and r.rc != c.rc:
            problems.append(f"exit {r.rc}, expected {c.rc}")
        for what, text, contains, matches in (("stdout", out, c.stdout_contains, c.stdout_matches),
                                              ("stderr", err, c.stderr_contains, c.stderr_matches)):
            if contains is not None and contains not in text:
                problems.append(f"{what} does not contain {contains!r}")
            if matches is not None and not re.search(matches, text, re.M):
                problems.append(f"{what} does not match {matches!r}")
        shown = shlex.quote(c.run) if len(c.run) < 60 else shlex.quote(c.run[:57] + "…")
        if problems:
            tail = _first_line(err) or _first_line(out)
            return False, f"{shown}: {'; '.join(problems)}" + (f" (output: {tail})" if tail else "")
        return True, f"{shown}: exit {r.rc}"
    return test


def _file_test(c: FileCheck) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        data = _read(probe, c.path)
        if not c.exists:
            return (False, f"{c.path} exists") if data is not None else (True, f"{c.path} does not exist")
        if data is None:
            return False, f"{c.path} does not exist"
        text = data.decode("utf-8", "replace")
        if c.contains is not None and c.contains not in text:
            return False, f"{c.path} does not contain {c.contains!r}"
        if c.matches is not None and not re.search(c.matches, text, re.M):
            return False, f"{c.path} does not match {c.matches!r}"
        return True, f"{c.path} exists" + (" and matches" if c.contains or c.matches else "")
    return test


def version_matches(version: str, want: str) -> bool:
    """A prefix of the version ('17.0'), or a regular expression for all of it."""
    if version.startswith(want):
        return True
    try:
        return re.fullmatch(want, version) is not None
    except re.error:
        return False


def _package_test(c: PackageCheck) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        if not c.installed:
            return package_absent(c.name)(probe)
        ok, msg = package_installed(c.name)(probe)
        if not ok or c.version is None:
            return ok, msg
        _, version = _dpkg_status(probe, c.name)
        if not version_matches(version, c.version):
            return False, f"{c.name} is {version}, expected {c.version}"
        return True, msg
    return test
