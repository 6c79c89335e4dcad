"""`provision doctor`: a read-only diagnosis of a host, with a cause and a fix for each problem.

It recognises the situation of the manual procedure's part B — ``System has not been booted with
systemd as init system (PID 1). Can't operate. Failed to connect to bus: Host is down`` — and says
why for this host (WSL2 without systemd, a wsl.conf WSL ignores, a pending restart, WSL1, an old
WSL, a container or chroot where wsl.conf does not apply), and checks JAVA_HOME (set, a JDK with
bin/javac, the same JDK as the default ``java``, not overridden by later files, and on WSL set
where WSL terminals read it).

Its probes are facts like the resources' (systemd's state, where JAVA_HOME is set, the default
java), gathered with the host, file and package facts in one round trip of read-only commands;
``diagnose()`` is a pure function of what came back, unit-tested from data.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from provision import wsl
from provision.connections.base import Connection
from provision.facts import HOST, Fact, Facts, FileContent, FileState, HostFacts, PackageState, gather, version_tuple
from provision.formats import pamenv, wslconf, wslconf_edit
from provision.plan import world_readable


class Verdict(StrEnum):
    """A finding's status, as ``doctor --json`` writes it."""

    OK = "ok"
    WARN = "warn"
    PROBLEM = "problem"  # exit 1
    INFO = "info"


OK, WARN, PROBLEM, INFO = Verdict.OK, Verdict.WARN, Verdict.PROBLEM, Verdict.INFO
SYSTEMD_ERROR = ("System has not been booted with systemd as init system (PID 1). Can't operate. "
                 "Failed to connect to bus: Host is down")
WSL_CONF = "/etc/wsl.conf"
ENVIRONMENT = "/etc/environment"
# Where JAVA_HOME is commonly set, in the order a login shell applies them (pam_env first).
JAVA_HOME_FILES = ["/etc/environment", "/etc/profile", "/etc/profile.d/*.sh", "/etc/bash.bashrc",
                   "/etc/zsh/zshenv", "/root/.pam_environment", "/root/.profile", "/root/.bash_profile",
                   "/root/.bashrc", "/root/.zshenv", "/root/.zshrc", "/home/*/.pam_environment",
                   "/home/*/.profile", "/home/*/.bash_profile", "/home/*/.bashrc", "/home/*/.zshenv",
                   "/home/*/.zshrc"]

_SYSTEMCTL = r"""
if command -v systemctl >/dev/null 2>&1; then
  echo "state $(timeout 10 systemctl is-system-running 2>/dev/null | head -n 1)"
  echo "error $(timeout 10 systemctl show-environment 2>&1 >/dev/null | tr '\n' ' ')"
  timeout 10 systemctl --failed --no-legend --plain 2>/dev/null | head -n 10 | sed 's/^/failed /'
else
  echo "no-systemctl"
fi
"""

