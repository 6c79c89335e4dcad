"""An OpenJDK from the distribution, its home derived from the package, made the default java.

``headless: true`` (the default) installs ``openjdk-<v>-jdk-headless`` with
``--no-install-recommends`` (servers, WSL); ``headless: false`` installs ``openjdk-<v>-jdk``
(X11/GTK included), like the manual procedure. The home is read from the installed package (the
directory holding ``bin/javac``, canonical path, arch-aware), never globbed or hard-coded; it must
contain ``bin/java`` and ``bin/javac``. ``default: true`` makes this JDK's tools the default through
update-alternatives when another JDK outranks it (a newer JDK installed later wins auto mode).
``state: absent`` removes every installed ``openjdk-<v>-*`` flavour (jdk, jdk-headless, jre,
jre-headless), after simulating the removal: if apt would take other packages along, it refuses
unless ``allow_extra_removals: true``; the packages the JDK pulled in that nothing else needs go
with it, and with ``purge`` (the default) its configuration files too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from provision import packaging
from provision.cloudinit import CloudConfig, NotExportable
from provision.errors import ResourceError
from provision.facts import DPKG, HOST, Candidate, Fact, Facts, PackageState
from provision.facts.base import APT_LISTS
from provision.plan import Change, Outputs, ResourcePlan
from provision.resource import ApplyContext, Resource, Spec
from provision.verify.checks import (
    Check,
    CheckEnv,
    Probe,
    compile_and_run,
    default_tool,
    is_jdk,
    java_major,
    package_absent,
    package_installed,
    read_file,
    resolved,
    tool_version,
)

JVM_DIR = "/usr/lib/jvm"
FLAVOURS = ("jdk", "jdk-headless", "jre", "jre-headless")


# The OpenJDK major versions each release's archive has (its main/universe components), for
# `provision export cloud-init`, where there is no host to ask. A release not listed is not checked.
DISTRO_JDKS: dict[str, tuple[int, ...]] = {
    "debian-12": (17,),
    "debian-13": (21, 25),
    "ubuntu-22.04": (8, 11, 17, 18, 19, 21),
    "ubuntu-24.04": (8, 11, 17, 21),
}

# At first boot, after cloud-init installed the packages (runcmd): the home must be where Debian's
# packages put it (the export predicted it), then, with $2 = 1, each alternative this JDK's .jinfo
# lists, registered and pointing elsewhere, is set to it (what apply does; nothing on a host with
# one JDK).
_FIRST_BOOT = r"""set -eu
home=$1
if ! [ -x "$home/bin/java" ] || ! [ -x "$home/bin/javac" ]; then
  echo "provision: no JDK at $home (bin/java and bin/javac)" >&2; exit 1
