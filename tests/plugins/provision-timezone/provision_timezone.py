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
from provision.plan import Change, Outputs, ResourcePlan, unified_diff
from provision.resource import ApplyContext, Resource, Spec
from provision.verify.checks import Check, CheckEnv, Probe

ZONEINFO = "/usr/share/zoneinfo"


@dataclass
class Zone:
    link: str  # where /etc/localtime points ("" when it is not a symlink)
    known: bool  # the zone's file exists under /usr/share/zoneinfo
    other: bool = False  # /etc/localtime is there but not a symlink (a copy of a zone's file?)


@dataclass(frozen=True)
class LocalTime(Fact[Zone]):
    """Where /etc/localtime points, and whether ``name`` is a zone this host has."""

    name: str

    def command(self) -> str:
        return ("if [ -L /etc/localtime ]; then echo \"link $(readlink /etc/localtime)\"; "
                "elif [ -e /etc/localtime ]; then echo other; fi; "
                f"[ -f {shlex.quote(f'{ZONEINFO}/{self.name}')} ] && echo known")

    def parse(self, lines: list[str]) -> Zone:
        link = next((line[5:] for line in lines if line.startswith("link ")), "")
        return Zone(link, "known" in lines, "other" in lines)


def link_localtime(target: str) -> list[str]:
    """A new link beside the old one, renamed over it: never a moment without /etc/localtime."""
    return ["sh", "-c", 'ln -sfn "$1" /etc/.localtime.new && mv -Tf /etc/.localtime.new /etc/localtime',
            "sh", target]


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


class Timezone(Resource[TimezoneSpec, Zone]):
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

    def plan(self, facts: Facts) -> ResourcePlan[Zone]:
        zone, name = facts.get(LocalTime(self.spec.name)), self.spec.name
        if not zone.known:
            raise ResourceError(f"{ZONEINFO}/{name} does not exist: not a time zone here (is tzdata installed?)")
        if zone.other:
            raise ResourceError("/etc/localtime is not a symbolic link: left alone (remove it to let this "
                                "type link it)")
        changes = []
        if zone.link != f"{ZONEINFO}/{name}":
            changes.append(Change(f"point /etc/localtime at {name}", f"it points at {zone.link or 'nothing'}",
                                  done=f"pointed /etc/localtime at {name}"))
        now = facts.get(FileContent("/etc/timezone"))  # exists, content, mode, owner, link: see FileState
        if now.content != f"{name}\n".encode():
            changes.append(Change(f"write {name} to /etc/timezone", "it names another zone",
                                  diff=unified_diff("/etc/timezone", now.content if now.exists else None,
                                                    f"{name}\n".encode()),  # shown by plan --diff
                                  done=f"wrote {name} to /etc/timezone"))
        return ResourcePlan(changes, f"the time zone is {name}", outputs={"name": name}, data=zone)

    def apply(self, plan: ResourcePlan[Zone], ctx: ApplyContext) -> Outputs:
        name, before = self.spec.name, plan.payload().link
        if before != f"{ZONEINFO}/{name}":
            # rollback undoes write_file itself; a change made by a command needs its undo recorded
            ctx.undo_with(link_localtime(before) if before else ["rm", "-f", "/etc/localtime"],
                          what=f"point /etc/localtime back at {before or 'nothing'}")
            ctx.check(link_localtime(f"{ZONEINFO}/{name}"), what="linking /etc/localtime")
        ctx.facts.set(LocalTime(name), Zone(f"{ZONEINFO}/{name}", True))  # what a later resource would read
        if ctx.facts.get(FileContent("/etc/timezone")).content != f"{name}\n".encode():
            ctx.write_file("/etc/timezone", f"{name}\n".encode(), mode=0o644)  # atomic, backed up
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