# The start-up files are users' own: each is read only when it is a regular file and no link
# (a FIFO, a device, a link to /etc/shadow is never opened), and not a hard link of another
# user's file; at most 1 MiB of it, within 10 s. Only its JAVA_HOME lines are printed. A JDK's
# release file, under a path a user may have chosen, is read the same way, only when everyone
# may read it.
_JAVA_HOME = r"""
pv_read() {  # pv_read FILE [world]: at most 1 MiB of FILE, on the terms above
  [ -f "$1" ] && [ ! -L "$1" ] || return 0
  pv_st=$(stat -c '%h %u %a' -- "$1") && pv_dir=$(stat -c %u -- "$(dirname -- "$1")") || return 0
  set -- "$1" "${2:-}" $pv_st "$pv_dir"
  [ "$3" = 1 ] || [ "$4" = "$6" ] || return 0
  [ -z "$2" ] || [ $((0$5 & 04)) != 0 ] || return 0
  timeout 10 dd if="$1" iflag=nofollow,nonblock bs=64k 2>/dev/null | head -c 1048576
}
found=$(for f in @FILES@; do
  pv_read "$f" | grep -naE '^[[:space:]]*(export[[:space:]]+)?JAVA_HOME=' | head -n 20 | while IFS= read -r l; do
    printf '%s:%s\n' "$f" "$l"
  done
done)
[ -z "$found" ] || printf '%s\n' "$found" | sed 's/^/line /'
printf '%s\n' "$found" | sed -E -e '/^$/d' -e 's/^[^:]*:[0-9]+://' \
 | sed -E -e 's/^[[:space:]]*(export[[:space:]]+)?JAVA_HOME=//' -e 's/^"([^"]*)".*$/\1/' \
     -e 's/^'"'"'([^'"'"']*)'"'"'.*$/\1/' -e 's/[[:space:]]*#.*$//' -e 's/[[:space:]]+$//' \
 | sort -u | while IFS= read -r h; do
  case "$h" in ''|*'$'*|*'`'*) continue;; esac
  j=-; [ -x "$h/bin/java" ] && j=java; c=-; [ -x "$h/bin/javac" ] && c=javac
  printf 'home %s\t%s\t%s\t%s\n' "$h" "$(readlink -f "$h" 2>/dev/null || echo -)" "$j" "$c"
  if [ "$j" = java ]; then  # where it came from: the package owning its java, its release's IMPLEMENTOR
    pkg=$(dpkg-query -S "$(readlink -f "$h/bin/java")" 2>/dev/null | head -n 1 | cut -d: -f1)
    rel=$(pv_read "$h/release" world)
    impl=$(printf '%s\n' "$rel" | sed -n 's/^IMPLEMENTOR="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
    ver=$(printf '%s\n' "$rel" | sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
    printf 'origin %s\t%s\t%s\t%s\n' "$h" "${pkg:--}" "${impl:--}" "${ver:--}"
  fi
done
""".replace("@FILES@", " ".join(JAVA_HOME_FILES))

_DEFAULT_JAVA = r"""
printf 'java %s\n' "$(readlink -f "$(command -v java 2>/dev/null)" 2>/dev/null)"
printf 'javac %s\n' "$(readlink -f "$(command -v javac 2>/dev/null)" 2>/dev/null)"
"""


@dataclass
class Finding:
    check: str  # systemd | wsl | wsl.conf | JAVA_HOME | java
    status: Verdict
    summary: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": str(self.status), "summary": self.summary, "fix": self.fix}


@dataclass
class JavaHomeLine:
    path: str
    line: int
    value: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Probe:
    """What the doctor's probes saw (besides the facts)."""

    system_state: str = ""  # systemctl is-system-running, "" when systemctl is missing
    systemctl_error: str = ""  # what `systemctl show-environment` printed on failure
    has_systemctl: bool = True
    failed_units: list[str] = field(default_factory=list)
    java_home: list[JavaHomeLine] = field(default_factory=list)
    homes: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)  # value → (real, java, javac)
    origins: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # value → (package, implementor, version)
    java: str = ""  # realpath of the default java, "" if none on PATH
    javac: str = ""


def _value(path: str, text: str) -> str:
    if os.path.basename(path) in ("environment", ".pam_environment"):
        env = pamenv.effective(text.encode() + b"\n")
        return env.get("JAVA_HOME", "")
    body = re.sub(r"^\s*(export\s+)?JAVA_HOME=", "", text)
    m = re.match(r'^"([^"]*)"|^\'([^\']*)\'', body)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    return re.sub(r"\s*#.*$", "", body).strip()


@dataclass
class SystemdStatus:
    state: str = ""  # systemctl is-system-running
    error: str = ""  # what `systemctl show-environment` printed on failure
    has_systemctl: bool = True
    failed_units: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SystemdState(Fact[SystemdStatus]):
    """systemd's own view: is-system-running, why systemctl fails, the failed units."""

    def command(self) -> str:
        return _SYSTEMCTL

    def parse(self, lines: list[str]) -> SystemdStatus:
        st = SystemdStatus()
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "no-systemctl":
                st.has_systemctl = False
            elif kind == "state":
                st.state = rest.strip()
            elif kind == "error":
                st.error = rest.strip()
            elif kind == "failed":
                st.failed_units.append(rest.split()[0] if rest.split() else rest)
        return st

    def describe(self) -> str:
        return "systemd state"


@dataclass
class JavaHomes:
    lines: list[JavaHomeLine] = field(default_factory=list)  # every JAVA_HOME= line, in order
    homes: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)  # value → (real, java, javac)
    origins: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # value → (package, implementor, version)


