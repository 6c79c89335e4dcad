"""env_file: keys of /etc/environment (or another pam_env file), edited the way pam_env reads it.

The key's effective line (pam_env applies the last one) is edited in place; a missing key is
appended below everything else, with a ``# managed by provision`` comment above it; every other
line stays byte for byte. Values pam_env would mangle (``$ # " ' \\``, newlines, blanks at the
ends) are refused. ``state: absent`` removes only lines this tool wrote, and only while they still
hold the value given (a line someone changed since is left alone and reported).

Keys:
  path: the file (default /etc/environment)
  set: mapping of KEY: value
  template: a template rendering KEY="value" lines, merged like ``set`` (e.g. environment.j2)
  state: present | absent (default present)

Example:
  - env_file:
      set:
        JAVA_HOME: "{{ jdk.home }}"
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator, model_validator

from provision.errors import ResourceError
from provision.facts import FactRequest, Facts
from provision.formats import pamenv
from provision.plan import Change, ResourcePlan, unified_diff
from provision.resources.base import ApplyContext, Resource, Spec, absolute_path, defaults


class EnvFileSpec(Spec):
    path: str = "/etc/environment"
    set: dict[str, str] = {}
    template: str | None = None
    state: Literal["present", "absent"] = "present"

    _abs = field_validator("path")(absolute_path)

    @field_validator("set")
    @classmethod
    def _pam(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            problem = pamenv.check_key(key) or pamenv.check_value(key, value)
            if problem:
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _something(self) -> EnvFileSpec:
        if not self.set and not self.template:
            raise ValueError("give 'set' (KEY: value) or 'template'")
        return self


def _notes(path: str, keys: list[str], facts: Facts) -> list[str]:
    if path != "/etc/environment":
        return []
    names = ", ".join(keys)
    notes = [f"new PAM sessions (ssh, console login, su -) see {names}; shells already open do not: "
             "log in again, or run: set -a; . /etc/environment; set +a"]
    if facts.wsl.version:
        notes.append("WSL terminals do not go through PAM, so /etc/environment alone does not reach "
                     "them: a profile.d script does (login shells: wsl, VS Code, WSLg)")
    return notes


class EnvFile(Resource):
    type_name = "env_file"
    Spec = EnvFileSpec
    summary = "managed KEY=value lines in /etc/environment, following pam_env's rules"
    __doc__ = __doc__

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        path = defaults(EnvFileSpec, partial).get("path")
        return FactRequest(files={path}) if isinstance(path, str) and path.startswith("/") else FactRequest()

    def label(self) -> str:
        return f"env_file {self.spec.path}"  # type: ignore[attr-defined]

    def wanted(self) -> dict[str, str]:
        s: EnvFileSpec = self.spec  # type: ignore[assignment]
        wanted = dict(s.set)
        if s.template:
            text = self.renderer.render(s.template) if self.renderer else ""
            for e in pamenv.parse(text.encode()):
                if e.kind == "assign":
                    wanted[e.key] = e.value  # type: ignore[index,assignment]
                elif e.kind not in ("blank", "comment"):
                    raise ResourceError(f"template {s.template} line {e.line_no}: not a KEY=\"value\" line")
        for key, value in wanted.items():
            problem = pamenv.check_key(key) or pamenv.check_value(key, value)
            if problem:
                raise ResourceError(f"{s.path}: {problem}")
        return wanted

    def plan(self, facts: Facts) -> ResourcePlan:
        s: EnvFileSpec = self.spec  # type: ignore[assignment]
        wanted = self.wanted()
        cur = facts.file(s.path)
        before = cur.content if cur.exists else b""
        if s.state == "present":
            after, actions = pamenv.set_keys(before, wanted)
            env = pamenv.effective(after)
            bad = [k for k, v in wanted.items() if env.get(k) != v]
            if bad:  # cannot happen unless the editor is wrong: refuse rather than write
                raise ResourceError(f"internal check failed: {', '.join(bad)} would not read back")
            notes: list[str] = []
            if after == before:
                where = {e.key: e.line_no for e in pamenv.parse(before) if e.kind == "assign"}
                reason = "; ".join(f"{k} is already {v} (line {where.get(k)})" for k, v in wanted.items())
                return ResourcePlan([], reason, notes=notes)
            notes = _notes(s.path, list(wanted), facts)
            change = Change(f"set {', '.join(wanted)} in {s.path}", "; ".join(actions),
                            unified_diff(s.path, cur.content if cur.exists else None, after))
            return ResourcePlan([change], notes=notes, data=after)
        after, actions, notes = pamenv.unset_keys(before, {k: v for k, v in wanted.items()})
        if after == before:
            return ResourcePlan([], "; ".join(notes) or f"{', '.join(wanted)}: no line written by provision "
                                f"in {s.path}", notes=[])
        change = Change(f"remove {', '.join(wanted)} from {s.path}", "; ".join(actions),
                        unified_diff(s.path, before, after))
        return ResourcePlan([change], notes=notes, data=after)

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        s: EnvFileSpec = self.spec  # type: ignore[assignment]
        cur = ctx.facts.file(s.path)
        ctx.write_file(s.path, plan.data, mode=cur.mode if cur.exists else 0o644,
                       uid=cur.uid if cur.exists else 0, gid=cur.gid if cur.exists else 0)
        return {}
