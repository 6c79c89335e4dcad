"""profile_script: a script in /etc/profile.d/, rendered from a template, for login shells.

Login shells (console, ``wsl`` with no command, VS Code's server, WSLg apps) read
``/etc/profile.d/*.sh``; PAM sessions read /etc/environment. WSL terminals never run PAM, so on WSL
this script is what gives them JAVA_HOME.

Keys:
  name: file name in the directory, ending in .sh (default jdk.sh)
  template: template to render (default profile.d/jdk.sh.j2)
  directory: default /etc/profile.d
  state: present | absent (default present)

Example:
  - profile_script:
      name: jdk.sh
      template: profile.d/jdk.sh.j2
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import field_validator

from provision.facts import FactRequest, Facts
from provision.plan import ResourcePlan
from provision.resources.base import ApplyContext, Resource, Spec, defaults
from provision.resources.files import apply_whole_file, plan_whole_file


class ProfileScriptSpec(Spec):
    name: str = "jdk.sh"
    template: str = "profile.d/jdk.sh.j2"
    directory: str = "/etc/profile.d"
    state: Literal["present", "absent"] = "present"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+\.sh$", v):
            raise ValueError("must be a plain file name ending in .sh (profile.d only reads *.sh)")
        return v

    @field_validator("directory")
    @classmethod
    def _abs(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must be an absolute path")
        return v.rstrip("/")


class ProfileScript(Resource):
    type_name = "profile_script"
    Spec = ProfileScriptSpec
    summary = "a login-shell script in /etc/profile.d/, rendered from templates/"
    __doc__ = __doc__

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        d = defaults(ProfileScriptSpec, partial)
        if isinstance(d.get("name"), str) and isinstance(d.get("directory"), str):
            return FactRequest(files={f"{d['directory'].rstrip('/')}/{d['name']}"})
        return FactRequest()

    @property
    def path(self) -> str:
        return f"{self.spec.directory}/{self.spec.name}"  # type: ignore[attr-defined]

    def label(self) -> str:
        return f"profile_script {self.path}"

    def plan(self, facts: Facts) -> ResourcePlan:
        s: ProfileScriptSpec = self.spec  # type: ignore[assignment]
        content = None
        if s.state == "present":
            content = self.renderer.render(s.template).encode() if self.renderer else b""
        changes, reason, write = plan_whole_file(self.path, content, facts, mode=0o644 if content else None,
                                                 owner="root" if content else None,
                                                 group="root" if content else None)
        notes = []
        if changes and content and facts.wsl.version and "JAVA_HOME" in content.decode("utf-8", "replace"):
            notes.append("on WSL, login shells read this: a terminal started with `wsl` (no command), "
                         "Windows Terminal, VS Code Remote-WSL, WSLg apps; `wsl <command>`, `wsl -e` "
                         "and systemd services see neither this nor /etc/environment (use absolute "
                         "paths or Environment= in the unit there)")
        return ResourcePlan(changes, reason, data=write, notes=notes)

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        apply_whole_file(ctx, plan.data)
        return {}