@dataclass(frozen=True)
class JavaHomeSettings(Fact[JavaHomes]):
    """Where JAVA_HOME is set (/etc/environment, profile.d, shell startup files) and, for each
    value, whether it is a directory with bin/java and bin/javac."""

    def command(self) -> str:
        return _JAVA_HOME

    def parse(self, lines: list[str]) -> JavaHomes:
        out = JavaHomes()
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "line":
                m = re.match(r"^([^:]+):(\d+):(.*)$", rest)
                if m:
                    out.lines.append(JavaHomeLine(m.group(1), int(m.group(2)), _value(m.group(1), m.group(3))))
            elif kind == "home":
                parts = rest.split("\t")
                if len(parts) == 4:
                    out.homes[parts[0]] = (parts[1] if parts[1] != "-" else "", parts[2] == "java",
                                           parts[3] == "javac")
            elif kind == "origin":
                parts = rest.split("\t")
                if len(parts) == 4:
                    out.origins[parts[0]] = tuple("" if x == "-" else x for x in parts[1:])  # type: ignore[assignment]
        return out

    def describe(self) -> str:
        return "JAVA_HOME settings"


@dataclass(frozen=True)
class DefaultJava(Fact[dict[str, str]]):
    """Where ``java`` and ``javac`` on the PATH resolve to ("" when there is none)."""

    def command(self) -> str:
        return _DEFAULT_JAVA

    def parse(self, lines: list[str]) -> dict[str, str]:
        out = {"java": "", "javac": ""}
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind in out:
                out[kind] = rest.strip()
        return out

    def describe(self) -> str:
        return "default java"


FACTS: list[Fact[object]] = [HOST, FileContent(WSL_CONF), FileContent(ENVIRONMENT),
                          PackageState("systemd-sysv"), SystemdState(), JavaHomeSettings(), DefaultJava()]


def probe_from(facts: Facts) -> Probe:
    st, homes, java = facts.get(SystemdState()), facts.get(JavaHomeSettings()), facts.get(DefaultJava())
    return Probe(system_state=st.state, systemctl_error=st.error, has_systemctl=st.has_systemctl,
                 failed_units=st.failed_units, java_home=homes.lines, homes=homes.homes, origins=homes.origins,
                 java=java["java"], javac=java["javac"])


# --------------------------------------------------------------------------- diagnosis

def _restart_fix(facts: HostFacts) -> str:
    return ("from Windows (PowerShell): " + "; then ".join(wsl.restart_commands(facts)) +
            " (or `provision apply --restart-wsl` here, which ends this session)")


def _systemd(facts: HostFacts, conf: FileState, probe: Probe, kind: str) -> list[Finding]:
    state = probe.system_state
    w = facts.wsl
    if facts.pid1 == "systemd" and not (w.chroot or kind == "chroot"):
        if state == "running":
            return [Finding("systemd", OK, "systemd is PID 1 and the system is running")]
        if state == "degraded":
            units = ", ".join(probe.failed_units) or "see systemctl --failed"
            return [Finding("systemd", WARN, f"systemd is PID 1; the system is up but degraded (failed "
                            f"units: {units})", "systemctl --failed; journalctl -b -u <unit> for why; "
                            "a degraded system still runs services")]
        if state in ("starting", "initializing"):
            return [Finding("systemd", INFO, f"systemd is PID 1 and still booting ({state})",
                            "wait: timeout 120 systemctl is-system-running --wait")]
        return [Finding("systemd", WARN, f"systemd is PID 1 but answers {state or 'nothing'}",
                        "systemctl is-system-running; journalctl -b")]

    seen = probe.systemctl_error or SYSTEMD_ERROR
    head = (f"PID 1 is {facts.pid1 or 'unknown'}, not systemd, so systemctl fails here "
            f"(\"{seen.strip()}\")") if probe.has_systemctl else \
        (f"PID 1 is {facts.pid1 or 'unknown'}, not systemd, so systemd-dependent commands fail here "
         f"(\"{SYSTEMD_ERROR}\"; systemctl is not even installed)")
    if w.container or w.chroot or kind == "chroot":
        what = f"a {w.container} container" if w.container else "a chroot"
        onwsl = " on WSL" if w.version else ""
        return [Finding("systemd", WARN, f"{head}: this is {what}{onwsl}, where systemd is not started "
                        "and /etc/wsl.conf does not apply",
                        "start services with `service <name> start`, or run the commands on the host "
                        "itself" + (" (a container: run it with an init, e.g. a systemd image)"
                                    if w.container else ""))]
    if w.version == 1:
        return [Finding("systemd", PROBLEM, f"{head}: the distro runs under WSL1, which cannot run "
                        "systemd (boot.systemd is ignored on WSL1)",
                        f"convert it from PowerShell: {wsl.convert_command(facts)}"
                        + ("" if w.distro else " (find <distro> with: wsl -l -v)"))]
    if w.version == 2:
        if wsl.too_old(facts):
            return [Finding("systemd", PROBLEM, f"{head}: WSL {w.wsl_version} is older than "
                            f"{wsl.MIN_SYSTEMD_WSL}, the first WSL that runs systemd",
                            "update WSL from PowerShell: wsl --update (Windows 10 needs KB5020030 or "
                            "later), then restart the distro")]
        return _wsl2_systemd(facts, conf, head)
    return [Finding("systemd", WARN, f"{head}: this host was not started with systemd (not WSL)",
                    "start services with `service <name> start`; systemd needs to be the init the "
                    "machine or container boots")]


