"""Facts: what is gathered from a host, in one round trip, and the pure parsers of what comes back.

The script is composed from what the playbook's resources ask for (packages, files, JDK versions,
removal simulations). Each part prints a ``@@section arg`` marker line and its output, so one
``sh -c`` does all of it; ``parse()`` is a pure function of that text, unit-tested from data.
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provision.errors import FactError

if TYPE_CHECKING:
    from provision.connections.base import Connection

MARK = "@@"
JVM_DIR = "/usr/lib/jvm"
JDK_FLAVOURS = ("jdk", "jdk-headless", "jre", "jre-headless")


def jdk_packages(version: int) -> list[str]:
    return [f"openjdk-{version}-{f}" for f in JDK_FLAVOURS]


@dataclass
class FactRequest:
    """What the resources of a playbook need to know about a host."""

    packages: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    jdks: set[int] = field(default_factory=set)
    removals: set[tuple[str, ...]] = field(default_factory=set)
    alternatives: set[str] = field(default_factory=set)
    # packages that may be installed: their install candidate is read when they are not installed
    # (apt-cache policy is the slowest part of the facts, so only for these; wsl_: only on WSL)
    candidates: set[str] = field(default_factory=set)
    wsl_candidates: set[str] = field(default_factory=set)

    def merge(self, other: FactRequest) -> FactRequest:
        self.packages |= other.packages
        self.candidates |= other.candidates
        self.wsl_candidates |= other.wsl_candidates
        self.files |= other.files
        self.jdks |= other.jdks
        self.removals |= other.removals
        self.alternatives |= other.alternatives
        return self


@dataclass
class OsRelease:
    id: str = ""
    version_id: str = ""
    codename: str = ""
    pretty_name: str = ""
    id_like: str = ""

    @property
    def label(self) -> str:
        name = {"debian": "Debian", "ubuntu": "Ubuntu"}.get(self.id, self.id or "unknown OS")
        ver = f" {self.version_id}" if self.version_id else ""
        code = f" ({self.codename})" if self.codename else ""
        return f"{name}{ver}{code}"


@dataclass
class PackageFact:
    name: str
    status: str  # dpkg's db:Status-Abbrev, e.g. "ii", "rc", "iU"
    version: str

    @property
    def installed(self) -> bool:
        """Installed and configured, without a dpkg error flag."""
        return self.status[:2] == "ii" and self.status[2:].strip() == ""


@dataclass
class FileFact:
    path: str
    exists: bool
    content: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    owner: str = "root"
    group: str = "root"
    kind: str = "regular file"

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "surrogateescape")


@dataclass
class AltEntry:
    """One alternative a JDK provides (from its .jinfo), and where the link points now."""

    kind: str  # hl, jre, jdkhl, jdk
    name: str  # java, javac, ...
    path: str  # this JDK's binary
    current: str  # what /etc/alternatives/<name> points to ("" if none)
    registered: bool  # whether this JDK's path is registered for the alternative


@dataclass
class JdkFact:
    version: int
    home: str = ""  # canonical JDK home, "" when the JDK packages are not installed
    has_java: bool = False
    has_javac: bool = False
    release: str = ""  # JAVA_VERSION from $home/release
    jinfo_name: str = ""
    jinfo_alias: str = ""
    alternatives: list[AltEntry] = field(default_factory=list)


@dataclass
class WslFacts:
    version: int = 0  # 0 = not WSL, 1 or 2
    signals: list[str] = field(default_factory=list)
    distro: str = ""  # $WSL_DISTRO_NAME, else from `wslpath -am /` (//wsl.localhost/<name>/)
    wsl_conf: str | None = None  # not gathered here; see the wsl_conf resource
    wsl_version: str = ""  # WSL's own version (wslinfo --wsl-version, else wsl.exe --version)
    wsl_version_source: str = ""  # wslinfo | wsl.exe | "" (could not be read)
    wsl_exe: str = ""  # path of a wsl.exe that ran (interop works), "" if none
    container: str = ""  # docker | podman | "" (markers /.dockerenv, /run/.containerenv)
    chroot: bool = False  # / is not PID 1's root (a chroot: WSL's init is not ours)
    sbin_init: bool = False  # /sbin/init is executable (WSL ignores boot.systemd without it)


@dataclass
class AptFacts:
    lists_mtime: int | None = None  # newest *_Packages list, epoch seconds; None = no lists
    candidates: dict[str, str | None] = field(default_factory=dict)  # None = no candidate
    available_jdks: list[int] = field(default_factory=list)
    removals: dict[tuple[str, ...], list[str]] = field(default_factory=dict)  # simulated "Remv" names
    lock_holder: str = ""


@dataclass
class Facts:
    os: OsRelease = field(default_factory=OsRelease)
    arch: str = ""
    kernel: str = ""
    proc_version: str = ""
    pid1: str = ""
    hostname: str = ""
    user: str = ""
    now: int = 0
    wsl: WslFacts = field(default_factory=WslFacts)
    packages: dict[str, PackageFact] = field(default_factory=dict)
    files: dict[str, FileFact] = field(default_factory=dict)
    apt: AptFacts = field(default_factory=AptFacts)
    jdks: dict[int, JdkFact] = field(default_factory=dict)
    alternatives: dict[str, str] = field(default_factory=dict)

    def package(self, name: str) -> PackageFact:
        return self.packages.get(name) or PackageFact(name, "un", "")

    def file(self, path: str) -> FileFact:
        return self.files.get(path) or FileFact(path, exists=False)

    def summary(self) -> dict[str, object]:
        return {
            "os": self.os.label,
            "os_id": self.os.id,
            "os_version": self.os.version_id,
            "codename": self.os.codename,
            "arch": self.arch,
            "kernel": self.kernel,
            "pid1": self.pid1,
            "hostname": self.hostname,
            "wsl": self.wsl.version,
        }


# --------------------------------------------------------------------------- the script

_PRELUDE = r"""
set +e
LC_ALL=C; export LC_ALL
mark() { printf '\n@@%s\n' "$*"; }
mark os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
mark arch; dpkg --print-architecture 2>/dev/null
mark kernel; cat /proc/sys/kernel/osrelease 2>/dev/null
mark proc-version; cat /proc/version 2>/dev/null
mark pid1; cat /proc/1/comm 2>/dev/null
mark hostname; cat /etc/hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null
mark user; id -un 2>/dev/null
mark now; date +%s
mark wsl
for f in /proc/sys/fs/binfmt_misc/WSLInterop*; do [ -e "$f" ] && echo "binfmt $f"; done
[ -e /run/WSL ] && echo "run-wsl"
[ -n "$WSL_INTEROP" ] && echo "interop $WSL_INTEROP"
[ -n "$WSL_DISTRO_NAME" ] && echo "distro $WSL_DISTRO_NAME"
[ -e /init ] && echo "init"
[ -x /sbin/init ] && echo "sbin-init"
[ -e /.dockerenv ] && echo "container docker"
[ -e /run/.containerenv ] && echo "container podman"
r1=$(stat -Lc %d:%i /proc/1/root 2>/dev/null); [ -n "$r1" ] && [ "$r1" != "$(stat -Lc %d:%i / 2>/dev/null)" ] && echo "chroot"
case "$(cat /proc/sys/kernel/osrelease 2>/dev/null)" in *[Mm]icrosoft*|*WSL*) wsl=1;; *) wsl="";; esac
[ -e /run/WSL ] && wsl=1; for f in /proc/sys/fs/binfmt_misc/WSLInterop*; do [ -e "$f" ] && wsl=1; done
if [ -n "$wsl" ]; then
  [ -z "$WSL_DISTRO_NAME" ] && command -v wslpath >/dev/null 2>&1 && echo "wslpath $(timeout 5 wslpath -am / 2>/dev/null)"
  v=""; command -v wslinfo >/dev/null 2>&1 && v=$(timeout 5 wslinfo --wsl-version 2>/dev/null | tr -d '\000' | tr '\n' ' ')
  [ -n "$v" ] && echo "wslinfo $v"
  exe=$(command -v wsl.exe 2>/dev/null) || exe=$(wslpath 'C:\Windows\System32\wsl.exe' 2>/dev/null)
  if [ -n "$exe" ] && [ -x "$exe" ]; then
    out=$(WSL_UTF8=1 WSLENV="WSL_UTF8${WSLENV:+:$WSLENV}" timeout 10 "$exe" --version </dev/null 2>/dev/null | base64 -w0)
    [ -n "$out" ] && echo "wslexe $exe" && [ -z "$v" ] && echo "wslexe-version $out"
  fi