fi
[ "$2" = 1 ] || exit 0
base=${home##*/}
for j in /usr/lib/jvm/.*.jinfo; do
  [ -r "$j" ] && grep -qx -e "name=$base" -e "alias=$base" "$j" || continue
  grep -E '^(hl|jre|jdkhl|jdk) ' "$j" | while read -r kind name path; do
    [ -e "$path" ] || continue
    update-alternatives --query "$name" 2>/dev/null | grep -qx "Alternative: $path" || continue
    [ "$(readlink "/etc/alternatives/$name" 2>/dev/null)" = "$path" ] || update-alternatives --set "$name" "$path"
  done
  exit 0
done
echo "provision: no .jinfo file names $base: the default java was not checked" >&2
"""


def jdk_packages(version: int) -> list[str]:
    return [f"openjdk-{version}-{f}" for f in FLAVOURS]


# --------------------------------------------------------------------------- facts

@dataclass
class AltEntry:
    """One alternative a JDK provides (from its .jinfo), and where the link points now."""

    kind: str  # hl, jre, jdkhl, jdk
    name: str  # java, javac, ...
    path: str  # this JDK's binary
    current: str  # what /etc/alternatives/<name> points to ("" if none)
    registered: bool  # whether this JDK's path is registered for the alternative


@dataclass
class JdkHome:
    version: int
    home: str = ""  # canonical JDK home, "" when the JDK packages are not installed
    has_java: bool = False
    has_javac: bool = False
    release: str = ""  # JAVA_VERSION from $home/release
    jinfo_name: str = ""
    jinfo_alias: str = ""
    alternatives: list[AltEntry] = field(default_factory=list)


_JDK = r"""
home=""
for p in openjdk-@V@-jdk-headless openjdk-@V@-jre-headless; do
  b=$(dpkg -L "$p" 2>/dev/null | grep -m 1 -E '/bin/javac?$')
  if [ -n "$b" ]; then home=$(readlink -f "${b%/bin/*}"); break; fi
done
if [ -n "$home" ]; then
  echo "home $home"
  [ -x "$home/bin/java" ] && echo "java yes"
  [ -x "$home/bin/javac" ] && echo "javac yes"
  if [ -r "$home/release" ]; then
    while IFS= read -r l; do
      case "$l" in 'JAVA_VERSION="'*'"') l=${l#JAVA_VERSION=\"}; echo "release ${l%\"}";; esac
    done < "$home/release"
  fi
  base=${home##*/}
  for j in /usr/lib/jvm/.*.jinfo; do
    [ -r "$j" ] || continue
    ours=; tools=
    while IFS= read -r l; do
      case "$l" in
        "name=$base"|"alias=$base") ours=1;;
        'hl '*|'jre '*|'jdkhl '*|'jdk '*) tools="$tools$l
";;
      esac
    done < "$j"
    [ -n "$ours" ] || continue
    while IFS= read -r l; do
      case "$l" in name=*) echo "jinfo-name ${l#name=}";; alias=*) echo "jinfo-alias ${l#alias=}";; esac
    done < "$j"
    # one awk for every tool (not a readlink and a grep each): where its link points now, and
    # whether this JDK's path is registered in dpkg's alternatives database
    printf '%s' "$tools" | while read -r kind name path; do
      [ -e "$path" ] && echo "$kind $name $path"
    done | awk -v links="$(find /etc/alternatives -maxdepth 1 -type l -printf '%f=%l\n' 2>/dev/null)" '
      BEGIN { n = split(links, l, "\n"); for (i = 1; i <= n; i++) { k = index(l[i], "=")
              if (k) cur[substr(l[i], 1, k - 1)] = substr(l[i], k + 1) } }
      { reg = "no"; db = "/var/lib/dpkg/alternatives/" $2
        while ((getline line < db) > 0) if (line == $3) reg = "yes"
        close(db)
        c = ($2 in cur && cur[$2] != "") ? cur[$2] : "-"
        print "alt", $1, $2, $3, reg, c }'
    break
  done