def _wsl(facts: HostFacts, conf: FileState) -> list[Finding]:
    w = facts.wsl
    if not w.version:
        return [Finding("wsl", INFO, "not WSL (" + (f"kernel {facts.kernel}" if facts.kernel else "no kernel")
                        + ", no WSL interop signal)")]
    out = []
    ver = f"WSL {w.wsl_version} (from {w.wsl_version_source})" if w.wsl_version else "WSL version unknown"
    out.append(Finding("wsl", INFO, f"WSL{w.version}: {ver}, distro {w.distro or 'unknown'}; signals: "
                       f"{', '.join(w.signals) or 'none'}",
                       "" if w.wsl_version else "check `wsl --version` in PowerShell (systemd needs "
                       f"{wsl.MIN_SYSTEMD_WSL} or newer; 'Invalid command line option' = old inbox WSL: "
                       "wsl --update)"))
    if conf.exists:
        out.append(_wsl_conf(conf.content))
    return out


def _stop_text(data: bytes, stop: wslconf.Line) -> str:
    shown = data[stop.start:stop.end].decode("utf-8", "replace").strip()
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    return f"line {stop.no} `{shown}`: {stop.problem}"


def _repairable(stop: wslconf.Line) -> bool:
    return stop.no == 1 and "byte-order mark" in stop.problem


def _wsl2_systemd(facts: HostFacts, conf: FileState, head: str) -> list[Finding]:
    data = conf.content if conf.exists else b""
    reading = wslconf.read(data)
    setting = reading.settings.get("boot.systemd")
    fix_apply = "provision apply wsl-systemd (or the default playbook), then restart the distro: " + \
        _restart_fix(facts)
    if setting is not None and setting.value == "true":
        if not facts.wsl.sbin_init:
            return [Finding("systemd", PROBLEM, f"{head}: {WSL_CONF} enables systemd, but "
                            "/sbin/init is missing (systemd-sysv is not installed), so WSL ignores it",
                            fix_apply)]
        return [Finding("systemd", PROBLEM, f"{head}: {WSL_CONF} enables systemd, but the distro "
                        "has not been restarted since (WSL reads wsl.conf only when it starts)",
                        "restart the distro " + _restart_fix(facts))]
    stop, hidden = reading.stop, reading.hidden.get("boot.systemd")
    if stop is not None and _repairable(stop):
        try:
            hidden = wslconf.read(wslconf_edit.repair(data)[0]).settings.get("boot.systemd")
        except wslconf.WslConfError:
            hidden = None
    if stop is not None:
        seen = (f", so boot.systemd={hidden.raw} on line {hidden.line} is never seen" if hidden else
                ": no setting after it is read")
        fix = (fix_apply + " (it removes the byte-order mark)" if _repairable(stop) else
               f"fix or remove line {stop.no} of {WSL_CONF} (provision refuses to edit the file while WSL "
               "would stop there), then run " + fix_apply)
        return [Finding("systemd", PROBLEM, f"{head}: {WSL_CONF} {_stop_text(data, stop)}: WSL stops "
                        f"reading the file here{seen}", fix)]
    if setting is not None and setting.value is None:
        return [Finding("systemd", PROBLEM, f"{head}: {WSL_CONF} line {setting.line}: boot.systemd="
                        f"{setting.raw!r} is not a boolean WSL accepts (true, false, 1, 0), so WSL ignores "
                        "it", fix_apply)]
    said = ("it does not exist" if not conf.exists else
            "it sets boot.systemd=false" if setting is not None else "it has no [boot] systemd=true")
    return [Finding("systemd", PROBLEM, f"{head}: this is WSL2 without systemd: {WSL_CONF} does "
                    f"not enable it ({said})", fix_apply)]


