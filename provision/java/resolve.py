"""Where a JDK of a version and vendor is, or would be: the packages that hold it, its home read
from their files, what the distribution's archive has."""

from __future__ import annotations

from dataclasses import dataclass, field

from provision.facts import DPKG, HOST, Fact, Facts
from provision.facts.base import APT_LISTS
from provision.java.alternatives import AltEntry

JVM_DIR = "/usr/lib/jvm"
FLAVOURS = ("jdk", "jdk-headless", "jre", "jre-headless")
VENDORS = ("distro", "temurin")


# The OpenJDK major versions each release's archive has (its main/universe components), for
# `provision export cloud-init`, where there is no host to ask. A release not listed is not checked.
DISTRO_JDKS: dict[str, tuple[int, ...]] = {
    "debian-12": (17,),
    "debian-13": (21, 25),
    "ubuntu-22.04": (8, 11, 17, 18, 19, 21),
    "ubuntu-24.04": (8, 11, 17, 21),
}


def jdk_packages(version: int) -> list[str]:
    return [f"openjdk-{version}-{f}" for f in FLAVOURS]


@dataclass
class JdkHome:
    version: int
    home: str = ""  # canonical JDK home, "" when the JDK packages are not installed
    has_java: bool = False
    has_javac: bool = False
    release: str = ""  # JAVA_VERSION from $home/release
    implementor: str = ""  # IMPLEMENTOR from $home/release (Debian, Ubuntu, Eclipse Adoptium, ...)
    package: str = ""  # the package whose files hold the home
    jinfo_name: str = ""
    jinfo_alias: str = ""
    alternatives: list[AltEntry] = field(default_factory=list)


# pv_real PATH: home=PATH with every link resolved, what `readlink -f PATH` prints. A directory
# (the daily case) is resolved by the kernel itself, with builtins: `cd -P` enters it through its
# links and POSIX sets $PWD to `pwd -P` (getcwd(2), no link in it); ".." after a link is the
# link target's parent for both, never the lexical one (a logical cd would take the name's). Not a
# directory, or not there: readlink -f, which also resolves a path whose last name is missing.
REAL_PATH = r"""
pv_real() {
  if CDPATH= cd -P -- "$1" 2>/dev/null; then home=$PWD; cd / || :; else home=$(readlink -f -- "$1"); fi
}
"""

_JDK = r"""
home=""
for p in @PACKAGES@; do
  # dpkg's own file list of the package (name.list, or name:arch.list for Multi-Arch: same), read
  # by grep; a package that is not installed has none and costs no command at all
  b=
  for f in /var/lib/dpkg/info/"$p".list /var/lib/dpkg/info/"$p":*.list; do
    [ -f "$f" ] || continue
    b=$(grep -m 1 -E '/bin/javac?$' -- "$f") || b=
    [ -z "$b" ] || break
  done
  if [ -n "$b" ]; then pv_real "${b%/bin/*}"; echo "package $p"; break; fi
done
if [ -n "$home" ]; then
  echo "home $home"
  [ -x "$home/bin/java" ] && echo "java yes"
  [ -x "$home/bin/javac" ] && echo "javac yes"
  if [ -r "$home/release" ]; then
    while IFS= read -r l; do
      case "$l" in
        'JAVA_VERSION="'*'"') l=${l#JAVA_VERSION=\"}; echo "release ${l%\"}";;
        'IMPLEMENTOR="'*'"') l=${l#IMPLEMENTOR=\"}; echo "implementor ${l%\"}";;
      esac
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
    """Where the installed JDK ``version`` of ``vendor`` lives (from its package's files: the
    distribution's openjdk-<v>-jdk-headless/-jre-headless, or temurin-<v>-jdk/-jre), whether it
    is complete, and its alternatives (from its .jinfo) with where each link points now."""

    version: int
    vendor: str = "distro"

    topics = frozenset({DPKG})
    prelude = REAL_PATH

    def command(self) -> str:
        v = int(self.version)
        pkgs = [f"temurin-{v}-jdk", f"temurin-{v}-jre"] if self.vendor == "temurin" else \
            [f"openjdk-{v}-jdk-headless", f"openjdk-{v}-jre-headless"]
        return _JDK.replace("@PACKAGES@", " ".join(pkgs))

    def parse(self, lines: list[str]) -> JdkHome:
        return parse_jdk(self.version, lines)

    def describe(self) -> str:
        return f"jdk {self.version}" + (f" ({self.vendor})" if self.vendor != "distro" else "")

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
        elif kind == "implementor":
            jdk.implementor = rest
        elif kind == "package":
            jdk.package = rest
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



def predicted_home(version: int, arch: str, vendor: str = "distro") -> str:
    # Debian's and Adoptium's naming (checked after install against the package's own files).
    if vendor == "temurin":
        return f"{JVM_DIR}/temurin-{version}-jdk-{arch or 'amd64'}"
    return f"{JVM_DIR}/java-{version}-openjdk-{arch or 'amd64'}"


# setup-java exports JAVA_HOME_<major>_<ARCH> with ARCH its architecture input upper-cased, which
# defaults to Node's os.arch() (actions/setup-java src/distributions/base-installer.ts,
# setJavaDefault): x64, arm64, ia32, arm, ppc64, s390x, riscv64, loong64. dpkg's names for them:
_SETUP_JAVA_ARCH = {"amd64": "X64", "arm64": "ARM64", "i386": "IA32", "armhf": "ARM", "armel": "ARM",
                    "ppc64el": "PPC64", "s390x": "S390X", "riscv64": "RISCV64", "loong64": "LOONG64"}


def setup_java_arch(dpkg_arch: str) -> str:
    """The ``<ARCH>`` of setup-java's ``JAVA_HOME_<N>_<ARCH>`` for a dpkg architecture (another
    architecture: its dpkg name upper-cased, letters and digits only)."""
    known = _SETUP_JAVA_ARCH.get(dpkg_arch or "amd64")
    return known or "".join(c for c in dpkg_arch.upper() if c.isascii() and c.isalnum()) or "X64"


def no_candidate(version: int, pkg: str, facts: Facts) -> str:
    others = [v for v in facts.peek(AvailableJdks()) or [] if v != version]
    text = f"{pkg} has no installation candidate on {facts.get(HOST).os.label}"
    if others:
        text += (f". OpenJDK versions available there: {', '.join(map(str, others))} "
                 f"(e.g. -e java_version={others[-1]}), or use vendor: temurin (Adoptium's "
                 f"temurin-{version}-jdk) for Java {version}")
    else:
        text += ": no OpenJDK package is in this release's package lists"
    return text