fi
mark apt-lists
find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1
"""

_PACKAGES = r"""
mark packages
pk=$(dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\n' @PKGS@ 2>/dev/null)
[ -n "$pk" ] && printf '%s\n' "$pk"
nl='
'
missing=""
for p in @CANDS@; do case "$nl$pk" in *"$nl$p	ii 	"*) ;; *) missing="$missing $p";; esac; done
if [ -n "$wsl" ]; then
  for p in @WSLCANDS@; do case "$nl$pk" in *"$nl$p	ii 	"*) ;; *) missing="$missing $p";; esac; done
fi
mark candidates
[ -n "$missing" ] && apt-cache policy $missing 2>/dev/null
"""

_FILE = r"""
mark file @PATH_Q@
if [ -e @PATH_Q@ ] || [ -L @PATH_Q@ ]; then stat -L -c '%a %u %g %U %G %F' @PATH_Q@ 2>/dev/null; base64 -w0 @PATH_Q@ 2>/dev/null; echo; fi
"""

_JDK = r"""
mark jdk @VERSION@
home=""
for p in openjdk-@VERSION@-jdk-headless openjdk-@VERSION@-jre-headless; do
  b=$(dpkg -L "$p" 2>/dev/null | grep -E '/bin/javac?$' | head -n 1)
  if [ -n "$b" ]; then home=$(readlink -f "$(dirname "$(dirname "$b")")"); break; fi
