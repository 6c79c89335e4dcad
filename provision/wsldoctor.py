"""doctor's WSL and systemd part: why systemctl fails here ("System has not been booted with
systemd as init system"), for this host — WSL2 without systemd, a wsl.conf WSL ignores, a pending
restart, WSL1, an old WSL, a container or chroot — and whether /etc/wsl.conf reads as WSL reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from provision import wsl
from provision.connections import RESTARTED_FROM_OUTSIDE
from provision.facts import HOST, Fact, Facts, FileContent, FileState, HostFacts, PackageState
from provision.findings import INFO, OK, PROBLEM, WARN, Examiner, Finding
from provision.formats import wslconf, wslconf_edit

SYSTEMD_ERROR = ("System has not been booted with systemd as init system (PID 1). Can't operate. "
                 "Failed to connect to bus: Host is down")
WSL_CONF = "/etc/wsl.conf"

_SYSTEMCTL = r"""
if command -v systemctl >/dev/null 2>&1; then
  echo "state $(timeout 10 systemctl is-system-running 2>/dev/null | head -n 1)"
  echo "error $(timeout 10 systemctl show-environment 2>&1 >/dev/null | tr '\n' ' ')"
  timeout 10 systemctl --failed --no-legend --plain 2>/dev/null | head -n 10 | sed 's/^/failed /'
else
  echo "no-systemctl"
fi
"""

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


def _restart_fix(facts: HostFacts, kind: str) -> str:
    also = (" (or `provision apply` from this machine, which restarts it after the run)"
            if kind in RESTARTED_FROM_OUTSIDE else " (or `provision apply --restart` here, which ends this session)")
    return "from Windows (PowerShell): " + "; then ".join(wsl.restart_commands(facts)) + also


def _systemd(facts: HostFacts, conf: FileState, probe: SystemdStatus, kind: str) -> list[Finding]:
    state = probe.state
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

    seen = probe.error or SYSTEMD_ERROR
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
        return _wsl2_systemd(facts, conf, head, kind)
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


def _wsl2_systemd(facts: HostFacts, conf: FileState, head: str, kind: str) -> list[Finding]:
    data = conf.content if conf.exists else b""
    reading = wslconf.read(data)
    setting = reading.settings.get("boot.systemd")
    fix_apply = "provision apply wsl-systemd (or the default playbook), then restart the distro: " + \
        _restart_fix(facts, kind)
    if setting is not None and setting.value == "true":
        if not facts.wsl.sbin_init:
            return [Finding("systemd", PROBLEM, f"{head}: {WSL_CONF} enables systemd, but "
                            "/sbin/init is missing (systemd-sysv is not installed), so WSL ignores it",
                            fix_apply)]
        return [Finding("systemd", PROBLEM, f"{head}: {WSL_CONF} enables systemd, but the distro "
                        "has not been restarted since (WSL reads wsl.conf only when it starts)",
                        "restart the distro " + _restart_fix(facts, kind))]
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


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    host, conf = facts.get(HOST), facts.get(FileContent(WSL_CONF))
    return _systemd(host, conf, facts.get(SystemdState()), kind) + _wsl(host, conf)


EXAMINER = Examiner("systemd", 10, (HOST, FileContent(WSL_CONF), PackageState("systemd-sysv"), SystemdState()),
                    diagnose)
