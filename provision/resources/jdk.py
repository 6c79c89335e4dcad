"""A JDK, its home derived from the package, made the default java: the distribution's OpenJDK,
or Eclipse Temurin from Adoptium's signed apt repository where the distribution has no such version.

``vendor: auto`` (the default) takes the distribution's OpenJDK when its package lists have the
version (or, without fresh lists, when the release is known to have it), Temurin otherwise (Debian
13 has no OpenJDK 17), and keeps whichever is installed already; the plan says which and why.
``vendor: temurin`` declares the repository (a deb822 source for the host's codename with
Adoptium's key pinned by fingerprint, fetched on the controller by apply; see apt_repository), installs
``temurin-<v>-jdk`` and reads its home from the package's files like any other.

``headless: true`` (the default) installs ``openjdk-<v>-jdk-headless`` with
``--no-install-recommends`` (servers, WSL); ``headless: false`` installs ``openjdk-<v>-jdk``
(X11/GTK included), like the manual procedure. The home is read from the installed package (the
directory holding ``bin/javac``, canonical path, arch-aware), never globbed or hard-coded; it must
contain ``bin/java`` and ``bin/javac``. ``default: true`` makes this JDK's tools the default through
update-alternatives when another JDK outranks it (a newer JDK installed later wins auto mode);
``update-alternatives --set`` leaves those links in manual mode, and verify checks that the java and
javac alternatives point into the default's home, in manual mode whenever another JDK ranks higher.
``state: absent`` removes every installed ``openjdk-<v>-*`` flavour (jdk, jdk-headless, jre,
jre-headless), after simulating the removal: if apt would take other packages along, it refuses
unless ``allow_extra_removals: true``; the packages the JDK pulled in that nothing else needs go
with it, and with ``purge`` (the default) its configuration files too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision import packaging
from provision.cloudconfig import KNOWN_OS, CloudConfig
from provision.errors import NotExportable, ResourceError
from provision.facts import (
    DPKG,
    HOST,
    AptLists,
    Candidate,
    DpkgAudit,
    Fact,
    Facts,
    FileContent,
    HostFacts,
    PackageState,
)
from provision.java import doctor as java_doctor
from provision.java import jdksdoctor
from provision.java.alternatives import (
    FIRST_BOOT,
    AltEntry,
    describe_off,
    judge_default,
    off_default,
    parse_query,
    set_default_script,
)
from provision.java.checks import compile_and_run, is_jdk, java_major, tool_version
from provision.java.resolve import (
    DISTRO_JDKS,
    VENDORS,
    AvailableJdks,
    JdkHome,
    JdkInstall,
    jdk_packages,
    no_candidate,
    predicted_home,
    setup_java_arch,
)
from provision.java.temurin import (
    ADOPTIUM_FINGERPRINT,
    ADOPTIUM_KEY_URL,
    ADOPTIUM_URI,
    TEMURIN_IMPLEMENTOR,
    TemurinInstalled,
    temurin_packages,
)
from provision.journal import STATE_DIR, Event
from provision.plan import Change, Outputs, ResourcePlan
from provision.resource import ApplyContext, Resource, Spec
from provision.resources import apt_repository as repos
from provision.verify.checks import (
    Check,
    CheckEnv,
    Probe,
    default_tool,
    package_absent,
    package_installed,
    read_file,
    resolved,
)

# --------------------------------------------------------------------------- the resource

class TemurinRepository(Spec):
    uri: str = Field(ADOPTIUM_URI, description="Adoptium's apt repository (or a mirror of it).")
    key_url: str | None = Field(ADOPTIUM_KEY_URL, description="Its signing key's URL, fetched on the "
                                "controller (https).")
    key: str | None = Field(None, description="The signing key inline (ASCII-armored), instead of key_url.")
    fingerprint: str = Field(ADOPTIUM_FINGERPRINT, description="The key's pinned fingerprint: a key that "
                             "does not match is refused before anything is written.")
    name: str = Field("adoptium", description="File names: /etc/apt/sources.list.d/<name>.sources, "
                      "/etc/apt/keyrings/<name>.asc.")

    _fp = field_validator("fingerprint")(repos.valid_fingerprint)
    _uri = field_validator("uri")(repos.valid_uri)


class JdkSpec(Spec):
    version: int = Field(17, ge=8, le=99, description="Major version, e.g. 17.")
    vendor: Literal["auto", "distro", "temurin"] = Field(
        "auto", description="distro: the distribution's OpenJDK; temurin: Eclipse Temurin from Adoptium's "
        "apt repository; auto: the distribution's when it has the version, else Temurin (an installed one "
        "is kept).")
    headless: bool = Field(True, description="Install openjdk-<v>-jdk-headless (no X11/GTK); false: "
                           "openjdk-<v>-jdk, with its recommends, like the manual procedure (distro only: "
                           "Temurin has one JDK package).")
    state: Literal["present", "absent"] = Field("present", description="Installed, or removed (every "
                                                "openjdk-<v>-* flavour, temurin-<v>-jdk/-jre, and the "
                                                "Temurin repository when nothing else uses it).")
    versions: list[int] | None = Field(None, min_length=1, max_length=10, description="Several JDKs side "
                                       "by side, instead of version (e.g. [17, 21]): each installed, "
                                       "`default` names the one java, javac and JAVA_HOME are; a version "
                                       "taken off the list is removed on the next apply (the list is "
                                       "recorded on the host, in /var/lib/provision/jdk-versions.json).")
    default: bool | int = Field(True, description="Make this JDK's java, javac and the other tools the "
                                "default (update-alternatives) when another JDK outranks it; with "
                                "versions: the version that is the default (true: the first; false: none).")
    no_install_recommends: bool | None = Field(None, description="Install without recommends "
                                               "(default: the same as headless).")
    repository: TemurinRepository = Field(TemurinRepository(), description="Where Temurin comes from "
                                          "(vendor temurin, or auto without a distribution OpenJDK).")
    cache_max_age: int = Field(86400, ge=0, description="Seconds after which the package lists "
                               "count as old (apt-get update first).")
    lock_timeout: int = Field(300, ge=0, description="Seconds to wait for the dpkg lock.")
    allow_extra_removals: bool = Field(False, description="With state: absent, let apt also remove "
                                       "the packages that depend on the JDK.")
    purge: bool = Field(True, description="With state: absent, remove the JDK's configuration files "
                        "too (/etc/java-<v>-openjdk), so nothing of it is left.")


    @model_validator(mode="after")
    def _versions(self) -> JdkSpec:
        if self.versions is None:
            if not isinstance(self.default, bool) and self.default != self.version:
                raise ValueError(f"default: {self.default} is not the version ({self.version})")
            return self
        if "version" in self.model_fields_set:
            raise ValueError("give version (one JDK) or versions (several), not both")
        bad = [v for v in self.versions if not 8 <= v <= 99]
        if bad or len(set(self.versions)) != len(self.versions):
            raise ValueError("versions must be distinct major versions from 8 to 99")
        if not isinstance(self.default, bool) and self.default not in self.versions:
            raise ValueError(f"default: {self.default} is not one of the versions {self.versions}")
        return self

    def listed(self) -> list[int]:
        return list(self.versions) if self.versions is not None else [self.version]

    def default_version(self) -> int | None:
        if isinstance(self.default, bool):
            return self.listed()[0] if self.default else None
        return self.default


@dataclass
class JdkPlan:
    vendor: str = "distro"
    install: packaging.InstallPlan | None = None
    remove: packaging.RemovePlan | None = None
    repo: repos.RepoPlan | None = None  # Temurin's repository: added (present) or removed (absent)
    candidate_after_repo: bool = False  # the package's candidate is known once the repository is read
    alternatives: list[AltEntry] = field(default_factory=list)


def packages_for(spec: JdkSpec, vendor: str = "distro") -> list[str]:
    if vendor == "temurin":
        return [f"temurin-{spec.version}-jdk"]
    return [f"openjdk-{spec.version}-jdk-headless" if spec.headless else f"openjdk-{spec.version}-jdk"]


def outputs_for(jdk: JdkHome, home: str, vendor: str = "distro") -> Outputs:
    return {"home": home, "version": jdk.version, "java": f"{home}/bin/java",
            "javac": f"{home}/bin/javac", "release": jdk.release, "vendor": vendor}


def home_tool(home: str, tool: str, want: int) -> Callable[[Probe], tuple[bool, str]]:
    """``<home>/bin/<tool> -version`` reports ``want`` (a JDK that is not the default)."""
    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.run("%s -version", f"{home}/bin/{tool}")
        text = r.stdout + r.stderr
        m = re.search(r'version "([^"]+)"', text) if tool == "java" else re.search(r"javac (\S+)", text)
        if r.rc != 0 or not m:
            return False, f"{home}/bin/{tool} -version failed (exit {r.rc})"
        if java_major(m.group(1)) != want:
            return False, f"{home}/bin/{tool} -version reports {m.group(1)}, not {want}"
        return True, f"{home}/bin/{tool} -version reports {m.group(1)}"
    return test


def temurin_repo(spec: JdkSpec, host: HostFacts) -> repos.Repo:
    r = spec.repository
    if not host.os.codename:
        raise ResourceError("Temurin's repository is per release, and this host's os-release names no "
                            "VERSION_CODENAME")
    return repos.Repo(r.name, (r.uri,), (host.os.codename,), ("main",), key=r.key,
                      key_url=None if r.key is not None else r.key_url, fingerprint=r.fingerprint,
                      label="Eclipse Temurin")  # one source for every Temurin JDK: no version in it


class OneJdk(Resource[JdkSpec, JdkPlan]):
    """One JDK version (the jdk type runs one per listed version; its spec's default is a bool)."""

    beside = False  # one of several, not the default: checked by its own paths, not the PATH's

    def label(self) -> str:
        s = self.spec
        return f"jdk {s.version}{' (headless)' if s.headless and s.state == 'present' else ''}"

    # -- which vendor ------------------------------------------------------------------------
    def choose(self, facts: Facts) -> tuple[str, str]:
        """(vendor, why) on this host; needs the facts facts() asked for."""
        s = self.spec
        if s.vendor != "auto":
            return s.vendor, f"vendor: {s.vendor}"
        v = s.version
        if facts.get(JdkInstall(v, "distro")).home:
            return "distro", f"the distribution's OpenJDK {v} is installed"
        if facts.get(JdkInstall(v, "temurin")).home:
            return "temurin", f"Temurin {v} is installed"
        host = facts.get(HOST)
        pkg = packages_for(s)[0]
        if facts.peek(Candidate(pkg)):
            return "distro", f"{host.os.label} has OpenJDK {v}"
        age = facts.get(AptLists()).age
        if age is None or age > s.cache_max_age:  # no fresh lists: what the release is known to have
            known = next((k for k, o in KNOWN_OS.items() if o[:2] == (host.os.id, host.os.version_id)), None)
            have = DISTRO_JDKS.get(known or "")
            if not have or v in have:
                return "distro", (f"{host.os.label} has OpenJDK {v}" if have else
                                  "the package lists are not fresh: the distribution's OpenJDK is tried first")
        return "temurin", (f"{host.os.label} has no OpenJDK {v} packages: Eclipse Temurin {v} from "
                           "Adoptium's repository")

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        s = self.spec
        v = s.version
        vendors = VENDORS if s.vendor == "auto" else (s.vendor,)
        for vendor in vendors:
            yield JdkInstall(v, vendor)
        if s.state == "absent":
            yield from packaging.remove_facts(self.absent_packages())
            if s.vendor != "distro":
                yield from repos.repo_facts(s.repository.name)
                yield TemurinInstalled()
            return
        yield DpkgAudit()  # an interrupted dpkg run is finished even when the JDK is installed
        if "distro" in vendors:
            wanted = packages_for(s)
            no_rec = s.headless if s.no_install_recommends is None else s.no_install_recommends
            yield from packaging.install_facts(wanted, known, no_recommends=no_rec)
            if s.vendor == "auto" and self._no_jdk(known):
                yield AptLists()  # choose() weighs the lists' age (install_facts asks only when one is missing)
            candidate = Candidate(wanted[0])
            if candidate in known and known.peek(candidate) is None and s.vendor == "distro":
                yield AvailableJdks()  # to say which versions there are instead
        if "temurin" in vendors:
            # cheap in the first round trip (a converged Temurin host needs nothing more); its
            # candidate only once Temurin is what this host will get
            yield from repos.repo_facts(s.repository.name)
            if s.vendor == "temurin" or self._temurin_likely(known):
                yield from packaging.install_facts(packages_for(s, "temurin"), known)
            else:
                yield PackageState(packages_for(s, "temurin")[0])

    def absent_packages(self) -> list[str]:
        """What state: absent removes (the vendor's packages; with auto, both vendors')."""
        v, vendor = self.spec.version, self.spec.vendor
        return (jdk_packages(v) if vendor != "temurin" else []) + (temurin_packages(v) if vendor != "distro" else [])

    def _no_jdk(self, known: Facts) -> bool:
        """Whether neither vendor's JDK is known to be installed (both looked for)."""
        v = self.spec.version
        distro, temurin = known.peek(JdkInstall(v, "distro")), known.peek(JdkInstall(v, "temurin"))
        return distro is not None and temurin is not None and not distro.home and not temurin.home

    def _temurin_likely(self, known: Facts) -> bool:
        """vendor auto: whether what is known so far points to Temurin (not the distribution's)."""
        v = self.spec.version
        distro, temurin = known.peek(JdkInstall(v, "distro")), known.peek(JdkInstall(v, "temurin"))
        if distro is None or temurin is None or distro.home:
            return False
        if temurin.home:
            return True
        pkg = Candidate(packages_for(self.spec)[0])
        return pkg in known and known.peek(pkg) is None

    # -- plan ---------------------------------------------------------------------------------
    def plan(self, facts: Facts) -> ResourcePlan[JdkPlan]:
        s = self.spec
        if s.state == "absent":
            return self._plan_absent(facts)
        vendor, why = self.choose(facts)
        jdk = facts.get(JdkInstall(s.version, vendor))
        arch = facts.get(HOST).arch
        wanted = packages_for(s, vendor)
        data = JdkPlan(vendor=vendor)
        changes: list[Change] = []
        if vendor == "temurin":
            repo_changes, _, data.repo = repos.plan_repo(temurin_repo(s, facts.get(HOST)), facts)
            changes += repo_changes
            if not data.repo.update:
                data.repo = data.repo if repo_changes else None
        installed = facts.get(PackageState(wanted[0])).installed
        if not installed:
            if data.repo is not None and data.repo.update:  # the candidate comes with the new lists
                data.install = packaging.InstallPlan(missing=wanted, no_recommends=True)
                data.candidate_after_repo = True
                changes.append(Change(f"apt-get install --no-install-recommends {wanted[0]}",
                                      f"{why}; from {s.repository.uri}, once its lists are downloaded",
                                      done=f"installed {wanted[0]}"))
            else:
                no_rec = s.headless if s.no_install_recommends is None else s.no_install_recommends
                if vendor == "temurin":
                    no_rec = True
                inst_changes, _, data.install = packaging.plan_install(
                    wanted, facts, no_recommends=no_rec, update="auto", cache_max_age=s.cache_max_age,
                    candidate_error=lambda pkg, f: self._no_candidate(vendor, pkg, f))
                inst_changes[-1].reason = f"{why}; {inst_changes[-1].reason}"
                changes += inst_changes
            if s.default:
                changes[-1].reason += (f"; then JDK {s.version} is made the default java/javac if "
                                       "another JDK outranks it")
            return ResourcePlan(changes, "", data=data,
                                outputs=outputs_for(jdk, predicted_home(s.version, arch, vendor), vendor))

        if not jdk.home:
            raise ResourceError(f"{', '.join(wanted)} is installed but no JDK home was found in its files")
        problems = [f"{jdk.home}/bin/{tool} is missing" for tool, ok in
                    (("java", jdk.has_java), ("javac", jdk.has_javac)) if not ok]
        if problems:
            raise ResourceError(f"JDK {s.version} is installed but broken: {'; '.join(problems)} "
                                f"(reinstall {wanted[0]})")
        state = packaging.describe_installed([facts.get(PackageState(p)) for p in wanted])
        reason = f"JDK {s.version} installed ({state}), home {jdk.home}"
        recover = packaging.recover_change(facts)  # one of its dependencies may be the unfinished one
        if recover is not None:
            changes.append(recover)
            data.install = packaging.InstallPlan(configure=True)
        if s.default:
            off = off_default(jdk.alternatives)
            if off:
                data.alternatives = off
                changes.append(Change(f"make JDK {s.version} the default java and javac",
                                      f"another JDK is the default now: {describe_off(off)}",
                                      done=f"made JDK {s.version} the default java and javac"))
            elif jdk.alternatives:
                reason += "; it is the default java and javac"
            else:
                reason += "; no alternatives registered for it (no .jinfo file found)"
        if vendor == "temurin" and not changes:
            reason += f"; {repos.sources_path(s.repository.name)} in place"
        return ResourcePlan(changes, "" if changes else reason, outputs=outputs_for(jdk, jdk.home, vendor),
                            data=data)

    def _no_candidate(self, vendor: str, pkg: str, facts: Facts) -> str:
        if vendor == "temurin":
            host = facts.get(HOST)
            return (f"{pkg} is not in {self.spec.repository.uri} for {host.os.codename}/{host.arch} "
                    "(Adoptium may not publish this version for this release)")
        return no_candidate(self.spec.version, pkg, facts)

    def _plan_absent(self, facts: Facts) -> ResourcePlan[JdkPlan]:
        s = self.spec
        v = s.version
        vendors = VENDORS if s.vendor == "auto" else (s.vendor,)
        pkgs = self.absent_packages()
        changes, reason, removal = packaging.plan_remove(pkgs, facts, purge=s.purge,
                                                         allow_extra=s.allow_extra_removals)
        data = JdkPlan(remove=removal)
        if "temurin" in vendors:
            others = [p for p in facts.get(TemurinInstalled()) if p not in removal.present]
            if not others:
                repo_changes, data.repo = repos.plan_repo_removal(s.repository.name, facts, (s.repository.uri,))
                for c in repo_changes:
                    c.reason = "no other Temurin package uses the repository"
                changes += repo_changes
                data.repo = data.repo if repo_changes else None
        # the outputs name the JDK being removed (later resources remove the lines naming its home)
        installed = [vd for vd in vendors if facts.get(JdkInstall(v, vd)).home]
        repo_there = "temurin" in vendors and facts.get(FileContent(repos.sources_path(s.repository.name))).exists
        vendor = installed[0] if installed else "temurin" if repo_there else vendors[0]
        jdk = facts.get(JdkInstall(v, vendor))
        home = jdk.home or predicted_home(v, facts.get(HOST).arch, vendor)
        return ResourcePlan(changes, "" if changes else (reason or f"JDK {v} is not installed"),
                            outputs=outputs_for(jdk, home, vendor), data=data)

    # -- apply --------------------------------------------------------------------------------
    def prepare(self, plan: ResourcePlan[JdkPlan]) -> None:
        repo = plan.payload().repo
        if repo is not None:
            repos.prepare_repo(repo)  # Temurin's key, fetched and checked against the pin

    def apply(self, plan: ResourcePlan[JdkPlan], ctx: ApplyContext) -> Outputs:
        s = self.spec
        data = plan.payload()
        if s.state == "absent":
            if data.remove is not None:
                packaging.apply_remove(ctx, data.remove, lock_timeout=s.lock_timeout)
            if data.repo is not None:
                repos.apply_repo(ctx, data.repo, lock_timeout=s.lock_timeout)
            after = ctx.run(["readlink", "-f", "/etc/alternatives/java"]).out.strip()
            plan.notes.append(f"java is now {after}" if after else "no java is left on this host")
            return plan.outputs

        vendor = data.vendor
        wanted = packages_for(s, vendor)
        if data.repo is not None:
            repos.apply_repo(ctx, data.repo, lock_timeout=s.lock_timeout)
        if data.install and (data.install.missing or data.install.configure):
            if data.candidate_after_repo and ctx.fresh(Candidate(wanted[0])) is None:
                raise ResourceError(self._no_candidate(vendor, wanted[0], ctx.facts))

            def candidate_error(pkg: str, facts: Facts) -> str:
                if vendor == "distro":
                    ctx.gather([AvailableJdks()])
                return self._no_candidate(vendor, pkg, facts)
            packaging.apply_install(ctx, data.install, wanted, lock_timeout=s.lock_timeout,
                                    candidate_error=candidate_error)
        fact = JdkInstall(s.version, vendor)
        jdk = ctx.facts.peek(fact) or ctx.fresh(fact)
        if not (jdk.home and jdk.has_java and jdk.has_javac):
            raise ResourceError(f"JDK {s.version}: no home with bin/java and bin/javac after install "
                                f"(found {jdk.home or 'none'})")
        if s.default:
            off = off_default(jdk.alternatives)
            if off:
                ctx.progress(f"making JDK {s.version} the default ({describe_off(off)})")
                script = set_default_script(off)
                ctx.record({"event": Event.ALTERNATIVES, "previous": {a.name: a.current for a in off}})
                ctx.check(["sh", "-c", script], what="update-alternatives --set")
                ctx.invalidate(DPKG)
                jdk = ctx.fresh(fact)
                still = [a for a in off_default(jdk.alternatives) if a.name in ("java", "javac")]
                if still:
                    raise ResourceError(f"update-alternatives did not take: {describe_off(still)}")
        return outputs_for(jdk, jdk.home, vendor)

    def export(self, out: CloudConfig) -> Outputs:
        s = self.spec
        host = out.host
        if s.state == "absent":
            raise NotExportable("state: absent (cloud-init installs packages, it does not remove them: "
                                "remove the JDK with provision apply over SSH)")
        if s.vendor == "temurin":
            raise NotExportable("vendor: temurin: Adoptium's repository is not exported to cloud-init yet; "
                                "install Temurin with provision apply")
        have = DISTRO_JDKS.get(f"{host.os.id}-{host.os.version_id}")
        if have is not None and s.version not in have:
            raise NotExportable(f"{host.os.label} has no OpenJDK {s.version} packages (it has "
                                f"{', '.join(map(str, have))}: e.g. -e java_version={have[-1]}); Temurin, "
                                "which provision apply would install there, is not exported yet")
        pkgs = packages_for(s)
        no_rec = s.headless if s.no_install_recommends is None else s.no_install_recommends
        out.install(pkgs, no_recommends=no_rec, update=True)  # a new image's lists: assume stale
        home = predicted_home(s.version, host.arch)
        out.run(["sh", "-c", FIRST_BOOT, "provision-jdk", home, "1" if s.default else "0"])
        out.summary.append(f"{self.label()}: packages {' '.join(pkgs)}"
                           + (" (without recommends)" if no_rec else "") + f"; runcmd: checks {home}"
                           + (f", makes JDK {s.version} the default java/javac" if s.default else ""))
        return outputs_for(JdkHome(s.version), home, "distro")

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        s = self.spec
        v = s.version
        label = self.label()
        if s.state == "absent":
            gone = (jdk_packages(v) if s.vendor != "temurin" else []) + \
                (temurin_packages(v) if s.vendor != "distro" else [])
            return [Check(f"{rid}: {p} is absent", label, package_absent(p)) for p in gone]
        vendor = str(outputs.get("vendor") or ("temurin" if s.vendor == "temurin" else "distro"))
        fact = env.facts.peek(JdkInstall(v, vendor))
        home = str(outputs.get("home") or (fact.home if fact else "") or predicted_home(v, env.host.arch, vendor))
        pkg = packages_for(s, vendor)[0]
        maker = TEMURIN_IMPLEMENTOR if vendor == "temurin" else "the distribution"

        def release(probe: Probe) -> tuple[bool, str]:
            data = read_file(probe, f"{home}/release")
            if data is None:
                return False, f"{home}/release does not exist"
            m = re.search(r'^JAVA_VERSION="?([^"\n]+)"?', data.decode("utf-8", "replace"), re.M)
            if not m:
                return False, f"{home}/release has no JAVA_VERSION line"
            if java_major(m.group(1)) != v:
                return False, f"{home}/release says JAVA_VERSION {m.group(1)}, not {v}"
            who = re.search(r'^IMPLEMENTOR="?([^"\n]*)"?', data.decode("utf-8", "replace"), re.M)
            implementor = who.group(1) if who else ""
            if (vendor == "temurin") != (implementor == TEMURIN_IMPLEMENTOR):
                want = TEMURIN_IMPLEMENTOR if vendor == "temurin" else "the distribution"
                return False, f"{home}/release says IMPLEMENTOR {implementor or '(none)'}, expected {want}"
            return True, f"{home}/release: JAVA_VERSION {m.group(1)}, IMPLEMENTOR {implementor or '(none)'}"

        def default(probe: Probe) -> tuple[bool, str]:
            wrong = []
            for tool in ("java", "javac"):
                got = default_tool(probe, tool)
                want = resolved(probe, f"{home}/bin/{tool}") or f"{home}/bin/{tool}"
                if got != want:
                    wrong.append(f"{tool} is {got or 'not on the PATH'}, not {want}")
            if wrong:
                return False, "; ".join(wrong)
            return True, f"java and javac on the PATH are {home}'s"

        def alternatives(probe: Probe) -> tuple[bool, str]:
            real = resolved(probe, home) or home
            said = []
            for tool in ("java", "javac"):
                r = probe.run("update-alternatives --query %s", tool)
                ok, why = judge_default(parse_query(tool, r.stdout if r.rc == 0 else ""), real)
                if not ok:
                    return False, why
                said.append(why)
            return True, "; ".join(said)

        checks = [
            Check(f"{rid}: {pkg} is installed", label, package_installed(pkg)),
            Check(f"{rid}: JDK {v} home has bin/java and bin/javac", label, lambda p: is_jdk(p, home)),
            Check(f"{rid}: release file says JAVA_VERSION {v}" + (f" from {maker}" if vendor == "temurin" else ""),
                  label, release),
        ]
        if self.beside:  # not the default: its own tools, by path
            checks += [Check(f"{rid}: {home}/bin/{tool} -version reports {v}", label, home_tool(home, tool, v))
                       for tool in ("java", "javac")]
        else:
            checks += [Check(f"{rid}: java -version reports {v}", label, tool_version("java", v)),
                       Check(f"{rid}: javac -version reports {v}", label, tool_version("javac", v))]
        if s.default:
            checks.append(Check(f"{rid}: java and javac are JDK {v}'s", label, default))
            checks.append(Check(f"{rid}: the java and javac alternatives point into JDK {v}'s home", label,
                                alternatives))
        if not self.beside:
            checks.append(Check(f"{rid}: javac compiles and java runs a program", label, compile_and_run(v)))
        if vendor == "temurin":
            checks += repos.repository_checks(rid, label, temurin_repo(s, env.host))
        return checks


# --------------------------------------------------------------------------- several JDKs

RECORD = f"{STATE_DIR}/jdk-versions.json"  # the versions a `versions:` list installed, and vendors


def read_record(data: bytes) -> dict[int, str]:
    """The recorded versions and their vendors (nothing from a file that is not the record)."""
    try:
        doc = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {int(k): v for k, v in doc.items()
            if isinstance(k, str) and k.isdigit() and len(k) <= 2 and v in VENDORS}


def record_bytes(vendors: dict[int, str]) -> bytes:
    return (json.dumps({str(v): vendors[v] for v in sorted(vendors)}) + "\n").encode()


@dataclass
class JdksPlan:
    parts: list[tuple[OneJdk, ResourcePlan[JdkPlan]]]  # in apply order: removed, beside, the default
    record: bytes | None = None  # the record's new content, when it changes


class Jdk(Resource[JdkSpec, JdksPlan]):
    type_name = "jdk"
    examiners = (java_doctor.EXAMINER, jdksdoctor.EXAMINER)
    spec_type = JdkSpec
    summary = ("JDKs (the distribution's OpenJDK, or Eclipse Temurin from Adoptium's repository): "
               "installed side by side, homes derived from the packages, one the default java")
    output_docs = {"home": "JDK home (contains bin/java and bin/javac); with versions: the default's",
                   "version": "major version (the default's)",
                   "java": "path of its java", "javac": "path of its javac",
                   "release": "JAVA_VERSION from its release file (empty before install)",
                   "vendor": "distro or temurin: where it came from",
                   "jdks": "every listed JDK: a list of {version, vendor, home}",
                   "homes": "every listed JDK's home by version (a mapping: homes[21])",
                   "arch": "the host's architecture as setup-java spells it in JAVA_HOME_<N>_<ARCH> "
                           "(X64, ARM64, ...)"}
    example = """\
- jdk:
    version: 17
    headless: true
"""

    @property
    def several(self) -> bool:
        return self.spec.versions is not None

    def label(self) -> str:
        s = self.spec
        if not self.several:
            return self._one(s.version).label()
        return f"jdk {', '.join(map(str, s.listed()))}{' (headless)' if s.headless and s.state == 'present' else ''}"

    def _one(self, version: int, *, vendor: str | None = None, absent: bool = False) -> OneJdk:
        s = self.spec
        default = s.default_version() == version and not absent
        one = OneJdk(s.model_copy(update={"version": version, "versions": None, "default": default,
                                          **({"vendor": vendor} if vendor else {}),
                                          **({"state": "absent"} if absent else {})}), self._render)
        one.beside = self.several and not default and not absent
        return one

    def _listed(self) -> list[OneJdk]:
        """In apply order: the default last (its alternatives set after the others' installs)."""
        d = self.spec.default_version()
        return [self._one(v) for v in sorted(self.spec.listed(), key=lambda v: v == d)]

    def _removed(self, known: Facts) -> list[OneJdk]:
        """Recorded versions no longer listed (removed the way state: absent removes one)."""
        if not self.several or self.spec.state == "absent":
            return []
        cur = known.peek(FileContent(RECORD))
        if cur is None or not cur.exists:
            return []
        recorded = read_record(cur.content)
        return [self._one(v, vendor=vd, absent=True) for v, vd in sorted(recorded.items())
                if v not in self.spec.listed()]

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        if self.several:
            yield FileContent(RECORD)
        for one in self._removed(known) + self._listed():
            yield from one.facts(known)

    def plan(self, facts: Facts) -> ResourcePlan[JdksPlan]:
        parts = [(one, one.plan(facts)) for one in self._removed(facts) + self._listed()]
        arch = facts.get(HOST).arch
        if not self.several:
            one, p = parts[0]
            return ResourcePlan(p.changes, p.reason, outputs=self._outputs([p.outputs], p.outputs, arch),
                                notes=p.notes, data=JdksPlan(parts))
        changes = [c for _, p in parts for c in p.changes]
        reasons = [p.reason for _, p in parts if p.reason]
        data = JdksPlan(parts)
        if self.spec.state == "present":
            vendors = {one.spec.version: p.payload().vendor for one, p in parts if one.spec.state == "present"}
            cur = facts.get(FileContent(RECORD)).writable()
            new = record_bytes(vendors)
            if not cur.exists or cur.content != new:
                data.record = new
                changes.append(Change(f"record JDKs {', '.join(map(str, sorted(vendors)))} in {RECORD}",
                                      "the versions this list installed: one taken off it is removed next time",
                                      done=f"recorded JDKs {', '.join(map(str, sorted(vendors)))} in {RECORD}"))
        elif facts.get(FileContent(RECORD)).exists:
            data.record = b""
            changes.append(Change(f"remove {RECORD}", "no JDK of this list is left", done=f"removed {RECORD}"))
        listed = [p.outputs for one, p in parts if one.spec.state == self.spec.state]  # not the removed
        default = next((p.outputs for one, p in parts if one.spec.default),
                       listed[-1] if listed else parts[-1][1].outputs)
        return ResourcePlan(changes, "" if changes else "; ".join(reasons),
                            outputs=self._outputs(listed, default, arch),
                            notes=[n for _, p in parts for n in p.notes], data=data)

    @staticmethod
    def _outputs(listed: list[Outputs], default: Outputs, arch: str) -> Outputs:
        jdks: list[dict[str, str | int]] = [
            {"version": int(str(o["version"])), "vendor": str(o["vendor"]), "home": str(o["home"])} for o in listed]
        return {**default, "jdks": jdks, "homes": {str(j["version"]): str(j["home"]) for j in jdks},
                "arch": setup_java_arch(arch)}

    def prepare(self, plan: ResourcePlan[JdksPlan]) -> None:
        for one, p in plan.payload().parts:
            if p.changed:
                one.prepare(p)

    def apply(self, plan: ResourcePlan[JdksPlan], ctx: ApplyContext) -> Outputs:
        data = plan.payload()
        listed: list[Outputs] = []
        default: Outputs = {}
        for one, p in data.parts:
            if p.changed or (one.spec.default and plan.changed):  # the default: checked again last
                if not p.changed:
                    ctx.gather([JdkInstall(one.spec.version, p.payload().vendor)])
                out = one.apply(p, ctx)
            else:
                out = p.outputs
            if one.spec.state == self.spec.state:
                listed.append(out)
                default = out if one.spec.default or not default else default
        if data.record == b"":
            ctx.remove_file(RECORD)
        elif data.record is not None:
            ctx.write_file(RECORD, data.record, mode=0o644)
        return self._outputs(listed, default or data.parts[-1][1].outputs, ctx.facts.get(HOST).arch)

    def export(self, out: CloudConfig) -> Outputs:
        listed = [one.export(out) for one in self._listed()]
        return self._outputs(listed, next((o for o, one in zip(listed, self._listed(), strict=True)
                                           if one.spec.default), listed[-1]), out.host.arch)

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        if not self.several:
            return self._one(self.spec.version).checks(rid, outputs, env)
        homes = outputs.get("homes")
        checks: list[Check] = []
        for one in self._listed():
            v = one.spec.version
            home = homes.get(str(v)) if isinstance(homes, dict) else None
            jdks = outputs.get("jdks")
            mine = next((j for j in jdks if j.get("version") == v), {}) if isinstance(jdks, list) else {}
            checks += one.checks(f"{rid} {v}", {**mine, "home": home} if home else {}, env)
        return checks