done
if [ -n "$home" ]; then
  echo "home $home"
  [ -x "$home/bin/java" ] && echo "java yes"
  [ -x "$home/bin/javac" ] && echo "javac yes"
  [ -r "$home/release" ] && sed -n 's/^JAVA_VERSION="\(.*\)"$/release \1/p' "$home/release"
  base=$(basename "$home")
  for j in /usr/lib/jvm/.*.jinfo; do
    [ -r "$j" ] || continue
    grep -qx "name=$base" "$j" || grep -qx "alias=$base" "$j" || continue
    sed -n 's/^name=/jinfo-name /p; s/^alias=/jinfo-alias /p' "$j"
    # one awk for every tool (not a readlink and a grep each): where its link points now, and
    # whether this JDK's path is registered in dpkg's alternatives database
    grep -E '^(hl|jre|jdkhl|jdk) ' "$j" | while read -r kind name path; do
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
else
  c=$(apt-cache policy openjdk-@VERSION@-jdk-headless 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [ -z "$c" ] || [ "$c" = "(none)" ]; then
    echo "available $(apt-cache pkgnames openjdk- 2>/dev/null | sed -n 's/^openjdk-\([0-9][0-9]*\)-jdk-headless$/\1/p' | sort -n | tr '\n' ' ')"
  fi
fi
"""

_REMOVAL = r"""
mark removal @KEY@
inst=""
for p in @PKGS@; do dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ihr][iUFHWt]' && inst="$inst $p"; done
[ -n "$inst" ] && apt-get -s -o Debug::NoLocking=1 remove $inst 2>/dev/null | sed -n 's/^Remv \([^ ]*\).*/\1/p'
"""

_ALTERNATIVES = r"""
mark alternatives
for n in @NAMES@; do printf '%s %s\n' "$n" "$(readlink "/etc/alternatives/$n" 2>/dev/null)"; done
"""

_SAFE_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_:-]*$")


def _words(names: set[str] | tuple[str, ...], what: str) -> str:
    for n in names:
        if not _SAFE_WORD.match(n):
            raise FactError(f"not a valid {what} name: {n!r}")
    return " ".join(sorted(names))


def build_script(req: FactRequest) -> str:
    """The shell script that gathers everything ``req`` asks for (POSIX sh, read-only)."""
    parts = [_PRELUDE]
    if req.packages:
        parts.append(_PACKAGES.replace("@PKGS@", _words(req.packages, "package"))
                     .replace("@CANDS@", _words(req.candidates & req.packages, "package"))
                     .replace("@WSLCANDS@", _words(req.wsl_candidates & req.packages, "package")))
    for path in sorted(req.files):
        if not path.startswith("/") or "\n" in path:
            raise FactError(f"file paths must be absolute: {path!r}")
        parts.append(_FILE.replace("@PATH_Q@", shlex.quote(path)))
    for v in sorted(req.jdks):
        parts.append(_JDK.replace("@VERSION@", str(int(v))))
    for pkgs in sorted(req.removals):
        parts.append(_REMOVAL.replace("@KEY@", ",".join(pkgs)).replace("@PKGS@", _words(pkgs, "package")))
    if req.alternatives:
        parts.append(_ALTERNATIVES.replace("@NAMES@", _words(req.alternatives, "alternative")))
    parts.append("\nexit 0\n")
    return "".join(parts)


# --------------------------------------------------------------------------- parsing

def _sections(output: str) -> list[tuple[str, str, list[str]]]:
    out: list[tuple[str, str, list[str]]] = []
    current: list[str] | None = None
    for line in output.split("\n"):
        if line.startswith(MARK):
            name, _, arg = line[len(MARK):].partition(" ")
            current = []
            out.append((name, arg, current))
        elif current is not None:
            current.append(line)
    for _, _, lines in out:
        while lines and lines[-1] == "":
            lines.pop()
    return out


def parse_os_release(lines: list[str]) -> OsRelease:
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    codename = values.get("VERSION_CODENAME", "")
    if not codename:  # Debian testing/sid and some derivatives: "12 (bookworm)"
        m = re.search(r"\(([a-z]+)\)", values.get("VERSION", ""))
        codename = m.group(1) if m else ""
    return OsRelease(
        id=values.get("ID", ""),
        version_id=values.get("VERSION_ID", ""),
        codename=codename,
        pretty_name=values.get("PRETTY_NAME", ""),
        id_like=values.get("ID_LIKE", ""),
    )


def parse_wsl(lines: list[str], kernel: str, proc_version: str) -> WslFacts:
    """WSL 1 or 2 from several signals; the kernel release decides the version (WSL's own rule)."""
    signals: list[str] = []
    distro = ""
    info = WslFacts()
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "binfmt":
            signals.append(f"binfmt_misc {value.rsplit('/', 1)[-1]}")
        elif kind == "run-wsl":
            signals.append("/run/WSL")
        elif kind == "interop":
            signals.append("WSL_INTEROP")
        elif kind == "distro":
            distro = value
        elif kind == "init":
            signals.append("/init")
        elif kind == "sbin-init":
            info.sbin_init = True
        elif kind == "container":
            info.container = value
        elif kind == "chroot":
            info.chroot = True
        elif kind == "wslpath" and not distro:
            m = re.match(r"^//wsl(?:\.localhost|\$)/([^/]+)/?$", value.strip())
            distro = m.group(1) if m else ""
        elif kind == "wslinfo" and not info.wsl_version:
            info.wsl_version, info.wsl_version_source = wsl_version_from(value.encode()), "wslinfo"
        elif kind == "wslexe":
            info.wsl_exe = value.strip()
        elif kind == "wslexe-version" and not info.wsl_version:
            try:
                raw = base64.b64decode(value.strip())
            except ValueError:
                raw = b""
            info.wsl_version = wsl_version_from(raw)
            info.wsl_version_source = "wsl.exe" if info.wsl_version else ""
    text = f"{kernel} {proc_version}"
    version = 0
    if re.search(r"microsoft-standard-WSL2|microsoft-standard", text) or (
        "microsoft" in text and "Microsoft" not in text
    ):
        version = 2
        signals.insert(0, f"kernel {kernel}")
    elif "Microsoft" in text:
        version = 1
        signals.insert(0, f"kernel {kernel}")
    elif [s for s in signals if s != "/init"]:
        # Interop signals without a Microsoft kernel: a custom WSL2 kernel (WSL1 always says Microsoft).
        version = 2
    info.version, info.signals, info.distro = version, signals, distro
    return info


def wsl_version_from(raw: bytes) -> str:
    """The first x.y.z[.w] in wslinfo/wsl.exe output (UTF-16LE when NUL bytes appear; localized)."""
    if b"\x00" in raw:
        start = 2 if raw.startswith(b"\xff\xfe") else 0
        text = raw[start:].decode("utf-16-le", "replace")
    else:
        text = raw.decode("utf-8", "replace")
    m = re.search(r"\d+\.\d+\.\d+(?:\.\d+)?", text)
    return m.group(0) if m else ""


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:4])


