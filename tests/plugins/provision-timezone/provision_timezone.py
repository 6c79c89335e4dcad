"""The host's time zone: /etc/localtime pointing at the zone's file, and /etc/timezone naming it
(Debian's two places; Java reads them when TZ is not set)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from provision.errors import ResourceError
from provision.facts import Fact, Facts, FileContent
from provision.plan import Change, Outputs, ResourcePlan
from provision.resource import ApplyContext, Resource, Spec
from provision.verify.checks import Check, CheckEnv, Probe

ZONEINFO = "/usr/share/zoneinfo"


@dataclass
class Zone:
    link: str  # where /etc/localtime points ("" when it is not a symlink)
    known: bool  # the zone's file exists under /usr/share/zoneinfo


@dataclass(frozen=True)
class LocalTime(Fact[Zone]):
    """Where /etc/localtime points, and whether ``name`` is a zone this host has."""

    name: str

    def command(self) -> str:
        return (f"readlink /etc/localtime; [ -f {shlex.quote(f'{ZONEINFO}/{self.name}')} ] && echo known")

    def parse(self, lines: list[str]) -> Zone:
        link = lines[0].strip() if lines and lines[0] != "known" else ""
        return Zone(link, "known" in lines)


class TimezoneSpec(Spec):
    name: str = Field(description="The zone, as in /usr/share/zoneinfo: e.g. Europe/Berlin, Etc/UTC.")

    @field_validator("name")
    @classmethod
    def _zone(cls, v: str) -> str:
        parts = v.split("/")
        if not all(p and p not in (".", "..") and p.replace("_", "").replace("-", "").replace("+", "")
                   .isalnum() for p in parts):
            raise ValueError("a zone name like Europe/Berlin")
        return v


class Timezone(Resource[TimezoneSpec, None]):
    type_name = "timezone"
    spec_type = TimezoneSpec
    summary = "the host's time zone (/etc/localtime and /etc/timezone)"
    output_docs = {"name": "the zone"}
    example = """\
- timezone:
    name: Europe/Berlin
"""

    def label(self) -> str:
        return f"timezone {self.spec.name}"

    def facts(self, known: Facts) -> Iterable[Fact[Any]]:
        return [LocalTime(self.spec.name), FileContent("/etc/timezone")]

    def plan(self, facts: Facts) -> ResourcePlan[None]:
        zone, name = facts.get(LocalTime(self.spec.name)), self.spec.name
        if not zone.known:
            raise ResourceError(f"{ZONEINFO}/{name} does not exist: not a time zone here (is tzdata installed?)")
        changes = []
        if zone.link != f"{ZONEINFO}/{name}":
            changes.append(Change(f"point /etc/localtime at {name}", f"it points at {zone.link or 'nothing'}"))
        if facts.get(FileContent("/etc/timezone")).content != f"{name}\n".encode():
            changes.append(Change(f"write {name} to /etc/timezone", "it names another zone"))
        return ResourcePlan(changes, f"the time zone is {name}", outputs={"name": name})

    def apply(self, plan: ResourcePlan[None], ctx: ApplyContext) -> Outputs:
        name = self.spec.name
        # a new link beside the old one, renamed over it: never a moment without /etc/localtime
        ctx.check(["sh", "-c", 'ln -sfn "$1" /etc/.localtime.new && mv -Tf /etc/.localtime.new /etc/localtime',
                   "sh", f"{ZONEINFO}/{name}"], what="linking /etc/localtime")
        ctx.facts.set(LocalTime(name), Zone(f"{ZONEINFO}/{name}", True))  # what a later resource would read
        ctx.write_file("/etc/timezone", f"{name}\n".encode(), mode=0o644)  # atomic; updates its fact
        return plan.outputs

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        name = self.spec.name

        def linked(probe: Probe) -> tuple[bool, str]:
            link = probe.run("readlink /etc/localtime").stdout.strip()
            return link == f"{ZONEINFO}/{name}", f"/etc/localtime -> {link or 'nothing'}"

        def named(probe: Probe) -> tuple[bool, str]:
            text = probe.host.file("/etc/timezone").content_string.strip()
            return text == name, f"/etc/timezone says {text or 'nothing'}"

        return [Check(f"{rid}: /etc/localtime is {name}", self.label(), linked),
                Check(f"{rid}: /etc/timezone names {name}", self.label(), named)]
