"""A script in /etc/profile.d/, rendered from a template, for login shells.

Login shells (console, ``wsl`` with no command, VS Code's server, WSLg apps) read
``/etc/profile.d/*.sh``; PAM sessions read /etc/environment. WSL terminals never run PAM, so on WSL
this script is what gives them JAVA_HOME.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator

from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable
from provision.facts import HOST, Fact, Facts, FileContent
from provision.plan import Outputs, ResourcePlan
from provision.resource import ApplyContext, Resource, Spec, absolute_path
from provision.verify.checks import Check, CheckEnv, whole_file
from provision.wholefile import FileWrite, apply_whole_file, plan_whole_file


class ProfileScriptSpec(Spec):
    name: str = Field("jdk.sh", description="File name in the directory, ending in .sh.")
    template: str = Field("profile.d/jdk.sh.j2", description="Template to render.")
    directory: str = Field("/etc/profile.d", description="Where login shells read *.sh from.")
    state: Literal["present", "absent"] = Field("present", description="Written, or removed.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+\.sh$", v):
            raise ValueError("must be a plain file name ending in .sh (profile.d only reads *.sh)")
        return v

    @field_validator("directory")
    @classmethod
    def _abs(cls, v: str) -> str:
        return absolute_path(v).rstrip("/") or "/"


class ProfileScript(Resource[ProfileScriptSpec, FileWrite]):
    type_name = "profile_script"
    spec_type = ProfileScriptSpec
    summary = "a login-shell script in /etc/profile.d/, rendered from templates/"
    template_fields = ("template",)
    example = """\
- profile_script:
    name: jdk.sh
    template: profile.d/jdk.sh.j2
"""

    @property
    def path(self) -> str:
        return f"{self.spec.directory}/{self.spec.name}"

    def label(self) -> str:
        return f"profile_script {self.path}"

    def content(self) -> bytes | None:
        return self.render(self.spec.template).encode() if self.spec.state == "present" else None

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        return [FileContent(self.path)]

    def plan(self, facts: Facts) -> ResourcePlan[FileWrite]:
        content = self.content()
        changes, reason, write = plan_whole_file(self.path, content, facts, mode=0o644 if content else None,
                                                 owner="root" if content else None,
                                                 group="root" if content else None)
        notes = []
        if changes and content and facts.get(HOST).wsl.version and \
                "JAVA_HOME" in content.decode("utf-8", "replace"):
            notes.append("on WSL, login shells read this: a terminal started with `wsl` (no command), "
                         "Windows Terminal, VS Code Remote-WSL, WSLg apps; `wsl <command>`, `wsl -e` "
                         "and systemd services see neither this nor /etc/environment (use absolute "
                         "paths or Environment= in the unit there)")
        return ResourcePlan(changes, reason, data=write, notes=notes)

    def apply(self, plan: ResourcePlan[FileWrite], ctx: ApplyContext) -> Outputs:
        apply_whole_file(ctx, plan.payload())
        return {}

    def export(self, out: CloudConfig) -> Outputs:
        content = self.content()
        if content is None:
            raise NotExportable("state: absent (cloud-init writes files, it does not remove them)")
        out.write_file(self.path, content, mode=0o644, owner="root:root")
        out.summary.append(f"{self.label()}: write_files")
        return {}

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        content = self.content()
        if content is None:
            return [Check(f"{rid}: {self.path} is absent", self.label(), whole_file(self.path, None))]
        return [Check(f"{rid}: {self.path} is present", self.label(), whole_file(self.path, content, 0o644))]
