"""template: render a template from templates/ (or beside the playbook) to a path.

Keys:
  src: template name (looked up beside the playbook first, then in templates/)
  dest: absolute path
  mode: octal string, e.g. '0644' (default: keep the current mode, 0644 for a new file)
  owner: user name or id (default: keep, root for a new file)
  group: group name or id (default: keep, root for a new file)
  state: present | absent (default present)

Example:
  - template:
      src: motd.j2
      dest: /etc/motd
      mode: "0644"
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from provision.facts import FactRequest, Facts
from provision.plan import ResourcePlan
from provision.resources.base import ApplyContext, Resource, Spec
from provision.resources.files import apply_whole_file, parse_mode, plan_whole_file


class TemplateSpec(Spec):
    src: str
    dest: str
    mode: str | int | None = None
    owner: str | None = None
    group: str | None = None
    state: Literal["present", "absent"] = "present"

    @field_validator("dest")
    @classmethod
    def _abs(cls, v: str) -> str:
        if not v.startswith("/") or v.endswith("/"):
            raise ValueError("must be an absolute file path")
        return v

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str | int | None) -> str | int | None:
        parse_mode(v)
        return v


class Template(Resource):
    type_name = "template"
    Spec = TemplateSpec
    summary = "a file rendered from a Jinja2 template, with mode and owner"
    __doc__ = __doc__

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        dest = partial.get("dest")
        return FactRequest(files={dest}) if isinstance(dest, str) and dest.startswith("/") else FactRequest()

    def label(self) -> str:
        return f"template {self.spec.dest}"  # type: ignore[attr-defined]

    def plan(self, facts: Facts) -> ResourcePlan:
        s: TemplateSpec = self.spec  # type: ignore[assignment]
        content = None
        if s.state == "present":
            content = self.renderer.render(s.src).encode() if self.renderer else b""
        changes, reason, write = plan_whole_file(s.dest, content, facts, mode=parse_mode(s.mode),
                                                 owner=s.owner, group=s.group)
        return ResourcePlan(changes, reason, data=write)

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        apply_whole_file(ctx, plan.data)
        return {}
