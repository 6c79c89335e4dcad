"""Installing and removing Debian packages the way automation must drive apt, for every resource
type that does it (apt, jdk, wsl_conf's systemd-sysv).

Every apt-get call: ``DEBIAN_FRONTEND=noninteractive`` on the command line (sudo resets the
environment), ``-o DPkg::Lock::Timeout``, keep existing conffiles, stdin from /dev/null; a non-zero
exit is a failure. Before installing, the install candidate is checked (``apt-cache policy`` exits
0 for unknown packages, so its ``Candidate:`` line is read). Before removing, the removal is
simulated and anything else apt would remove is refused unless allowed.

``install_facts``/``remove_facts`` say what the planners read; the planners are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from provision.aptout import AptWatch, explain_failure, failed_fetches, format_size
from provision.connections.base import CommandResult
from provision.errors import ResourceError
from provision.facts import (
    APT_LISTS,
    DPKG,
    HOST,
    AptLists,
    Candidate,
    DpkgAudit,
    Fact,
    Facts,
    PackageState,
    PackageStatus,
    Removal,
)
from provision.facts.packages import InstallEstimate, InstallSize, needs_reinstall
from provision.journal import Event
from provision.plan import Change
from provision.resource import ApplyContext

CandidateError = Callable[[str, Facts], str]


def apt_get(*args: str, lock_timeout: int = 300, run_id: str = "") -> list[str]:
    """apt-get as automation must run it; ``run_id`` tags the run in apt's own history log
    (/var/log/apt/history.log records the command line), which is how a rollback knows exactly
    which packages that run installed, dependencies included."""
    tag = ["-o", f"provision::run={run_id}"] if run_id else []
    return ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q",
            "-o", f"DPkg::Lock::Timeout={lock_timeout}",
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", *tag, *args]


def run_apt(ctx: ApplyContext, *args: str, what: str, lock_timeout: int, timeout: float,
            estimate: InstallEstimate | None = None) -> CommandResult:
    """One apt-get run: its output streamed (shown with -v), a progress line naming the dpkg lock's
    holder while apt waits for it, apt's own status (APT::Status-Fd on stdout) as live progress,
    and on failure an error that says why (the lock, the failed downloads, else apt's last lines)."""
    watch = AptWatch(ctx.progress, ctx.output, status=ctx.status,
                     download=estimate.download if estimate else 0, packages=estimate.packages if estimate else 0)
    status = ["-o", "APT::Status-Fd=1"] if args and args[0] in ("install", "remove", "purge") else []
    result = ctx.conn.run(apt_get(*status, *args, lock_timeout=lock_timeout, run_id=ctx.run_id), timeout=timeout,
                          stream=watch)
    if not result.ok:
        raise ResourceError(explain_failure(what, result, watch, lock_timeout))
    return result


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
    extras: list[str] = field(default_factory=list)  # packages depending on them (allowed to go)
    orphans: list[str] = field(default_factory=list)  # what they pulled in and nothing else needs


def describe_installed(pkgs: list[PackageStatus]) -> str:
    return ", ".join(f"{p.name} {p.version}" for p in pkgs)


def no_candidate_message(pkg: str, facts: Facts) -> str:
    return (f"{pkg} has no installation candidate on {facts.get(HOST).os.label}: it is not in this "
            "release's package lists (check /etc/apt/sources.list and the package name)")


# --------------------------------------------------------------------------- install

def install_facts(packages: Iterable[str], known: Facts, *, no_recommends: bool = True) -> list[Fact[object]]:
    """What plan_install reads: each package's state and dpkg's audit (cheap: a glob and one
    ``grep -q`` on a consistent host, see DpkgAudit); then, once one is found missing, the lists'
    age, the candidates of those missing, and what installing them would download and take on
    disk. A host where every package is installed (the daily no-op) runs no lists' ``find``; a
    missing one costs no extra round trip, as its candidate is read in the same second round."""
    states = [PackageState(p) for p in packages]
    out: list[Fact[object]] = [*states, DpkgAudit()]
    missing: list[str] = []
    for s in states:
        status = known.peek(s)
        if status is not None and not status.installed:
            if not missing:
                out.append(AptLists())
            out.append(Candidate(s.name))
            missing.append(s.name)
    if known.estimates and missing and all(known.peek(Candidate(m)) is not None for m in missing):
        out.append(InstallSize(tuple(missing), no_recommends))
    return out


def recover_change(facts: Facts) -> Change | None:
    """``dpkg --configure -a`` when an earlier dpkg run was interrupted (a package half-configured,
    unpacked or awaiting its triggers, pending updates): also when every package a resource wants
    is installed, as one it depends on may be the unfinished one. Pure; None on a consistent host."""
    audit = facts.get(DpkgAudit())
    if not audit:
        return None
    return Change("dpkg --configure -a", f"an earlier dpkg run was interrupted: {'; '.join(audit[:3])}"
                  + (f" (and {len(audit) - 3} more)" if len(audit) > 3 else ""),
                  done="finished an interrupted dpkg run (dpkg --configure -a)")


def describe_size(est: InstallEstimate | None) -> str:
    """``25 packages, 41.7 MB to download, 190.0 MB on disk`` (apt's estimate), or ""."""
    if est is None or not est.packages:
        return ""
    parts = [f"{est.packages} package{'s' if est.packages != 1 else ''}"]
    parts.append(f"{format_size(est.download)} to download" if est.download else "nothing to download")
    if est.disk:
        parts.append(f"{format_size(est.disk)} on disk")
    return ", ".join(parts)


def plan_install(packages: list[str], facts: Facts, *, no_recommends: bool, update: str,
                 cache_max_age: int, candidate_error: CandidateError = no_candidate_message,
                 ) -> tuple[list[Change], str, InstallPlan]:
    """Pure: what installing ``packages`` needs on this host. Raises ResourceError when impossible."""
    pkgs = [facts.get(PackageState(p)) for p in packages]
    missing = [p for p in pkgs if not p.installed]
    recover = recover_change(facts)
    if not missing:
        if recover is not None:
            return [recover], "", InstallPlan(configure=True, no_recommends=no_recommends)
        return [], f"installed: {describe_installed(pkgs)}", InstallPlan()
    age = facts.get(AptLists()).age
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
    if recover is None and any(p.half_installed for p in missing):
        recover = Change("dpkg --configure -a", "an earlier dpkg run was interrupted: a package is "
                         "half-installed or half-configured",
                         done="finished an interrupted dpkg run (dpkg --configure -a)")
    plan = InstallPlan(missing=[p.name for p in missing], update=bool(why_update),
                       configure=recover is not None, no_recommends=no_recommends)
    reasons = []
    for p in missing:
        cand = facts.get(Candidate(p.name))
        if cand is None and not plan.update:
            raise ResourceError(candidate_error(p.name, facts))
        state = "not installed" if p.status[:1] != "i" else f"dpkg state {p.status!r}"
        reasons.append(f"{p.name}: {state}" + (f", candidate {cand}" if cand else ""))
    changes = []
    if plan.update:
        changes.append(Change("apt-get update", why_update, done="downloaded the package lists (apt-get update)"))
    if recover is not None:
        changes.append(recover)
    size = describe_size(facts.peek(InstallSize(tuple(plan.missing), no_recommends)))
    if size:
        reasons.append(size)
    flags = " --no-install-recommends" if no_recommends else ""
    changes.append(Change(f"apt-get install{flags} {' '.join(plan.missing)}", "; ".join(reasons),
                          done=f"installed {' '.join(plan.missing)}"))
    return changes, "", plan


def apply_install(ctx: ApplyContext, plan: InstallPlan, packages: list[str], *, lock_timeout: int,
                  candidate_error: CandidateError = no_candidate_message) -> None:
    reinstall = apply_recover(ctx) if plan.configure else []
    if not plan.missing and not reinstall:
        return
    if plan.update:
        ctx.progress("apt-get update")
        updated = run_apt(ctx, "update", what="apt-get update", lock_timeout=lock_timeout,
                          timeout=lock_timeout + 600)
        ctx.invalidate(APT_LISTS)
        ctx.gather(Candidate(p) for p in plan.missing)
        fetches = failed_fetches(updated)
        for p in plan.missing:
            if ctx.facts.get(Candidate(p)) is None:
                if fetches:  # apt ignores lists it could not download: that is the cause, not the name
                    raise ResourceError(f"{p} has no installation candidate because apt-get update could not "
                                        f"download the package lists: {'; '.join(fetches)}")
                raise ResourceError(candidate_error(p, ctx.facts))
        if fetches:
            ctx.progress(f"apt-get update: some package lists could not be downloaded: {'; '.join(fetches)}")
    flags = ["--no-install-recommends"] if plan.no_recommends else []
    names = [*plan.missing, *(r for r in reinstall if r not in plan.missing)]
    if reinstall:
        flags.append("--reinstall")  # what a kill left half-unpacked is unpacked again (the missing are installed)
    estimate = ctx.facts.peek(InstallSize(tuple(plan.missing), plan.no_recommends)) if not reinstall else None
    size = describe_size(estimate)
    ctx.progress(f"apt-get install {' '.join(names)}" + (f" ({size})" if size else ""))
    ctx.record({"event": Event.INSTALL, "packages": names, "apt_tag": f"provision::run={ctx.run_id}"})
    try:
        run_apt(ctx, "install", *flags, *names, what=f"apt-get install {' '.join(names)}",
                lock_timeout=lock_timeout, timeout=lock_timeout + 1800, estimate=estimate)
    finally:
        ctx.invalidate(DPKG)
    ctx.gather(PackageState(p) for p in packages)
    broken = [p for p in packages if not ctx.facts.get(PackageState(p)).installed]
    if broken:
        raise ResourceError(f"apt-get reported success but these are not installed: {', '.join(broken)}")
    if plan.configure:
        left = ctx.fresh(DpkgAudit())
        if left:
            raise ResourceError(f"dpkg still reports an unfinished run after apt-get install: {'; '.join(left[:5])}")


# dpkg, and the maintainer scripts and triggers it runs as root (ldconfig, update-alternatives,
# ...), found in the system's own directories only: not in /usr/local, which an admin may have
# made writable for a group (Debian's "staff"), nor anywhere else a login's PATH may name.
RECOVER_ENV = ["/usr/bin/env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive"]


def apply_recover(ctx: ApplyContext) -> list[str]:
    """Finish an interrupted dpkg run: ``dpkg --configure -a`` (unpacked, half-configured, pending
    triggers), then dpkg's audit read again. Returns the packages only a reinstall finishes (a kill
    during their unpack: half-installed, or flagged reinstall-required, which also makes dpkg
    --configure exit 1); anything else left unfinished is an error."""
    ctx.progress("dpkg --configure -a (an earlier dpkg run was interrupted)")
    ctx.record({"event": Event.DPKG_CONFIGURE})
    result = ctx.run([*RECOVER_ENV, "dpkg", "--configure", "-a", "--force-confdef", "--force-confold"],
                     timeout=1800, stream=True)
    ctx.invalidate(DPKG)
    left = ctx.fresh(DpkgAudit())
    reinstall = needs_reinstall(left)
    if not reinstall and (left or not result.ok):
        tail = result.tail() if not result.ok else ""
        raise ResourceError(f"dpkg --configure -a failed (exit {result.rc})" + (f": {tail}" if tail else "")
                            + (f"; still unfinished: {'; '.join(left[:5])}" if left else ""))
    return reinstall


# --------------------------------------------------------------------------- remove

def _removable(status: PackageStatus, purge: bool) -> bool:
    return (status.status[:1] in ("i", "h", "r") and status.status[1:2] != "c") or \
        (purge and status.status[:2] in ("rc", "pc"))


def remove_facts(packages: Iterable[str]) -> list[Fact[object]]:
    names = list(packages)
    return [*(PackageState(p) for p in names), Removal(tuple(sorted(names)))]


def plan_remove(packages: list[str], facts: Facts, *, purge: bool, allow_extra: bool,
                orphans: bool = True) -> tuple[list[Change], str, RemovePlan]:
    """Pure: what removing ``packages`` would do: with ``orphans``, also the packages they pulled
    in that nothing else needs then (never one apt would autoremove already). Refuses to take
    packages that depend on them along unless allowed."""
    present = [p for p in packages if _removable(facts.get(PackageState(p)), purge)]
    if not present:
        return [], f"not installed: {', '.join(packages)}", RemovePlan()
    sim = facts.get(Removal(tuple(sorted(packages))))
    extras = sorted(set(sim.removes) - set(packages))
    if extras and not allow_extra:
        raise ResourceError(
            f"removing {', '.join(present)} would also remove {len(extras)} other package(s) that "
            f"depend on them: {', '.join(extras)}; nothing was removed (set allow_extra_removals: true "
            f"to remove them too)")
    deps = sorted(set(sim.orphans) - set(packages) - set(extras)) if orphans else []
    verb = "purge" if purge else "remove"
    reason = "installed: " + describe_installed([facts.get(PackageState(p)) for p in present])
    if extras:
        reason += f"; also removes (allowed): {', '.join(extras)}"
    if deps:
        reason += f"; and {len(deps)} package(s) installed with them that nothing else needs: {', '.join(deps)}"
    plan = RemovePlan(present, purge, extras, deps)
    return [Change(f"apt-get {verb} {' '.join(present + deps)}", reason,
                   done=f"removed {' '.join(present + deps)}")], "", plan


def apply_remove(ctx: ApplyContext, plan: RemovePlan, *, lock_timeout: int) -> None:
    if not plan.present:
        return
    verb = "purge" if plan.purge else "remove"
    names = [*plan.present, *plan.orphans]
    ctx.progress(f"apt-get {verb} {' '.join(names)}")
    ctx.record({"event": Event.REMOVE_PACKAGES, "packages": names, "purge": plan.purge})
    try:
        run_apt(ctx, verb, *names, what=f"apt-get {verb}", lock_timeout=lock_timeout, timeout=lock_timeout + 900)
    finally:
        ctx.invalidate(DPKG)
    ctx.gather(PackageState(p) for p in plan.present)
    left = [p for p in plan.present if ctx.facts.get(PackageState(p)).status[:2] in ("ii", "iF", "iU", "hi")]
    if left:
        raise ResourceError(f"apt-get {verb} reported success but these are still installed: {', '.join(left)}")
