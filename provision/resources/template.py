"""A file rendered from a Jinja2 template (beside the playbook, or in templates/), with its mode
and owner. The whole file is this tool's: its content is replaced when it differs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator

from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable
from provision.facts import Fact, Facts, FileContent
from provision.plan import Outputs, ResourcePlan
from provision.resource import ApplyContext, Resource, Spec, absolute_path
from provision.verify.checks import Check, CheckEnv, whole_file
from provision.wholefile import FileWrite, apply_whole_file, parse_mode, plan_whole_file


class TemplateSpec(Spec):
    src: str = Field(description="Template name, looked up beside the playbook first, then in templates/.")
    dest: str = Field(description="Absolute path of the file to write.")
    mode: str | int | None = Field(None, description="Octal string, e.g. '0644' (default: keep the "
                                   "current mode, 0644 for a new file).")
    owner: str | None = Field(None, description="User name or id (default: keep, root for a new file).")
    group: str | None = Field(None, description="Group name or id (default: keep, root for a new file).")
    state: Literal["present", "absent"] = Field("present", description="Written, or removed.")
    follow: bool = Field(False, description="Write through a symbolic link at dest or among its parent "
                         "directories (the link stays; its target gets the content, mode and owner). Only a "
                         "link root owns, in a directory no other user can write, is followed; without "
                         "follow, a link there is refused.")

    @field_validator("dest")
    @classmethod
    def _abs(cls, v: str) -> str:
        if v.endswith("/"):
            raise ValueError("must be an absolute file path")
        return absolute_path(v)

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str | int | None) -> str | int | None:
        parse_mode(v)
        return v


class Template(Resource[TemplateSpec, FileWrite]):
    type_name = "template"
    spec_type = TemplateSpec
    summary = "a file rendered from a Jinja2 template, with mode and owner"
    template_fields = ("src",)
    example = """\
- template:
    src: motd.j2
    dest: /etc/motd
    mode: "0644"
"""

    def label(self) -> str:
        return f"template {self.spec.dest}"

    def content(self) -> bytes | None:
        return self.render(self.spec.src).encode() if self.spec.state == "present" else None

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        return [FileContent(self.spec.dest, self.spec.follow)]

    def plan(self, facts: Facts) -> ResourcePlan[FileWrite]:
        s = self.spec
        changes, reason, write = plan_whole_file(s.dest, self.content(), facts, mode=parse_mode(s.mode),
                                                 owner=s.owner, group=s.group, follow=s.follow)
        return ResourcePlan(changes, reason, data=write)

    def apply(self, plan: ResourcePlan[FileWrite], ctx: ApplyContext) -> Outputs:
        apply_whole_file(ctx, plan.payload())
        return {}

    def export(self, out: CloudConfig) -> Outputs:
        s = self.spec
        content = self.content()
        if content is None:
            raise NotExportable("state: absent (cloud-init writes files, it does not remove them)")
        mode = parse_mode(s.mode)
        out.write_file(s.dest, content, mode=0o644 if mode is None else mode,
                       owner=f"{s.owner or 'root'}:{s.group or 'root'}")
        out.summary.append(f"{self.label()}: write_files")
        return {}

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        s = self.spec
        content = self.content()
        if content is None:
            return [Check(f"{rid}: {s.dest} is absent", self.label(), whole_file(s.dest, None))]
        test = whole_file(s.dest, content, parse_mode(s.mode), s.owner, s.group)
        return [Check(f"{rid}: {s.dest} matches {s.src}", self.label(), test)]