def _wsl_conf(data: bytes) -> Finding:
    reading = wslconf.read(data)
    if reading.stop is not None:
        stop = reading.stop
        fix = ("provision apply wsl-systemd rewrites it as UTF-8 without a BOM" if _repairable(stop) else
               f"fix or remove line {stop.no}")
        return Finding("wsl.conf", PROBLEM, f"{WSL_CONF} {_stop_text(data, stop)}: WSL stops reading the "
                       "file here and ignores every setting after it", fix)
    notes = [f"line {no}: {text}" for no, text in reading.warnings]
    if b"\r" in data:
        notes.append("CR line endings: today's WSL reads them, older releases ignored such a file")
    if notes:
        return Finding("wsl.conf", WARN, f"{WSL_CONF}: " + "; ".join(notes),
                       "fix or remove those lines (provision apply wsl-systemd converts line endings)")
    eff = reading.effective()
    return Finding("wsl.conf", OK, f"{WSL_CONF} is valid: " +
                   (", ".join(f"{k}={v}" for k, v in eff.items()) or "no settings"))


def _under(path: str, home: str) -> bool:
    return bool(path and home) and (path + "/").startswith(home.rstrip("/") + "/")


def _java_home(facts: HostFacts, probe: Probe) -> list[Finding]:
    lines = probe.java_home
    if not lines:
        return [Finding("JAVA_HOME", PROBLEM, "JAVA_HOME is not set for new sessions (not in "
                        "/etc/environment, /etc/profile.d or the shell startup files)",
                        "provision apply java17 (or the default playbook)")]
    out: list[Finding] = []
    env = [ln for ln in lines if ln.path == ENVIRONMENT]
    primary = env[-1] if env else lines[0]  # pam_env: the last line of /etc/environment wins
    value = primary.value
    if "$" in value or "`" in value:
        out.append(Finding("JAVA_HOME", WARN, f"JAVA_HOME in {primary.where} is computed ({value}): "
                           "cannot check where it points", "write the JDK's path literally"))
        return out
    real, has_java, has_javac = probe.homes.get(value, ("", False, False))
    if not (has_java and has_javac):
        what = "does not exist" if not real else "has no bin/javac (a JRE?)" if has_java else "has no bin/java"
        out.append(Finding("JAVA_HOME", PROBLEM, f"JAVA_HOME in {primary.where} is {value}, which {what}",
                           "provision apply java17 sets it to the installed JDK's home"))
    else:
        package, implementor, version = probe.origins.get(value, ("", "", ""))
        origin = " ".join(x for x in (implementor, version) if x) or "a JDK"
        origin += f" from the package {package}" if package else " not installed by a package"
        out.append(Finding("JAVA_HOME", OK, f"JAVA_HOME is {value} ({primary.where}): {origin}, with "
                           "bin/java and bin/javac"))
    others = [ln for ln in lines if ln is not primary and ln.value != value]
    for ln in others:
        out.append(Finding("JAVA_HOME", WARN, f"JAVA_HOME is set again in {ln.where} to {ln.value!r}, "
                           f"which overrides {value} for the shells that read that file",
                           f"remove or correct that line in {ln.path}"))
    if facts.wsl.version and all(ln.path in (ENVIRONMENT,) or ln.path.endswith(".pam_environment")
                                 for ln in lines):
        out.append(Finding("JAVA_HOME", PROBLEM, "JAVA_HOME is only in /etc/environment, which WSL "
                           "terminals never read (they do not go through PAM)",
                           "provision apply java17 (writes /etc/profile.d/jdk.sh on WSL)"))
    if not probe.java:
        out.append(Finding("java", PROBLEM, "no java on PATH", "provision apply java17"))
    elif real and has_java:
        if _under(probe.java, real):
            out.append(Finding("java", OK, f"the default java ({probe.java}) is the JDK in JAVA_HOME"))
        else:
            out.append(Finding("java", PROBLEM, f"the default java is {probe.java}, not the JDK in "
                               f"JAVA_HOME ({real}): tools disagree on the Java version",
                               "provision apply java17 makes the JDK the default (update-alternatives), "
                               "or point JAVA_HOME at the JDK you want"))
    return out


