"""Debian packages present or absent, driven the way automation must drive apt.

Installing checks the install candidate first (``apt-cache policy`` exits 0 for unknown
packages, so its ``Candidate:`` line is read) and runs ``apt-get update`` only when needed;
removing simulates the removal first and refuses to take other packages along unless allowed.
Every apt-get call is non-interactive, waits for the dpkg lock, keeps existing conffiles, and a
non-zero exit is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator

from provision import packaging
from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable
from provision.facts import Fact, Facts
from provision.packaging import InstallPlan, RemovePlan
from provision.plan import Outputs, ResourcePlan
from provision.resource import ApplyContext, Resource, Spec
from provision.verify.checks import Check, CheckEnv, package_absent, package_installed

_PKG = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


class AptSpec(Spec):
    packages: list[str] = Field(max_length=1000, description="Debian package names (at least one).")
    state: Literal["present", "absent"] = Field("present", description="Installed, or removed.")
    no_install_recommends: bool = Field(True, description="Install without the Recommends of the "
                                        "packages (apt-get --no-install-recommends).")
    update: Literal["auto", "always", "never"] = Field(
        "auto", description="apt-get update before installing: auto (only when something is missing "
        "and the package lists are absent or older than cache_max_age), always, never.")
    cache_max_age: int = Field(86400, ge=0, description="Seconds after which the package lists count "
                               "as old (update: auto).")
    lock_timeout: int = Field(300, ge=0, description="Seconds to wait for the dpkg lock.")
    purge: bool = Field(False, description="With state: absent, remove configuration files too.")
    allow_extra_removals: bool = Field(False, description="With state: absent, let apt also remove "
                                       "the packages that depend on these (listed in the plan).")
    remove_orphans: bool = Field(True, description="With state: absent, also remove the packages these "
                                 "pulled in that nothing else needs then (listed in the plan; never a "
                                 "package apt would autoremove already).")

    @field_validator("packages")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one package")
        for name in v:
            if not _PKG.match(name):
                raise ValueError(f"{name!r} is not a Debian package name")
        return v


AptData = InstallPlan | RemovePlan


class Apt(Resource[AptSpec, AptData]):
    type_name = "apt"
    spec_type = AptSpec
    summary = "Debian packages present or absent (apt-get, non-interactive, candidate checked first)"
    example = """\
- apt:
    packages: [git, maven]
"""

    def label(self) -> str:
        return f"apt {' '.join(self.spec.packages)}"

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        if self.spec.state == "present":
            return packaging.install_facts(self.spec.packages, known,
                                           no_recommends=self.spec.no_install_recommends)
        return packaging.remove_facts(self.spec.packages)

    def plan(self, facts: Facts) -> ResourcePlan[AptData]:
        s = self.spec
        data: AptData
        if s.state == "present":
            changes, reason, data = packaging.plan_install(
                s.packages, facts, no_recommends=s.no_install_recommends, update=s.update,
                cache_max_age=s.cache_max_age)
        else:
            changes, reason, data = packaging.plan_remove(s.packages, facts, purge=s.purge,
                                                          allow_extra=s.allow_extra_removals,
                                                          orphans=s.remove_orphans)
        return ResourcePlan(changes, reason, data=data)

    def apply(self, plan: ResourcePlan[AptData], ctx: ApplyContext) -> Outputs:
        data = plan.payload()
        if isinstance(data, InstallPlan):
            packaging.apply_install(ctx, data, self.spec.packages, lock_timeout=self.spec.lock_timeout)
        else:
            packaging.apply_remove(ctx, data, lock_timeout=self.spec.lock_timeout)
        return {}

    def export(self, out: CloudConfig) -> Outputs:
        s = self.spec
        if s.state == "absent":
            raise NotExportable("state: absent (cloud-init installs packages, it does not remove them)")
        out.install(s.packages, no_recommends=s.no_install_recommends, update=s.update != "never")
        out.summary.append(f"{self.label()}: packages" + (" (without recommends)" if s.no_install_recommends
                                                          else ""))
        return {}

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        label = self.label()
        if self.spec.state == "present":
            return [Check(f"{rid}: {p} is installed", label, package_installed(p)) for p in self.spec.packages]
        return [Check(f"{rid}: {p} is absent", label, package_absent(p)) for p in self.spec.packages]
