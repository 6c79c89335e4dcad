"""Keys of /etc/wsl.conf (e.g. boot.systemd), edited the way WSL's own parser reads it.

Each key's first occurrence gets the new value in place (WSL reads only the first; later
duplicates are removed), a missing key goes into the existing ``[section]`` (a new ``[boot]`` goes
before the first section, keys above it stay outside any section), and every other section, key
and comment stays byte for byte; the result is read back by WSL's rules to prove that nothing else
WSL reads changed. The file is written with LF line endings and no BOM; CRLF, CR, a BOM or UTF-16
found in it are repaired without changing any setting, and the plan says so. Keys and values are
checked against WSL's own key table before anything is written (booleans true/false/1/0, numbers,
v1/v2; a typo is refused with the nearest known key). An invalid line (WSL stops reading there) is
refused with its line number and the reason.

Not WSL, or a container/chroot on WSL: skipped, with the reason. WSL1: refused with the command
that converts the distro (``wsl --set-version <distro> 2``). WSL older than ``min_wsl_version``:
refused with ``wsl --update``. ``boot.systemd: true`` while systemd is already PID 1: nothing to
do. With ``boot.systemd: true``, ``systemd-sysv`` is installed first when missing (WSL ignores the
setting without an executable /sbin/init). WSL reads the file only when the distro starts: a change
(or an earlier change not restarted yet) makes the result say "restart required", with the
PowerShell commands for this distro.

``state: absent`` leaves the file alone (skipped): WSL settings such as systemd are not undone
with the Java setup; set ``boot.systemd: false`` to turn systemd off again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision import crossdoctor, packaging, wsl, wslconfigdoctor, wsldoctor
from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable, ResourceError
from provision.facts import HOST, Fact, Facts, FileContent, PackageState
from provision.formats import wslconf, wslconf_edit
from provision.plan import Change, Outputs, ResourcePlan, Restart, unified_diff, world_readable
from provision.resource import ApplyContext, Resource, Spec, absolute_path
from provision.verify.checks import Check, CheckEnv, Probe, first_line, package_installed, read_file

SYSTEMD_PACKAGES = ["systemd-sysv"]


class WslConfSpec(Spec):
    path: str = Field("/etc/wsl.conf", description="The file WSL reads when the distro starts.")
    set: dict[str, bool | int | str] = Field({}, max_length=100, description='"section.key": value pairs, '
                                             "e.g. boot.systemd: true.")
    template: str | None = Field(None, description="A template rendering [section] and key=value "
                                 "lines, merged like set (e.g. wsl.conf.j2); set wins for a key in both.")
    state: Literal["present", "absent"] = Field("present", description="Set the keys; absent changes "
                                                "nothing (see above).")
    require_wsl: Literal[1, 2] = Field(2, description="The lowest WSL version this applies to "
                                       "(systemd needs WSL2).")
    min_wsl_version: str = Field(wsl.MIN_SYSTEMD_WSL, description="The lowest WSL release accepted "
                                 "when it can be read.")
    install_systemd: bool = Field(True, description="Install systemd-sysv when boot.systemd is true "
                                  "and it is missing.")
    update: Literal["auto", "always", "never"] = Field("auto", description="apt-get update before "
                                                       "installing systemd-sysv.")
    cache_max_age: int = Field(86400, ge=0, description="Seconds after which the package lists count "
                               "as old.")
    lock_timeout: int = Field(300, ge=0, description="Seconds to wait for the dpkg lock.")

    _abs = field_validator("path")(absolute_path)

    @field_validator("set")
    @classmethod
    def _grammar(cls, v: dict[str, object]) -> dict[str, object]:
        seen: dict[str, str] = {}
        for key, value in v.items():
            try:
                wslconf.normalise_value(key, value)
            except wslconf.WslConfError as exc:
                raise ValueError(str(exc)) from None
            if key.lower() in seen:
                raise ValueError(f"{key!r} and {seen[key.lower()]!r} are the same key to WSL (names "
                                 "are case-insensitive)")
            seen[key.lower()] = key
        return v

    @field_validator("min_wsl_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", str(v)):
            raise ValueError("a version like 0.67.6")
        return str(v)

    @model_validator(mode="after")
    def _something(self) -> WslConfSpec:
        if not self.set and not self.template:
            raise ValueError('give \'set\' ("section.key": value, e.g. boot.systemd: true) or \'template\'')
        return self


@dataclass
class WslConfPlan:
    install: packaging.InstallPlan | None = None
    content: bytes | None = None  # new file content, None = leave the file


def _systemd_on(wanted: dict[str, str]) -> bool:
    return any(k.lower() == "boot.systemd" and v == "true" for k, v in wanted.items())


class WslConf(Resource[WslConfSpec, WslConfPlan]):
    type_name = "wsl_conf"
    examiners = (wsldoctor.EXAMINER, crossdoctor.EXAMINER, wslconfigdoctor.EXAMINER)
    spec_type = WslConfSpec
    summary = "keys of /etc/wsl.conf (e.g. [boot] systemd=true), edited by WSL's own parser rules"
    output_docs = {"systemd": "true when /etc/wsl.conf enables systemd (after this resource)",
                   "restart_required": "true when the distro must restart for the file to take effect"}
    template_fields = ("template",)
    example = """\
