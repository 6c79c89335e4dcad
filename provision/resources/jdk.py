"""jdk: an OpenJDK from the distribution, its home derived from the package, made the default java.

- ``headless: true`` (default) installs ``openjdk-<v>-jdk-headless`` with --no-install-recommends
  (servers, WSL); ``headless: false`` installs ``openjdk-<v>-jdk`` (X11/GTK included), like the
  manual procedure.
- The home is read from the installed package (the directory holding ``bin/javac``, canonical
  path, arch-aware), never globbed or hard-coded; it must contain ``bin/java`` and ``bin/javac``.
- ``default: true`` makes this JDK's tools the default through update-alternatives when another
  JDK outranks it (a newer JDK installed later wins auto mode).
- ``state: absent`` removes every installed ``openjdk-<v>-*`` flavour (jdk, jdk-headless, jre,
  jre-headless), after simulating the removal: if apt would take other packages along, it refuses
  unless ``allow_extra_removals: true``.

Keys:
  version: major version (default 17)
  headless: bool (default true)
  state: present | absent (default present)
  default: bool (default true)
  no_install_recommends: bool (default: same as headless)
  cache_max_age: seconds (default 86400)
  lock_timeout: seconds (default 300)
  allow_extra_removals: bool (default false)

Outputs: ``home``, ``version``, ``java``, ``javac``, ``release`` (e.g. ``{{ jdk.home }}``).

Example:
  - jdk:
      version: 17
      headless: true
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from provision.errors import ResourceError
from provision.facts import AltEntry, FactRequest, Facts, JdkFact, jdk_packages
from provision.plan import Change, ResourcePlan
from provision.resources import apt
from provision.resources.base import ApplyContext, Resource, Spec, defaults


class JdkSpec(Spec):
    version: int = Field(17, ge=8, le=99)
    headless: bool = True
    state: Literal["present", "absent"] = "present"
    default: bool = True
    no_install_recommends: bool | None = None
    cache_max_age: int = 86400
    lock_timeout: int = 300
    allow_extra_removals: bool = False


@dataclass
class JdkPlan:
    install: apt.InstallPlan | None = None
    remove: apt.RemovePlan | None = None
    alternatives: list[AltEntry] = field(default_factory=list)


def packages_for(spec: JdkSpec) -> list[str]:
    return [f"openjdk-{spec.version}-jdk-headless" if spec.headless else f"openjdk-{spec.version}-jdk"]


def predicted_home(version: int, arch: str) -> str:
    # Debian's naming (checked after install against the package's own files).
    return f"/usr/lib/jvm/java-{version}-openjdk-{arch or 'amd64'}"


def off_default(jdk: JdkFact) -> list[AltEntry]:
    """Alternatives this JDK provides (and has registered) that point somewhere else now."""
    return [a for a in jdk.alternatives if a.registered and a.current != a.path]


def describe_off(entries: list[AltEntry]) -> str:
    key = [a for a in entries if a.name in ("java", "javac")]
    rest = len(entries) - len(key)
    text = ", ".join(f"{a.name} → {a.current or 'nothing'}" for a in key)
    if rest:
        text += f"{', ' if text else ''}{rest} other tool(s)"
    return text


def _candidate_error(version: int):
    def message(pkg: str, facts: Facts) -> str:
        others = [v for v in facts.apt.available_jdks if v != version]
        text = f"{pkg} has no installation candidate on {facts.os.label}"
        if others:
            text += (f". OpenJDK versions available there: {', '.join(map(str, others))} "
                     f"(e.g. -e java_version={others[-1]}), or add a vendor repository "
                     f"(Adoptium's temurin-{version}-jdk) for Java {version}")
        else:
            text += ": no OpenJDK package is in this release's package lists"
        return text
    return message


def outputs_for(jdk: JdkFact, home: str) -> dict[str, Any]:
    return {"home": home, "version": jdk.version, "java": f"{home}/bin/java",
            "javac": f"{home}/bin/javac", "release": jdk.release}


class Jdk(Resource):
    type_name = "jdk"
    Spec = JdkSpec
    summary = "OpenJDK from the distribution: installed, home derived from the package, default java"
    outputs = {"home": "JDK home (contains bin/java and bin/javac)", "version": "major version",
               "java": "path of its java", "javac": "path of its javac",
               "release": "JAVA_VERSION from its release file (empty before install)"}
    __doc__ = __doc__

    @classmethod
    def request(cls, partial: dict[str, Any]) -> FactRequest:
        d = defaults(JdkSpec, partial)
        v = d.get("version")
        if not isinstance(v, int) or isinstance(v, bool) or not 8 <= v <= 99:
            return FactRequest()
        req = FactRequest(packages=set(jdk_packages(v)), jdks={v})
        if d.get("state") != "absent":  # what would be installed (both flavours while headless is unknown)
            headless = d.get("headless")
            req.candidates = {f"openjdk-{v}-jdk-headless" if headless else f"openjdk-{v}-jdk"} \
                if isinstance(headless, bool) else {f"openjdk-{v}-jdk-headless", f"openjdk-{v}-jdk"}
        if d.get("state") == "absent":
            req.removals.add(tuple(sorted(jdk_packages(v))))
        return req

    def label(self) -> str:
        s: JdkSpec = self.spec  # type: ignore[assignment]
        return f"jdk {s.version}{' (headless)' if s.headless and s.state == 'present' else ''}"

    def plan(self, facts: Facts) -> ResourcePlan:
        s: JdkSpec = self.spec  # type: ignore[assignment]
        jdk = facts.jdks.get(s.version) or JdkFact(s.version)
        if s.state == "absent":
            changes, reason, removal = apt.plan_remove(
                jdk_packages(s.version), facts, purge=False, allow_extra=s.allow_extra_removals)
            home = jdk.home or predicted_home(s.version, facts.arch)
            plan = ResourcePlan(changes, reason or f"JDK {s.version} is not installed",
                                outputs=outputs_for(jdk, home), data=JdkPlan(remove=removal))
            return plan

        wanted = packages_for(s)
        no_rec = s.headless if s.no_install_recommends is None else s.no_install_recommends
        changes, _, install = apt.plan_install(
            wanted, facts, no_recommends=no_rec, update="auto", cache_max_age=s.cache_max_age,
            candidate_error=_candidate_error(s.version))
        data = JdkPlan(install=install)
        if install.missing:
            home = predicted_home(s.version, facts.arch)
            if s.default:
                changes[-1].reason += (f"; then JDK {s.version} is made the default java/javac if "
                                       "another JDK outranks it")
            return ResourcePlan(changes, "", outputs=outputs_for(jdk, home), data=data)

        if not jdk.home:
            raise ResourceError(f"{', '.join(wanted)} is installed but no JDK home was found in its files")
        problems = [f"{jdk.home}/bin/{tool} is missing" for tool, ok in
                    (("java", jdk.has_java), ("javac", jdk.has_javac)) if not ok]
        if problems:
            raise ResourceError(f"JDK {s.version} is installed but broken: {'; '.join(problems)} "
                                f"(reinstall {wanted[0]})")
        reason = f"JDK {s.version} installed ({apt.describe_installed([facts.package(p) for p in wanted])}), " \
                 f"home {jdk.home}"
        if s.default:
            off = off_default(jdk)
            if off:
                data.alternatives = off
                changes.append(Change(f"make JDK {s.version} the default java and javac",
                                      f"another JDK is the default now: {describe_off(off)}"))
            elif jdk.alternatives:
                reason += "; it is the default java and javac"
            else:
                reason += "; no alternatives registered for it (no .jinfo file found)"
        return ResourcePlan(changes, "" if changes else reason, outputs=outputs_for(jdk, jdk.home),
                            data=data)

    def apply(self, plan: ResourcePlan, ctx: ApplyContext) -> dict[str, Any]:
        s: JdkSpec = self.spec  # type: ignore[assignment]
        data: JdkPlan = plan.data
        if data.remove is not None:
            apt.apply_remove(ctx, data.remove, lock_timeout=s.lock_timeout)
            after = ctx.run(["readlink", "-f", "/etc/alternatives/java"]).out.strip()
            plan.notes.append(f"java is now {after}" if after else "no java is left on this host")
            return plan.outputs

        if data.install and data.install.missing:
            def candidate_error(pkg: str, facts: Facts) -> str:
                r = ctx.run(["sh", "-c", "apt-cache pkgnames openjdk- | sed -n "
                             "'s/^openjdk-\\([0-9][0-9]*\\)-jdk-headless$/\\1/p' | sort -n"])
                facts.apt.available_jdks = [int(x) for x in r.out.split() if x.isdigit()]
                return _candidate_error(s.version)(pkg, facts)
            apt.apply_install(ctx, data.install, packages_for(s), lock_timeout=s.lock_timeout,
                              candidate_error=candidate_error)
            ctx.refresh(FactRequest(jdks={s.version}))
        jdk = ctx.facts.jdks.get(s.version) or JdkFact(s.version)
        if not (jdk.home and jdk.has_java and jdk.has_javac):
            raise ResourceError(f"JDK {s.version}: no home with bin/java and bin/javac after install "
                                f"(found {jdk.home or 'none'})")
        if s.default:
            off = off_default(jdk)
            if off:
                ctx.progress(f"making JDK {s.version} the default ({describe_off(off)})")
                script = "set -e\n" + "\n".join(
                    f"update-alternatives --set {shlex.quote(a.name)} {shlex.quote(a.path)}" for a in off)
                ctx.check(["sh", "-c", script], what="update-alternatives --set")
                ctx.journal.append({"action": "alternatives",
                                    "previous": {a.name: a.current for a in off}})
                ctx.refresh(FactRequest(jdks={s.version}))
                jdk = ctx.facts.jdks[s.version]
                still = [a for a in off_default(jdk) if a.name in ("java", "javac")]
                if still:
                    raise ResourceError(f"update-alternatives did not take: {describe_off(still)}")
        return outputs_for(jdk, jdk.home)
