"""apt: Debian packages present or absent, the way automation must drive apt.

Every apt-get call: ``DEBIAN_FRONTEND=noninteractive`` on the command line (sudo resets the
environment), ``-o DPkg::Lock::Timeout``, keep existing conffiles, stdin from /dev/null; a non-zero
exit is a failure. Before installing, the install candidate is checked (``apt-cache policy`` exits 0
for unknown packages, so its ``Candidate:`` line is parsed). Before removing, the removal is
simulated and anything else apt would remove is refused unless allowed.

Keys:
  packages: list of package names (required)
  state: present | absent (default present)
  no_install_recommends: bool (default true)
  update: auto | always | never (default auto: only when something is missing and the package
          lists are absent or older than cache_max_age)
  cache_max_age: seconds (default 86400)
  lock_timeout: seconds to wait for the dpkg lock (default 300)
  purge: remove configuration files too when absent (default false)
  allow_extra_removals: let apt remove packages that depend on these (default false)

Example:
  - apt:
      packages: [git, maven]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import field_validator

from provision.errors import ResourceError
from provision.facts import FactRequest, Facts, PackageFact, parse_candidates, parse_packages
from provision.plan import Change, ResourcePlan
from provision.resources.base import ApplyContext, Resource, Spec, defaults

_PKG = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def apt_get(*args: str, lock_timeout: int = 300) -> list[str]:
    return ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q",
            "-o", f"DPkg::Lock::Timeout={lock_timeout}",
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", *args]


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.0f}h" if seconds >= 3600 else f"{seconds // 60}min"


@dataclass
class InstallPlan:
    missing: list[str] = field(default_factory=list)
    update: bool = False
    configure: bool = False  # dpkg --configure -a first (half-installed packages)
    no_recommends: bool = True


@dataclass
class RemovePlan:
    present: list[str] = field(default_factory=list)
    purge: bool = False
    extras: list[str] = field(default_factory=list)


def describe_installed(pkgs: list[PackageFact]) -> str:
    return ", ".join(f"{p.name} {p.version}" for p in pkgs)


def no_candidate_message(pkg: str, facts: Facts) -> str:
    return (f"{pkg} has no installation candidate on {facts.os.label}: it is not in this release's "
            f"package lists (check /etc/apt/sources.list and the package name)")


def plan_install(packages: list[str], facts: Facts, *, no_recommends: bool, update: str,
                 cache_max_age: int, candidate_error=no_candidate_message) -> tuple[list[Change], str, InstallPlan]:
    """Pure: what installing ``packages`` needs on this host. Raises ResourceError when impossible."""
    pkgs = [facts.package(p) for p in packages]
    missing = [p for p in pkgs if not p.installed]
    if not missing:
        return [], f"installed: {describe_installed(pkgs)}", InstallPlan()
    lists = facts.apt.lists_mtime
    age = facts.now - lists if lists is not None else None
    if update == "always":
        why_update = "update: always"
    elif update == "never":
        why_update = ""
    elif age is None:
        why_update = "there are no package lists yet"
    elif age > cache_max_age:
        why_update = f"package lists are {_hours(age)} old (max age {_hours(cache_max_age)})"
    else:
        why_update = ""
    plan = InstallPlan(missing=[p.name for p in missing], update=bool(why_update),
                       configure=any(p.status[:1] == "i" and not p.installed for p in missing),
                       no_recommends=no_recommends)
    reasons = []
    for p in missing:
        cand = facts.apt.candidates.get(p.name)
        if cand is None and not plan.update:
            raise ResourceError(candidate_error(p.name, facts))
        state = "not installed" if p.status[:1] != "i" else f"dpkg state {p.status.strip()!r}"
        reasons.append(f"{p.name}: {state}" + (f", candidate {cand}" if cand else ""))
    changes = []
    if plan.update:
        changes.append(Change("apt-get update", why_update))
    if plan.configure:
        changes.append(Change("dpkg --configure -a", "a package is half-installed or half-configured"))
    flags = " --no-install-recommends" if no_recommends else ""
    changes.append(Change(f"apt-get install{flags} {' '.join(plan.missing)}", "; ".join(reasons)))
    return changes, "", plan


def plan_remove(packages: list[str], facts: Facts, *, purge: bool,
                allow_extra: bool) -> tuple[list[Change], str, RemovePlan]:
    """Pure: what removing ``packages`` would do; refuses to take other packages along unless allowed."""
    present = [p for p in packages
               if facts.package(p).status[:1] in ("i", "h", "r") and facts.package(p).status[1:2] != "c"
               or (purge and facts.package(p).status[:2] in ("rc", "pc"))]
    if not present:
        return [], f"not installed: {', '.join(packages)}", RemovePlan()
    simulated = facts.apt.removals.get(tuple(sorted(packages)), present)
    extras = sorted(set(simulated) - set(packages))
    if extras and not allow_extra:
        raise ResourceError(
            f"removing {', '.join(present)} would also remove {len(extras)} other package(s) that "
            f"depend on them: {', '.join(extras)}; nothing was removed (set allow_extra_removals: true "
            f"to remove them too)")
    verb = "purge" if purge else "remove"
    reason = "installed: " + describe_installed([facts.package(p) for p in present])
    if extras:
        reason += f"; also removes (allowed): {', '.join(extras)}"
    return [Change(f"apt-get {verb} {' '.join(present)}", reason)], "", RemovePlan(present, purge, extras)


def _query(ctx: ApplyContext, packages: list[str]) -> dict[str, PackageFact]:
    r = ctx.run(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n", *packages])
    found = parse_packages(r.out.splitlines())
    ctx.facts.packages.update({p: found.get(p, PackageFact(p, "un", "")) for p in packages})
    return found


def apply_install(ctx: ApplyContext, plan: InstallPlan, packages: list[str], *, lock_timeout: int,
                  candidate_error=no_candidate_message) -> None:
    if not plan.missing:
        return
    if plan.configure:
        ctx.progress("dpkg --configure -a (a package was left half-configured)")
        ctx.check(["env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "--configure", "-a"],
                  what="dpkg --configure -a", stream=True)
    if plan.update:
        ctx.progress("apt-get update")
        ctx.check(apt_get("update", lock_timeout=lock_timeout), what="apt-get update", stream=True,
                  timeout=lock_timeout + 600)
        r = ctx.run(["apt-cache", "policy", *plan.missing])
        cands = parse_candidates(r.out.splitlines())
        ctx.facts.apt.candidates.update(cands)
        for p in plan.missing:
            if cands.get(p) is None:
                raise ResourceError(candidate_error(p, ctx.facts))
    flags = ["--no-install-recommends"] if plan.no_recommends else []
    ctx.progress(f"apt-get install {' '.join(plan.missing)} (downloading and unpacking can take a minute)")
    ctx.check(apt_get("install", *flags, *plan.missing, lock_timeout=lock_timeout),
              what=f"apt-get install {' '.join(plan.missing)}", stream=True, timeout=lock_timeout + 1800)
    ctx.journal.append({"action": "install", "packages": plan.missing})
    found = _query(ctx, packages)
    broken = [p for p in packages if not (found.get(p) and found[p].installed)]
    if broken:
        raise ResourceError(f"apt-get reported success but these are not installed: {', '.join(broken)}")


def apply_remove(ctx: ApplyContext, plan: RemovePlan, *, lock_timeout: int) -> None:
    if not plan.present:
        return
    verb = "purge" if plan.purge else "remove"
    ctx.progress(f"apt-get {verb} {' '.join(plan.present)}")
    ctx.check(apt_get(verb, *plan.present, lock_timeout=lock_timeout), what=f"apt-get {verb}",
              stream=True, timeout=lock_timeout + 900)
    ctx.journal.append({"action": "remove", "packages": plan.present, "purge": plan.purge})
    found = _query(ctx, plan.present)
    left = [p for p in plan.present if p in found and found[p].status[:2] in ("ii", "iF", "iU", "hi")]
    if left:
        raise ResourceError(f"apt-get {verb} reported success but these are still installed: {', '.join(left)}")


class AptSpec(Spec):
    packages: list[str]
    state: Literal["present", "absent"] = "present"
    no_install_recommends: bool = True
    update: Literal["auto", "always", "never"] = "auto"
    cache_max_age: int = 86400
    lock_timeout: int = 300
    purge: bool = False
    allow_extra_removals: bool = False

    @field_validator("packages")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one package")
        for name in v:
            if not _PKG.match(name):
                raise ValueError(f"{name!r} is not a Debian package name")
        return v


class Apt(Resource):
    type_name = "apt"
    Spec = AptSpec
    summary = "Debian packages present or absent (apt-get, non-interactive, candidate checked first)"
    __doc__ = __doc__

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        d = defaults(AptSpec, partial)
        pkgs = [p for p in d.get("packages") or [] if isinstance(p, str) and _PKG.match(p)]
        req = FactRequest(packages=set(pkgs))
        if d.get("state") != "absent":
            req.candidates = set(pkgs)
        if d.get("state") == "absent" and pkgs:
            req.removals.add(tuple(sorted(pkgs)))
        return req

    def label(self) -> str:
        return f"apt {' '.join(self.spec.packages)}"  # type: ignore[attr-defined]

    def plan(self, facts: Facts) -> ResourcePlan:
        s: AptSpec = self.spec  # type: ignore[assignment]
        if s.state == "present":
            changes, reason, data = plan_install(s.packages, facts, no_recommends=s.no_install_recommends,
                                                 update=s.update, cache_max_age=s.cache_max_age)
        else:
            changes, reason, data = plan_remove(s.packages, facts, purge=s.purge,
                                                allow_extra=s.allow_extra_removals)
        return ResourcePlan(changes, reason, data=data)

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        s: AptSpec = self.spec  # type: ignore[assignment]
        if isinstance(plan.data, InstallPlan):
            apply_install(ctx, plan.data, s.packages, lock_timeout=s.lock_timeout)
        else:
            apply_remove(ctx, plan.data, lock_timeout=s.lock_timeout)
        return {}
