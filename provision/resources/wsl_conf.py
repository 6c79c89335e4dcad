"""wsl_conf: keys of /etc/wsl.conf (e.g. boot.systemd), edited the way WSL's own parser reads it.

Each key's first occurrence is edited in place (WSL reads only the first; later duplicates are
removed), a missing key goes into the existing ``[section]`` (a new ``[boot]`` goes first in the
file), and every other section, key and comment stays byte for byte. The file is written with LF
line endings and no BOM; CRLF, a BOM or UTF-16 found in it are repaired, and the plan says so.
Values are checked against WSL's grammar before anything is written (booleans: true/false/1/0,
written as true/false). An invalid line elsewhere in the file (WSL stops reading there) is
refused with its line number.

Decisions: not WSL, or a container/chroot on WSL → skipped, with the reason; WSL1 → refused with
the command that converts the distro (``wsl --set-version <distro> 2``); WSL older than
``min_wsl_version`` → refused with ``wsl --update``; ``boot.systemd: true`` while systemd is
already PID 1 → nothing to do. With ``boot.systemd: true``, ``systemd-sysv`` is installed first
when missing (WSL ignores the setting without an executable /sbin/init). WSL reads the file only
when the distro starts: a change (or an earlier change not restarted yet) makes the result say
"restart required", with the PowerShell commands for this distro.

``state: absent`` leaves the file alone (skipped): WSL settings such as systemd are not undone
with the Java setup; set ``boot.systemd: false`` to turn systemd off again.

Keys:
  path: the file (default /etc/wsl.conf)
  set: mapping of "section.key": value (e.g. boot.systemd: true)
  template: a template rendering [section] and key=value lines, merged like ``set`` (e.g. wsl.conf.j2)
  state: present | absent (default present; absent changes nothing, see above)
  require_wsl: 1 | 2 - the lowest WSL version this applies to (default 2: systemd needs WSL2)
  min_wsl_version: the lowest WSL version accepted when it can be read (default 0.67.6)
  install_systemd: install systemd-sysv when boot.systemd is true and it is missing (default true)
  update: auto | always | never - apt-get update before installing (default auto)
  cache_max_age: seconds (default 86400)
  lock_timeout: seconds to wait for the dpkg lock (default 300)

Outputs: ``systemd`` (true when boot.systemd is enabled in the file), ``restart_required`` (bool).

Example:
  - wsl_conf:
      set:
        boot.systemd: true
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import field_validator, model_validator

from provision import wsl
from provision.errors import ResourceError
from provision.facts import FactRequest, Facts
from provision.formats import wslconf
from provision.plan import Change, ResourcePlan, unified_diff
from provision.resources import apt
from provision.resources.base import ApplyContext, Resource, Spec, absolute_path, defaults

SYSTEMD_PACKAGES = ["systemd-sysv"]


class WslConfSpec(Spec):
    path: str = "/etc/wsl.conf"
    set: dict[str, bool | int | str] = {}
    template: str | None = None
    state: Literal["present", "absent"] = "present"
    require_wsl: Literal[1, 2] = 2
    min_wsl_version: str = wsl.MIN_SYSTEMD_WSL
    install_systemd: bool = True
    update: Literal["auto", "always", "never"] = "auto"
    cache_max_age: int = 86400
    lock_timeout: int = 300

    _abs = field_validator("path")(absolute_path)

    @field_validator("set")
    @classmethod
    def _grammar(cls, v: dict[str, Any]) -> dict[str, Any]:
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
    install: apt.InstallPlan | None = None
    content: bytes | None = None  # new file content, None = leave the file


class WslConf(Resource):
    type_name = "wsl_conf"
    Spec = WslConfSpec
    summary = "keys of /etc/wsl.conf (e.g. [boot] systemd=true), edited by WSL's own parser rules"
    outputs = {"systemd": "true when /etc/wsl.conf enables systemd (after this resource)",
               "restart_required": "true when the distro must restart for the file to take effect"}
    __doc__ = __doc__

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        d = defaults(WslConfSpec, partial)
        req = FactRequest()
        if isinstance(d.get("path"), str) and d["path"].startswith("/"):
            req.files.add(d["path"])
        if d.get("install_systemd") is not False:
            req.packages |= set(SYSTEMD_PACKAGES)
            req.wsl_candidates |= set(SYSTEMD_PACKAGES)  # installed only on WSL
        return req

    def label(self) -> str:
        return f"wsl_conf {self.spec.path}"  # type: ignore[attr-defined]

    def wanted(self) -> dict[str, str]:
        s: WslConfSpec = self.spec  # type: ignore[assignment]
        wanted: dict[str, str] = {}
        if s.template:
            text = self.renderer.render(s.template) if self.renderer else ""
            for ln in wslconf.parse(text.encode()):
                if ln.kind == "invalid" or (ln.kind == "key" and not ln.section):
                    raise ResourceError(f"template {s.template} line {ln.no}: "
                                        f"{ln.problem or 'not a [section] or key=value line'}")
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

    def plan(self, facts: Facts) -> ResourcePlan:
        s: WslConfSpec = self.spec  # type: ignore[assignment]
        wanted = self.wanted()
        systemd = any(k.lower() == "boot.systemd" and v == "true" for k, v in wanted.items())
        outputs: dict[str, Any] = {"systemd": False, "restart_required": False}
        if s.state == "absent":
            return ResourcePlan(skip=f"state: absent leaves {s.path} as it is (WSL settings are not "
                                "undone with the Java setup; set boot.systemd: false to turn systemd off)",
                                outputs=outputs)
        if not facts.wsl.version:
            return ResourcePlan(skip=wsl.not_wsl_reason(facts), outputs=outputs)
        if facts.wsl.container or facts.wsl.chroot:
            return ResourcePlan(skip=wsl.isolated_reason(facts), outputs=outputs)
        if facts.wsl.version < s.require_wsl:
            raise ResourceError(wsl.wsl1_message(facts))
        notes: list[str] = []
        if wsl.too_old(facts, s.min_wsl_version):
            raise ResourceError(wsl.update_message(facts, s.min_wsl_version))
        if not facts.wsl.wsl_version and systemd:
            notes.append(wsl.unknown_version_note(facts, s.min_wsl_version))

        cur = facts.file(s.path)
        before = cur.content if cur.exists else b""
        edit_keys = dict(wanted)
        already_pid1 = systemd and facts.pid1 == "systemd"
        if already_pid1:
            edit_keys = {k: v for k, v in edit_keys.items() if k.lower() != "boot.systemd"}
        try:
            edit = wslconf.set_keys(before, edit_keys) if edit_keys else wslconf.Edit(before)
        except wslconf.WslConfError as exc:
            msg = str(exc)
            m = re.match(r"line (\d+): (.*)", msg, re.S)
            raise ResourceError(f"{s.path}:{m.group(1)}: {m.group(2)}" if m else f"{s.path}: {msg}") from None
        # lines WSL reads but ignores (not ours): say so, do not touch them
        for ln in wslconf.problems(wslconf.parse(edit.data)):
            notes.append(f"{s.path}:{ln.no}: {ln.problem}")

        changes: list[Change] = []
        data = WslConfPlan()
        if systemd and not already_pid1 and s.install_systemd:
            pkg_changes, _, install = apt.plan_install(SYSTEMD_PACKAGES, facts, no_recommends=True,
                                                       update=s.update, cache_max_age=s.cache_max_age)
            for c in pkg_changes:
                if c.summary.startswith("apt-get install"):
                    c.reason += " (WSL starts systemd only when /sbin/init, from systemd-sysv, exists)"
            changes += pkg_changes
            data.install = install if pkg_changes else None
        elif systemd and not already_pid1 and not facts.package("systemd-sysv").installed \
                and not facts.wsl.sbin_init:
            notes.append("systemd-sysv is not installed (no executable /sbin/init): WSL ignores "
                         "boot.systemd without it; install systemd-sysv")
        if edit.data != before:
            keys = ", ".join(f"{k}={v}" for k, v in edit_keys.items())
            why = edit.actions + edit.repairs
            if not cur.exists:
                why = [f"{s.path} does not exist"] + why
            changes.append(Change(f"set {keys} in {s.path}", "; ".join(why),
                                  unified_diff(s.path, cur.content if cur.exists else None, edit.data)))
            data.content = edit.data
        effective = wslconf.effective(edit.data)
        outputs["systemd"] = effective.get("boot.systemd") == "true" or already_pid1

        restart = None
        if changes:
            reason = ("WSL reads /etc/wsl.conf only when the distro starts" +
                      (": systemd becomes PID 1 after a restart" if systemd and not already_pid1 else ""))
            restart = wsl.restart_info(facts, reason)
        elif systemd and not already_pid1:
            restart = wsl.restart_info(facts, f"{s.path} enables systemd, but PID 1 is "
                                       f"{facts.pid1 or 'not systemd'}: the distro has not been "
                                       "restarted since")
        outputs["restart_required"] = restart is not None
        if already_pid1 and not changes:
            reason = "systemd is already PID 1: nothing to do"
            if edit_keys:
                reason += f"; {', '.join(f'{k}={v}' for k, v in edit_keys.items())} already set in {s.path}"
        else:
            reason = (f"{', '.join(f'{k}={v}' for k, v in wanted.items())} already set in {s.path}"
                      + (" (not active until the distro restarts)" if restart else ""))
        if facts.wsl.distro == "" and restart:
            notes.append("the distro's name is unknown here (no $WSL_DISTRO_NAME or wslpath): find it "
                         "with `wsl.exe -l -v` on Windows")
        return ResourcePlan(changes, reason, outputs=outputs, notes=notes, data=data, restart=restart)

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        s: WslConfSpec = self.spec  # type: ignore[assignment]
        data: WslConfPlan = plan.data
        if data.install is not None:
            apt.apply_install(ctx, data.install, SYSTEMD_PACKAGES, lock_timeout=s.lock_timeout)
        if data.content is not None:
            cur = ctx.facts.file(s.path)
            ctx.write_file(s.path, data.content, mode=cur.mode if cur.exists else 0o644,
                           uid=cur.uid if cur.exists else 0, gid=cur.gid if cur.exists else 0)
            back = ctx.run(["cat", s.path]).stdout
            if wslconf.first_invalid(back) is not None or back != data.content:
                raise ResourceError(f"{s.path} does not read back as written")
        return plan.outputs