def _environment(host: HostFacts, env: FileState) -> list[Finding]:
    """/etc/environment as this host's pam_env reads it (1.7 on Debian 13 and later, else 1.5)."""
    if not env.exists:
        return []
    d = pamenv.diagnose(env.content)
    newer = host.os.id == "debian" and version_tuple(host.os.version_id or "0") >= (13,)
    secret = not world_readable(env.mode)  # then name lines, never quote them
    out: list[Finding] = []
    if d.stop and not newer:
        out.append(Finding("environment", PROBLEM, f"{ENVIRONMENT} line {d.stop_line}: {d.stop}: pam_env stops "
                           "reading the file here, so this line and every line after it are ignored by "
                           "new sessions", f"shorten, fix or remove line {d.stop_line}"))
    for no, why in d.ignored:
        reason = "" if secret else f": {why}"
        out.append(Finding("environment", WARN, f"{ENVIRONMENT} line {no}: pam_env ignores this line{reason}",
                           f"fix or remove line {no}"))
    if newer and d.differs17:
        what = (", ".join(sorted({k.split(":", 1)[0] for k in d.differs17})) if secret
                else "; ".join(d.differs17))
        out.append(Finding("environment", INFO, f"{ENVIRONMENT}: pam_env 1.7 (this release) reads "
                           + what + " differently from older releases"))
    return out


def diagnose(facts: Facts, probe: Probe, kind: str = "local") -> list[Finding]:
    """Findings for one host: pure function of its facts and probes."""
    host, conf = facts.get(HOST), facts.get(FileContent(WSL_CONF))
    return (_systemd(host, conf, probe, kind) + _wsl(host, conf) + _java_home(host, probe)
            + _environment(host, facts.get(FileContent(ENVIRONMENT))))


@dataclass
class Report:
    host: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not any(f.status == PROBLEM for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "ok": self.ok, "error": self.error, "facts": self.facts,
                "problems": sum(f.status == PROBLEM for f in self.findings),
                "warnings": sum(f.status == WARN for f in self.findings),
                "findings": [f.as_dict() for f in self.findings]}


_COMMAND = re.compile(r"\bprovision (apply|plan|doctor|verify)((?: [a-z0-9][a-z0-9_-]*| --[a-z-]+)*)")


def for_target(fix: str, target: str) -> str:
    """A fix's provision commands as they must be typed for ``target`` (``-H <target>``), so that
    copying one never provisions the machine doctor runs on instead."""
    if target == "local":
        return fix
    return _COMMAND.sub(lambda m: f"{m.group(0)} -H {shlex.quote(target)}", fix)


def examine(conn: Connection, host: str, kind: str) -> Report:
    """Read the host with the doctor's facts (one round trip, read-only) and diagnose; the fixes
    name the target."""
    facts = Facts()
    facts.update(gather(conn, FACTS))
    findings = [dataclasses.replace(f, fix=for_target(f.fix, host)) for f in diagnose(facts, probe_from(facts), kind)]
    return Report(host, findings, facts=facts.get(HOST).summary())


def text(report: Report) -> str:
    if report.error:
        return f"{report.host}: cannot examine: {report.error}"
    f = report.facts
    wslv = f", WSL{f.get('wsl')}" if f.get("wsl") else ""
    lines = [f"{report.host}: {f.get('os')} {f.get('arch')}, kernel {f.get('kernel')}, "
             f"PID 1 {f.get('pid1') or '?'}{wslv}"]
    for x in report.findings:
        lines.append(f"  {x.status:<8} {x.check}: {x.summary}")
        if x.fix and x.status != OK:
            lines.append(f"{' ' * 11}fix: {x.fix}")
    problems = sum(x.status == PROBLEM for x in report.findings)
    warns = sum(x.status == WARN for x in report.findings)
    lines.append(f"{report.host}: {problems} problem(s), {warns} warning(s)")
    return "\n".join(lines)
