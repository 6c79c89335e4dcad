"""The host itself: OS release, architecture, kernel, PID 1, WSL signals. Gathered on every run
(in the first round trip) and given to templates and ``when:`` expressions as ``facts``."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from provision.facts.base import Fact


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
class WslFacts:
    version: int = 0  # 0 = not WSL, 1 or 2
    signals: list[str] = field(default_factory=list)
    distro: str = ""  # $WSL_DISTRO_NAME, else from `wslpath -am /` (//wsl.localhost/<name>/)
    wsl_version: str = ""  # WSL's own version (wslinfo --wsl-version, else wsl.exe --version)
    wsl_version_source: str = ""  # wslinfo | wsl.exe | "" (could not be read)
    wsl_exe: str = ""  # path of a wsl.exe that ran (interop works), "" if none
    container: str = ""  # docker | podman | "" (markers /.dockerenv, /run/.containerenv)
    chroot: bool = False  # / is not PID 1's root (a chroot: WSL's init is not ours)
    sbin_init: bool = False  # /sbin/init is executable (WSL ignores boot.systemd without it)
    assumed: bool = False  # given by --assume wsl=N (an image that will become a WSL distro), not detected

    def describe(self) -> str:
        """One line for ``provision facts``: "no", or the version and what says so."""
        return (f"{'WSL' + str(self.version) if self.version else 'no'}"
                + (f" ({', '.join(self.signals)})" if self.signals else "")
                + (f", WSL {self.wsl_version}" if self.wsl_version else "")
                + (f", distro {self.distro}" if self.distro else "")
                + (", wsl.exe reachable" if self.wsl_exe else "")
                + (f", in a {self.container} container" if self.container else "")
                + (", in a chroot" if self.chroot else ""))


def assume_wsl(facts: HostFacts, version: int) -> HostFacts:
    """``facts`` of a root file system as the WSL distro it will become (``--assume wsl=N``): WSL
    is what its /etc/wsl.conf and profile.d are written for; nothing runs in it yet (no PID 1)."""
    wsl = dataclasses.replace(facts.wsl, version=version, chroot=False, container="", assumed=True,
                              signals=[*facts.wsl.signals, f"assumed (--assume wsl={version})"])
    return dataclasses.replace(facts, wsl=wsl, pid1="")


@dataclass(frozen=True)
class Assumption:
    """A fact a root file system cannot show and its user may state: ``--assume KEY=VALUE``."""

    key: str
    values: tuple[str, ...]
    meaning: str  # for --help
    apply: Callable[[HostFacts, str], HostFacts]


ASSUMPTIONS = {a.key: a for a in (
    Assumption("wsl", ("0", "1", "2"), "wsl=2 prepares a root file system for `wsl --import` (wsl.conf, "
               "profile.d)", lambda facts, value: assume_wsl(facts, int(value))),
)}


def parse_assumptions(items: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` items → {key: value}; ValueError names the first one that is not an assumption."""
    given: dict[str, str] = {}
    for item in items:
        key, _, value = (part.strip() for part in item.partition("="))
        known = ASSUMPTIONS.get(key)
        if known is None or value not in known.values:
            every = [f"{a.key}={v}" for a in ASSUMPTIONS.values() for v in a.values]
            choices = ", ".join(every[:-1]) + " or " + every[-1]
            raise ValueError(f"--assume {item}: only {choices} can be assumed")
        given[key] = value
    return given


def assume(facts: HostFacts, given: Mapping[str, str]) -> HostFacts:
    """``facts`` with the assumptions ``given`` (parse_assumptions) applied."""
    for key, value in given.items():
        facts = ASSUMPTIONS[key].apply(facts, value)
    return facts


@dataclass
class HostFacts:
    os: OsRelease = field(default_factory=OsRelease)
    arch: str = ""  # dpkg's architecture (amd64, arm64, ...)
    kernel: str = ""  # /proc/sys/kernel/osrelease (uname -r cannot be faked per host; this can)
    proc_version: str = ""
    pid1: str = ""  # /proc/1/comm
    hostname: str = ""
    user: str = ""
    wsl: WslFacts = field(default_factory=WslFacts)

    def rows(self) -> list[tuple[str, str]]:
        """The host as ``provision facts`` shows it: (what, value) per line."""
        return [("os", f"{self.os.label} ({self.os.pretty_name})"), ("arch", self.arch), ("kernel", self.kernel),
                ("pid 1", self.pid1), ("hostname", self.hostname), ("wsl", self.wsl.describe())]

    def headline(self) -> str:
        """One line as a run starts: "Debian 12 (bookworm) amd64, kernel …, PID 1 systemd, WSL2"."""
        wsl = f", WSL{self.wsl.version}" if self.wsl.version else ""
        return f"{self.os.label} {self.arch}, kernel {self.kernel}, PID 1 {self.pid1 or '?'}{wsl}"

    def summary(self) -> dict[str, object]:
        return {"os": self.os.label, "os_id": self.os.id, "os_version": self.os.version_id,
                "codename": self.os.codename, "arch": self.arch, "kernel": self.kernel,
                "pid1": self.pid1, "hostname": self.hostname, "wsl": self.wsl.version}