fi
"""


@dataclass(frozen=True)
class JdkInstall(Fact[JdkHome]):
    """Where the installed OpenJDK ``version`` lives (from its package's files), whether it is
    complete, and its alternatives (from its .jinfo) with where each link points now."""

    version: int

    topics = frozenset({DPKG})

    def command(self) -> str:
        return _JDK.replace("@V@", str(int(self.version)))

    def parse(self, lines: list[str]) -> JdkHome:
        return parse_jdk(self.version, lines)

    def describe(self) -> str:
        return f"jdk {self.version}"

    def summarize(self, value: JdkHome) -> str:
        if not value.home:
            return "not installed"
        return value.home + (f" (JAVA_VERSION {value.release})" if value.release else "")


def parse_jdk(version: int, lines: list[str]) -> JdkHome:
    jdk = JdkHome(version)
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "home":
            jdk.home = rest
        elif kind == "java":
            jdk.has_java = True
        elif kind == "javac":
            jdk.has_javac = True
        elif kind == "release":
            jdk.release = rest
        elif kind == "jinfo-name":
            jdk.jinfo_name = rest
        elif kind == "jinfo-alias":
            jdk.jinfo_alias = rest
        elif kind == "alt":
            f = rest.split(" ")
            if len(f) >= 5:
                jdk.alternatives.append(AltEntry(kind=f[0], name=f[1], path=f[2], registered=f[3] == "yes",
                                                 current="" if f[4] == "-" else f[4]))
    return jdk


@dataclass(frozen=True)
class AvailableJdks(Fact[list[int]]):
    """The OpenJDK major versions in the host's package lists (to say what there is instead)."""

    topics = frozenset({APT_LISTS})

    def command(self) -> str:
        return ("apt-cache pkgnames openjdk- 2>/dev/null | "
                "sed -n 's/^openjdk-\\([0-9][0-9]*\\)-jdk-headless$/\\1/p' | sort -n")

    def parse(self, lines: list[str]) -> list[int]:
        return sorted({int(x) for line in lines for x in line.split() if x.isdigit()})

    def describe(self) -> str:
        return "available jdks"


# --------------------------------------------------------------------------- the resource

class JdkSpec(Spec):
    version: int = Field(17, ge=8, le=99, description="Major version, e.g. 17.")
    headless: bool = Field(True, description="Install openjdk-<v>-jdk-headless (no X11/GTK); false: "
                           "openjdk-<v>-jdk, with its recommends, like the manual procedure.")
    state: Literal["present", "absent"] = Field("present", description="Installed, or removed (every "
                                                "openjdk-<v>-* flavour).")
    default: bool = Field(True, description="Make this JDK's java, javac and the other tools the "
                          "default (update-alternatives) when another JDK outranks it.")
    no_install_recommends: bool | None = Field(None, description="Install without recommends "
                                               "(default: the same as headless).")
    cache_max_age: int = Field(86400, ge=0, description="Seconds after which the package lists "
                               "count as old (apt-get update first).")
    lock_timeout: int = Field(300, ge=0, description="Seconds to wait for the dpkg lock.")
    allow_extra_removals: bool = Field(False, description="With state: absent, let apt also remove "
                                       "the packages that depend on the JDK.")
    purge: bool = Field(True, description="With state: absent, remove the JDK's configuration files "
                        "too (/etc/java-<v>-openjdk), so nothing of it is left.")


@dataclass
class JdkPlan:
    install: packaging.InstallPlan | None = None
    remove: packaging.RemovePlan | None = None
    alternatives: list[AltEntry] = field(default_factory=list)


def packages_for(spec: JdkSpec) -> list[str]:
    return [f"openjdk-{spec.version}-jdk-headless" if spec.headless else f"openjdk-{spec.version}-jdk"]


def predicted_home(version: int, arch: str) -> str:
    # Debian's naming (checked after install against the package's own files).
    return f"{JVM_DIR}/java-{version}-openjdk-{arch or 'amd64'}"


def off_default(jdk: JdkHome) -> list[AltEntry]:
    """Alternatives this JDK provides (and has registered) that point somewhere else now."""
    return [a for a in jdk.alternatives if a.registered and a.current != a.path]


def describe_off(entries: list[AltEntry]) -> str:
    key = [a for a in entries if a.name in ("java", "javac")]
    rest = len(entries) - len(key)
    text = ", ".join(f"{a.name} → {a.current or 'nothing'}" for a in key)
    if rest:
        text += f"{', ' if text else ''}{rest} other tool(s)"
    return text


def no_candidate(version: int, pkg: str, facts: Facts) -> str:
    others = [v for v in facts.peek(AvailableJdks()) or [] if v != version]
    text = f"{pkg} has no installation candidate on {facts.get(HOST).os.label}"
    if others:
        text += (f". OpenJDK versions available there: {', '.join(map(str, others))} "
                 f"(e.g. -e java_version={others[-1]}), or add a vendor repository "
                 f"(Adoptium's temurin-{version}-jdk) for Java {version}")
    else:
        text += ": no OpenJDK package is in this release's package lists"
    return text


def outputs_for(jdk: JdkHome, home: str) -> Outputs:
    return {"home": home, "version": jdk.version, "java": f"{home}/bin/java",
            "javac": f"{home}/bin/javac", "release": jdk.release}


class Jdk(Resource[JdkSpec, JdkPlan]):
    type_name = "jdk"
    spec_type = JdkSpec
    summary = "OpenJDK from the distribution: installed, home derived from the package, default java"
    output_docs = {"home": "JDK home (contains bin/java and bin/javac)", "version": "major version",
                   "java": "path of its java", "javac": "path of its javac",
                   "release": "JAVA_VERSION from its release file (empty before install)"}
    example = """\
- jdk:
    version: 17
    headless: true
"""

    def label(self) -> str:
        s = self.spec
        return f"jdk {s.version}{' (headless)' if s.headless and s.state == 'present' else ''}"

    def facts(self, known: Facts) -> Iterable[Fact[Any]]:
        v = self.spec.version
        yield JdkInstall(v)
        if self.spec.state == "absent":
            yield from packaging.remove_facts(jdk_packages(v))
            return
        wanted = packages_for(self.spec)
        yield from packaging.install_facts(wanted, known)
        candidate = Candidate(wanted[0])
        if candidate in known and known.peek(candidate) is None:
            yield AvailableJdks()  # to say which versions there are instead

    def plan(self, facts: Facts) -> ResourcePlan[JdkPlan]:
        s = self.spec
        jdk = facts.get(JdkInstall(s.version))
        arch = facts.get(HOST).arch
        if s.state == "absent":
            changes, reason, removal = packaging.plan_remove(
                jdk_packages(s.version), facts, purge=s.purge, allow_extra=s.allow_extra_removals)
            home = jdk.home or predicted_home(s.version, arch)
            return ResourcePlan(changes, reason or f"JDK {s.version} is not installed",
                                outputs=outputs_for(jdk, home), data=JdkPlan(remove=removal))

        wanted = packages_for(s)
        no_rec = s.headless if s.no_install_recommends is None else s.no_install_recommends
        changes, _, install = packaging.plan_install(
            wanted, facts, no_recommends=no_rec, update="auto", cache_max_age=s.cache_max_age,
            candidate_error=lambda pkg, f: no_candidate(s.version, pkg, f))
        data = JdkPlan(install=install)
        if install.missing:
            if s.default:
                changes[-1].reason += (f"; then JDK {s.version} is made the default java/javac if "
                                       "another JDK outranks it")
            return ResourcePlan(changes, "", outputs=outputs_for(jdk, predicted_home(s.version, arch)),
                                data=data)

        if not jdk.home:
            raise ResourceError(f"{', '.join(wanted)} is installed but no JDK home was found in its files")
        problems = [f"{jdk.home}/bin/{tool} is missing" for tool, ok in
                    (("java", jdk.has_java), ("javac", jdk.has_javac)) if not ok]
        if problems:
            raise ResourceError(f"JDK {s.version} is installed but broken: {'; '.join(problems)} "
                                f"(reinstall {wanted[0]})")
        installed = packaging.describe_installed([facts.get(PackageState(p)) for p in wanted])
        reason = f"JDK {s.version} installed ({installed}), home {jdk.home}"
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

    def apply(self, plan: ResourcePlan[JdkPlan], ctx: ApplyContext) -> Outputs:
        s = self.spec
        data = plan.payload()
        if data.remove is not None:
            packaging.apply_remove(ctx, data.remove, lock_timeout=s.lock_timeout)
            after = ctx.run(["readlink", "-f", "/etc/alternatives/java"]).out.strip()
            plan.notes.append(f"java is now {after}" if after else "no java is left on this host")
            return plan.outputs

        if data.install and data.install.missing:
            def candidate_error(pkg: str, facts: Facts) -> str:
                ctx.gather([AvailableJdks()])
                return no_candidate(s.version, pkg, facts)
            packaging.apply_install(ctx, data.install, packages_for(s), lock_timeout=s.lock_timeout,
                                    candidate_error=candidate_error)
        jdk = ctx.facts.peek(JdkInstall(s.version)) or ctx.fresh(JdkInstall(s.version))
        if not (jdk.home and jdk.has_java and jdk.has_javac):
            raise ResourceError(f"JDK {s.version}: no home with bin/java and bin/javac after install "
                                f"(found {jdk.home or 'none'})")
        if s.default:
            off = off_default(jdk)
            if off:
                ctx.progress(f"making JDK {s.version} the default ({describe_off(off)})")
                script = "set -e\n" + "\n".join(
                    f"update-alternatives --set {shlex.quote(a.name)} {shlex.quote(a.path)}" for a in off)
                ctx.record({"event": "alternatives", "previous": {a.name: a.current for a in off}})
                ctx.check(["sh", "-c", script], what="update-alternatives --set")
                ctx.invalidate(DPKG)
                jdk = ctx.fresh(JdkInstall(s.version))
                still = [a for a in off_default(jdk) if a.name in ("java", "javac")]
                if still:
                    raise ResourceError(f"update-alternatives did not take: {describe_off(still)}")
        return outputs_for(jdk, jdk.home)

    def export(self, out: CloudConfig) -> Outputs:
        s = self.spec
        host = out.host
        if s.state == "absent":
            raise NotExportable("state: absent (cloud-init installs packages, it does not remove them: "
                                "remove the JDK with provision apply over SSH)")
        have = DISTRO_JDKS.get(f"{host.os.id}-{host.os.version_id}")
        if have is not None and s.version not in have:
            raise NotExportable(f"{host.os.label} has no OpenJDK {s.version} packages (it has "
                                f"{', '.join(map(str, have))}: e.g. -e java_version={have[-1]})")
        pkgs = packages_for(s)
        no_rec = s.headless if s.no_install_recommends is None else s.no_install_recommends
        out.install(pkgs, no_recommends=no_rec, update=True)  # a new image's lists: assume stale
        home = predicted_home(s.version, host.arch)
        out.run(["sh", "-c", _FIRST_BOOT, "provision-jdk", home, "1" if s.default else "0"])
        out.summary.append(f"{self.label()}: packages {' '.join(pkgs)}"
                           + (" (without recommends)" if no_rec else "") + f"; runcmd: checks {home}"
                           + (f", makes JDK {s.version} the default java/javac" if s.default else ""))
        return outputs_for(JdkHome(s.version), home)

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        s = self.spec
        v = s.version
        label = self.label()
        if s.state == "absent":
            return [Check(f"{rid}: {p} is absent", label, package_absent(p)) for p in jdk_packages(v)]
        fact = env.facts.peek(JdkInstall(v))
        home = str(outputs.get("home") or (fact.home if fact else "") or predicted_home(v, env.host.arch))
        pkg = packages_for(s)[0]

        def release(probe: Probe) -> tuple[bool, str]:
            data = read_file(probe, f"{home}/release")
            if data is None:
                return False, f"{home}/release does not exist"
            m = re.search(r'^JAVA_VERSION="?([^"\n]+)"?', data.decode("utf-8", "replace"), re.M)
            if not m:
                return False, f"{home}/release has no JAVA_VERSION line"
            if java_major(m.group(1)) != v:
                return False, f"{home}/release says JAVA_VERSION {m.group(1)}, not {v}"
            return True, f"{home}/release: JAVA_VERSION {m.group(1)}"

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

        checks = [
            Check(f"{rid}: {pkg} is installed", label, package_installed(pkg)),
            Check(f"{rid}: JDK {v} home has bin/java and bin/javac", label, lambda p: is_jdk(p, home)),
            Check(f"{rid}: release file says JAVA_VERSION {v}", label, release),
            Check(f"{rid}: java -version reports {v}", label, tool_version("java", v)),
            Check(f"{rid}: javac -version reports {v}", label, tool_version("javac", v)),
        ]
        if s.default:
            checks.append(Check(f"{rid}: java and javac are JDK {v}'s", label, default))
        checks.append(Check(f"{rid}: javac compiles and java runs a program", label, compile_and_run(v)))
        return checks