def parse_packages(lines: list[str]) -> dict[str, PackageFact]:
    out: dict[str, PackageFact] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0]:
            continue
        name, status, version = parts
        out[name] = PackageFact(name, status.strip() or "un", version)
    return out


def parse_candidates(lines: list[str]) -> dict[str, str | None]:
    """``apt-cache policy a b`` → {name: candidate or None}. Unknown names print nothing at all."""
    out: dict[str, str | None] = {}
    current: str | None = None
    for line in lines:
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1].split(":")[0]  # "openjdk-17-jdk:" (multiarch may add ":amd64")
            out.setdefault(current, None)
        elif current and line.strip().startswith("Candidate:"):
            value = line.split(":", 1)[1].strip()
            out[current] = None if value in ("(none)", "") else value
    return out


def parse_file(arg: str, lines: list[str]) -> FileFact:
    path = arg
    if not lines:
        return FileFact(path, exists=False)
    meta = lines[0].split(" ", 5)
    try:
        mode, uid, gid = int(meta[0], 8), int(meta[1]), int(meta[2])
        owner, group = meta[3], meta[4]
    except (ValueError, IndexError):
        raise FactError(f"cannot read {path}: {' '.join(lines)[:200]}") from None
    kind = meta[5] if len(meta) > 5 else "regular file"
    data = "".join(lines[1:]).strip()
    try:
        content = base64.b64decode(data, validate=True) if data else b""
    except ValueError:
        raise FactError(f"cannot read {path}: unexpected output") from None
    return FileFact(path, exists=True, content=content, mode=mode, uid=uid, gid=gid, owner=owner,
                    group=group, kind=kind)