# Shell builtins where they do (read, case, globs): every process a fact starts costs about a
# millisecond on every host, on every run.
_COMMAND = r"""
f=/etc/os-release; [ -r "$f" ] || f=/usr/lib/os-release
{ while IFS= read -r l || [ -n "$l" ]; do printf 'os %s\n' "$l"; done < "$f"; } 2>/dev/null
echo "arch $(dpkg --print-architecture 2>/dev/null)"
k=; { IFS= read -r k < /proc/sys/kernel/osrelease; } 2>/dev/null; echo "kernel $k"
v=; { IFS= read -r v < /proc/version; } 2>/dev/null; echo "proc-version $v"
c=; { IFS= read -r c < /proc/1/comm; } 2>/dev/null; echo "pid1 $c"
h=; { IFS= read -r h < /etc/hostname || IFS= read -r h < /proc/sys/kernel/hostname; } 2>/dev/null
echo "hostname $h"
echo "user $(id -un 2>/dev/null)"
wsl=
for f in /proc/sys/fs/binfmt_misc/WSLInterop*; do [ -e "$f" ] && echo "wsl binfmt $f" && wsl=1; done
[ -e /run/WSL ] && echo "wsl run-wsl" && wsl=1
[ -n "$WSL_INTEROP" ] && echo "wsl interop $WSL_INTEROP"
[ -n "$WSL_DISTRO_NAME" ] && echo "wsl distro $WSL_DISTRO_NAME"
[ -e /init ] && echo "wsl init"
[ -x /sbin/init ] && echo "wsl sbin-init"
[ -e /.dockerenv ] && echo "wsl container docker"
[ -e /run/.containerenv ] && echo "wsl container podman"
# PID 1's root is not ours: test's -ef compares the two stat(2)s (device and inode) in the shell,
# no stat run; only its "different" (exit 1) counts, not an error (2: a shell without -ef), nor a
# /proc/1/root this user may not stat
if [ -e /proc/1/root ]; then [ /proc/1/root -ef / ]; [ $? = 1 ] && echo "wsl chroot"; fi
case "$k" in *[Mm]icrosoft*|*WSL*) wsl=1;; esac
if [ -n "$wsl" ]; then
  [ -z "$WSL_DISTRO_NAME" ] && command -v wslpath >/dev/null 2>&1 &&
    echo "wsl wslpath $(timeout 5 wslpath -am / 2>/dev/null)"
  v=""
  command -v wslinfo >/dev/null 2>&1 && v=$(timeout 5 wslinfo --wsl-version 2>/dev/null | tr -d '\000' | tr '\n' ' ')
  [ -n "$v" ] && echo "wsl wslinfo $v"
  # Windows' own wsl.exe first: PATH may end with Windows directories others can write (WSL
  # appends them), and a "wsl.exe" planted there would run here as root
  exe=$(wslpath 'C:\Windows\System32\wsl.exe' 2>/dev/null)
  [ -n "$exe" ] && [ -x "$exe" ] || exe=$(command -v wsl.exe 2>/dev/null)
  if [ -n "$exe" ] && [ -x "$exe" ]; then
    out=$(WSL_UTF8=1 WSLENV="WSL_UTF8${WSLENV:+:$WSLENV}" timeout 10 "$exe" --version </dev/null 2>/dev/null |
      base64 -w0)
    [ -n "$out" ] && echo "wsl wslexe $exe" && [ -z "$v" ] && echo "wsl wslexe-version $out"
  fi
fi
"""


@dataclass(frozen=True)
class Host(Fact[HostFacts]):
    """OS, architecture, kernel, PID 1, hostname, user and the WSL signals, in one part."""

    def command(self) -> str:
        return _COMMAND

    def parse(self, lines: list[str]) -> HostFacts:
        return parse_host(lines)

    def describe(self) -> str:
        return "host"


HOST = Host()


def parse_host(lines: list[str]) -> HostFacts:
    facts = HostFacts()
    os_lines: list[str] = []
    wsl_lines: list[str] = []
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "os":
            os_lines.append(value)
        elif kind == "wsl":
            wsl_lines.append(value)
        elif kind == "arch":
            facts.arch = value.strip()
        elif kind == "kernel":
            facts.kernel = value.strip()
        elif kind == "proc-version":
            facts.proc_version = value.strip()
        elif kind == "pid1":
            facts.pid1 = value.strip()
        elif kind == "hostname":
            facts.hostname = value.strip()
        elif kind == "user":
            facts.user = value.strip()
    facts.os = parse_os_release(os_lines)
    facts.wsl = parse_wsl(wsl_lines, facts.kernel, facts.proc_version)
    return facts


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
    return OsRelease(id=values.get("ID", ""), version_id=values.get("VERSION_ID", ""), codename=codename,
                     pretty_name=values.get("PRETTY_NAME", ""), id_like=values.get("ID_LIKE", ""))


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