- wsl_conf:
    set:
      boot.systemd: true
"""

    def label(self) -> str:
        return f"wsl_conf {self.spec.path}"

    def wanted(self) -> dict[str, str]:
        s = self.spec
        wanted: dict[str, object] = {}
        if s.template:
            reading = wslconf.read(self.render(s.template).encode())
            for ln in reading.lines:
                if ln.kind == "invalid" or (ln.kind == "key" and not ln.section):
                    raise ResourceError(f"template {s.template} line {ln.no}: "
                                        f"{ln.problem or 'a key before any [section]'}")
                if ln.kind == "key":
                    wanted[f"{ln.section}.{ln.name}"] = ln.value or ""
        for key, value in s.set.items():  # set wins over the template (names are case-insensitive)
            for old in [k for k in wanted if k.lower() == key.lower()]:
                del wanted[old]
            wanted[key] = value
        try:
            return {k: wslconf.normalise_value(k, v) for k, v in wanted.items()}
        except wslconf.WslConfError as exc:
            raise ResourceError(f"{s.path}: {exc}") from None

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        yield FileContent(self.spec.path)
        if self.spec.state == "absent" or not self.spec.install_systemd:
            return
        host = known.peek(HOST)  # None in the first round: the package state is cheap anywhere
        if host is None or (host.wsl.version and not (host.wsl.container or host.wsl.chroot)):
            yield from packaging.install_facts(SYSTEMD_PACKAGES, known)  # candidates: only on WSL

    def plan(self, facts: Facts) -> ResourcePlan[WslConfPlan]:
        s = self.spec
        host = facts.get(HOST)
        wanted = self.wanted()
        systemd = _systemd_on(wanted)
        outputs: Outputs = {"systemd": False, "restart_required": False}
        if s.state == "absent":
            return ResourcePlan(skip=f"state: absent leaves {s.path} as it is (WSL settings are not "
                                "undone with the Java setup; set boot.systemd: false to turn systemd off)",
                                outputs=outputs)
        if not host.wsl.version:
            return ResourcePlan(skip=wsl.not_wsl_reason(host), outputs=outputs)
        if host.wsl.container or host.wsl.chroot:
            return ResourcePlan(skip=wsl.isolated_reason(host), outputs=outputs)
        if host.wsl.version < s.require_wsl:
            raise ResourceError(wsl.wsl1_message(host))
        notes: list[str] = []
        if wsl.too_old(host, s.min_wsl_version):
            raise ResourceError(wsl.update_message(host, s.min_wsl_version))
        if not host.wsl.wsl_version and systemd and not host.wsl.assumed:
            notes.append(wsl.unknown_version_note(host, s.min_wsl_version))

        cur = facts.get(FileContent(s.path)).writable()
        before = cur.content if cur.exists else b""
        edit_keys = dict(wanted)
        already_pid1 = systemd and host.pid1 == "systemd"
        if already_pid1:
            edit_keys = {k: v for k, v in edit_keys.items() if k.lower() != "boot.systemd"}
        try:
            edit = wslconf_edit.set_keys(before, dict(edit_keys)) if edit_keys else wslconf_edit.Edit(before)
        except wslconf.WslConfError as exc:
            msg = str(exc)
            m = re.match(r"line (\d+): (.*)", msg, re.S)
            raise ResourceError(f"{s.path}:{m.group(1)}: {m.group(2)}" if m else f"{s.path}: {msg}") from None
        # lines WSL reads but ignores (not ours): say so, do not touch them
        notes += [f"{s.path}:{no}: {problem}" for no, problem in wslconf.read(edit.data).warnings]

        changes: list[Change] = []
        data = WslConfPlan()
        if systemd and not already_pid1 and s.install_systemd:
            pkg_changes, _, install = packaging.plan_install(
                SYSTEMD_PACKAGES, facts, no_recommends=True, update=s.update, cache_max_age=s.cache_max_age)
            for c in pkg_changes:
                if c.summary.startswith("apt-get install"):
                    c.reason += " (WSL starts systemd only when /sbin/init, from systemd-sysv, exists)"
            changes += pkg_changes
            data.install = install if pkg_changes else None
        elif systemd and not already_pid1 and not host.wsl.sbin_init and \
                not (PackageState("systemd-sysv") in facts and facts.get(PackageState("systemd-sysv")).installed):
            notes.append("systemd-sysv is not installed (no executable /sbin/init): WSL ignores "
                         "boot.systemd without it; install systemd-sysv")
        if edit.data != before:
            keys = ", ".join(f"{k}={v}" for k, v in edit_keys.items())
            why = edit.actions + edit.repairs
            if not cur.exists:
                why = [f"{s.path} does not exist", *why]
            changes.append(Change(f"set {keys} in {s.path}", "; ".join(why),
                                  unified_diff(s.path, cur.content if cur.exists else None, edit.data,
                                               secret=cur.exists and not world_readable(cur.mode),
                                               keep=lambda line: line.lstrip().startswith(b"[")),
                                  done=f"set {keys} in {s.path}"))
            data.content = edit.data
        effective = wslconf.effective(edit.data)
        outputs["systemd"] = effective.get("boot.systemd") == "true" or already_pid1

        restart: Restart | None = None
        if changes:
            reason = ("WSL reads /etc/wsl.conf only when the distro starts" +
                      (": systemd becomes PID 1 after a restart" if systemd and not already_pid1 else ""))
            restart = wsl.restart_info(host, reason)
        elif systemd and not already_pid1:
            restart = wsl.restart_info(host, f"{s.path} enables systemd, but PID 1 is "
                                       f"{host.pid1 or 'not systemd'}: the distro has not been "
                                       "restarted since")
        outputs["restart_required"] = restart is not None
        if already_pid1 and not changes:
            reason = "systemd is already PID 1: nothing to do"
            if edit_keys:
                reason += f"; {', '.join(f'{k}={v}' for k, v in edit_keys.items())} already set in {s.path}"
        else:
            reason = (f"{', '.join(f'{k}={v}' for k, v in wanted.items())} already set in {s.path}"
                      + (" (not active until the distro restarts)" if restart else ""))
        if host.wsl.distro == "" and restart and not host.wsl.assumed:
            notes.append("the distro's name is unknown here (no $WSL_DISTRO_NAME or wslpath): find it "
                         "with `wsl.exe -l -v` on Windows")
        return ResourcePlan(changes, reason, outputs=outputs, notes=notes, data=data, restart=restart)

    def apply(self, plan: ResourcePlan[WslConfPlan], ctx: ApplyContext) -> Outputs:
        s = self.spec
        data = plan.payload()
        if data.install is not None:
            packaging.apply_install(ctx, data.install, SYSTEMD_PACKAGES, lock_timeout=s.lock_timeout)
        if data.content is not None:
            cur = ctx.facts.get(FileContent(s.path))
            ctx.write_file(s.path, data.content, mode=cur.mode if cur.exists else 0o644,
                           uid=cur.uid if cur.exists else 0, gid=cur.gid if cur.exists else 0)
            back = ctx.run(["cat", s.path]).stdout
            if back != data.content or wslconf.read(back).stop is not None:
                raise ResourceError(f"{s.path} does not read back as written")
        return plan.outputs

    def export(self, out: CloudConfig) -> Outputs:
        """cloud-init starts only under systemd, so on WSL2 it reads user data in a distro that
        already boots systemd (Ubuntu's WSL images ship [boot] systemd=true): boot.systemd=true is
        then a no-op. Anything else would change /etc/wsl.conf after WSL has read it."""
        s = self.spec
        host = out.host
        outputs: Outputs = {"systemd": bool(host.wsl.version), "restart_required": False}
        if s.state == "absent" or not host.wsl.version:
            why = "state: absent leaves the file as it is" if s.state == "absent" else "not WSL (wsl=0)"
            out.summary.append(f"{self.label()}: nothing to do ({why})")
            return outputs
        if host.wsl.version < 2:
            raise NotExportable("WSL1 has no systemd, and cloud-init runs only under systemd: convert the "
                                "distro with `wsl --set-version <distro> 2`, or use provision apply")
        other = {k: v for k, v in self.wanted().items() if not (k.lower() == "boot.systemd" and v == "true")}
        if other:
            raise NotExportable(f"{', '.join(f'{k}={v}' for k, v in other.items())}: cloud-init runs "
                                "after WSL has read /etc/wsl.conf, under systemd; set these with "
                                "provision apply")
        out.summary.append(f"{self.label()}: nothing to do (cloud-init runs only when systemd is already "
                           "PID 1, from [boot] systemd=true)")
        return outputs

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        """Keys of /etc/wsl.conf as WSL reads them; on WSL2 with boot.systemd, systemd is up."""
        s = self.spec
        path = s.path
        label = self.label()
        wanted = self.wanted()
        present = s.state == "present"
        systemd_on = _systemd_on(wanted)
        checks: list[Check] = []
        for key, want in wanted.items():
            if key.lower() == "boot.systemd" and systemd_on and env.host.pid1 == "systemd":
                continue  # systemd already runs as PID 1 (apply leaves the key alone): checked below

            def test(probe: Probe, key: str = key, want: str = want) -> tuple[bool, str]:
                data = read_file(probe, path)
                reading = wslconf.read(data) if data is not None else None
                got = reading.effective().get(key.lower()) if reading is not None else None
                bad = reading.stop if reading is not None else None
                where = f" (WSL stops reading at line {bad.no}: {bad.problem})" if bad is not None else ""
                if present:
                    if got == want:
                        return True, f"{key}={want}"
                    if data is None:
                        return False, f"{path} does not exist (expected {key}={want})"
                    return False, (f"WSL reads {key}={got if got is not None else '(not set)'} from "
                                   f"{path}, expected {want}{where}")
                if got == want:
                    return False, f"{path} still sets {key}={want}"
                return True, f"{key} is not {want}"

            name = f"{rid}: {path} sets {key}={want}" if present else f"{rid}: {path} does not set {key}={want}"
            checks.append(Check(name, label, test))

        if present and systemd_on and s.install_systemd:
            checks.append(Check(f"{rid}: systemd-sysv is installed", label, package_installed("systemd-sysv")))
        if present and systemd_on and env.host.wsl.version == 2:
            hint = "restart the distro from Windows (wsl.exe --terminate <distro>, or wsl.exe --shutdown)"

            def pid1(probe: Probe) -> tuple[bool, str]:
                comm = probe.run("cat /proc/1/comm").stdout.strip()
                if comm != "systemd":
                    return False, f"PID 1 is {comm or 'unknown'}, not systemd: {hint}"
                return True, "PID 1 is systemd"

            def running(probe: Probe) -> tuple[bool, str]:
                r = probe.run("systemctl is-system-running")
                state = r.stdout.strip() or first_line(r.stderr) or f"exit {r.rc}"
                if state in ("running", "degraded"):
                    return True, f"systemctl is-system-running: {state}"
                if state in ("starting", "initializing"):
                    return False, f"systemd is still {state}: wait for it and verify again"
                return False, f"systemctl is-system-running: {state}: {hint}"

            checks.append(Check(f"{rid}: systemd is PID 1", label, pid1))
            checks.append(Check(f"{rid}: systemctl is-system-running is running or degraded", label, running))
        return checks