def parse_jdk(version: int, lines: list[str]) -> tuple[JdkFact, list[int] | None]:
    jdk = JdkFact(version)
    available: list[int] | None = None
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
                jdk.alternatives.append(
                    AltEntry(kind=f[0], name=f[1], path=f[2], registered=f[3] == "yes",
                             current="" if f[4] == "-" else f[4]))
        elif kind == "available":
            available = sorted({int(x) for x in rest.split() if x.isdigit()})
    return jdk, available


def parse(output: str) -> Facts:
    facts = Facts()
    seen = set()
    for name, arg, lines in _sections(output):
        seen.add(name)
        first = lines[0].strip() if lines else ""
        if name == "os-release":
            facts.os = parse_os_release(lines)
        elif name == "arch":
            facts.arch = first
        elif name == "kernel":
            facts.kernel = first
        elif name == "proc-version":
            facts.proc_version = first
        elif name == "pid1":
            facts.pid1 = first
        elif name == "hostname":
            facts.hostname = first
        elif name == "user":
            facts.user = first
        elif name == "now":
            facts.now = int(first) if first.isdigit() else 0
        elif name == "wsl":
            facts.wsl = parse_wsl(lines, facts.kernel, facts.proc_version)
        elif name == "apt-lists":
            facts.apt.lists_mtime = int(float(first)) if first else None
        elif name == "packages":
            facts.packages.update(parse_packages(lines))
        elif name == "candidates":
            facts.apt.candidates.update(parse_candidates(lines))
        elif name == "file":
            f = parse_file(arg, lines)
            facts.files[f.path] = f
        elif name == "jdk":
            v = int(arg)
            jdk, available = parse_jdk(v, lines)
            facts.jdks[v] = jdk
            if available is not None:
                facts.apt.available_jdks = available
        elif name == "removal":
            facts.apt.removals[tuple(arg.split(","))] = [ln.strip() for ln in lines if ln.strip()]
        elif name == "alternatives":
            for line in lines:
                n, _, target = line.partition(" ")
                if n:
                    facts.alternatives[n] = target
    if "os-release" not in seen:
        raise FactError("the host did not answer the facts script (no POSIX shell?)")
    return facts


def gather(conn: Connection, req: FactRequest) -> Facts:
    """Gather every fact in ``req`` with a single command on the host."""
    result = conn.run(["sh", "-c", build_script(req)], timeout=300)
    if result.rc != 0 or MARK + "os-release" not in result.out:
        raise FactError(f"gathering facts failed (exit {result.rc}): {result.tail() or 'no output'}")
    return parse(result.out)


def refresh(conn: Connection, facts: Facts, req: FactRequest) -> Facts:
    """Re-read the parts in ``req`` (after a change) into ``facts``; one round trip."""
    fresh = gather(conn, req)
    facts.packages.update(fresh.packages)
    facts.files.update(fresh.files)
    facts.jdks.update(fresh.jdks)
    facts.alternatives.update(fresh.alternatives)
    facts.apt.candidates.update(fresh.apt.candidates)
    facts.apt.removals.update(fresh.apt.removals)
    facts.apt.lists_mtime = fresh.apt.lists_mtime
    facts.now = fresh.now
    return facts
