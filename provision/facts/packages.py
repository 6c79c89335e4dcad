"""Debian package facts: dpkg's state of a package, apt's install candidate, the package lists'
age, and what a removal would take along (simulated). Each class reads all of its instances of a
batch with one command (one ``dpkg-query``, one ``apt-cache policy``)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Self

from provision.errors import FactError
from provision.facts.base import APT_LISTS, DPKG, Fact, Section

_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?$")
_ARCH = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def check_names(names: Sequence[str]) -> str:
    """The names as shell words; raises FactError for anything that is not a package name."""
    for n in names:
        if not _NAME.match(n):
            raise FactError(f"not a valid package name: {n!r}")
    return " ".join(names)


@dataclass
class PackageStatus:
    name: str
    status: str  # dpkg's db:Status-Abbrev, stripped: "ii", "rc", "iU"; "un" when dpkg does not know it
    version: str = ""

    @property
    def installed(self) -> bool:
        """Installed and configured, without a dpkg error flag."""
        return self.status[:2] == "ii" and self.status[2:].strip() == ""

    @property
    def half_installed(self) -> bool:
        """Unpacked or half-configured (dpkg --configure -a finishes it)."""
        return self.status[:1] == "i" and not self.installed


@dataclass(frozen=True)
class PackageState(Fact[PackageStatus]):
    """dpkg's state of the package of the host's own (native) architecture, or of the
    ``Architecture: all`` one: with a foreign architecture added, ``dpkg-query -W name`` prints a
    row per architecture it knows the package for, and the foreign row must not stand in for the
    native one (an i386 ``ii`` hiding an amd64 ``iF``, or an i386 ``rc`` making an installed amd64
    package look missing)."""

    name: str

    topics: ClassVar[frozenset[str]] = frozenset({DPKG})

    @classmethod
    def sections(cls, facts: Sequence[Self]) -> list[Section]:
        names = [f.name for f in facts]
        # dpkg's list of architectures names the native one first; it exists only once a foreign
        # one was added (a single-architecture host prints one row per package). read is a builtin.
        command = ("na=; [ -r /var/lib/dpkg/arch ] && read -r na < /var/lib/dpkg/arch; echo \"native\t$na\"; "
                   r"dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\t${Architecture}\n' "
                   f"{check_names(names)} 2>/dev/null")

        def parse(lines: list[str]) -> Mapping[Fact[object], object]:
            found = parse_packages(lines)
            return {f: found.get(f.name, PackageStatus(f.name, "un")) for f in facts}
        return [Section(command, parse)]

    def describe(self) -> str:
        return f"package {self.name}"

    def summarize(self, value: PackageStatus) -> str:
        return f"{value.version or '-'} [{value.status}]"


def parse_packages(lines: list[str]) -> dict[str, PackageStatus]:
    """``native\t<arch>`` (empty on a single-architecture host), then dpkg-query's rows
    (name, status, version, architecture) → {name: the native or ``all`` row's state}. A name
    whose rows are all of foreign architectures is not installed here ("un")."""
    native = ""
    rows: dict[str, list[tuple[str, PackageStatus]]] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] == "native":
            native = parts[1].strip()
            continue
        if len(parts) not in (3, 4) or not parts[0]:
            continue
        name, status, version = parts[:3]
        arch = parts[3] if len(parts) == 4 else ""  # 3 fields: a caller's own query, no architecture
        if arch and not _ARCH.match(arch):
            continue
        rows.setdefault(name, []).append((arch, PackageStatus(name, status.strip() or "un", version)))
    out: dict[str, PackageStatus] = {}
    for name, found in rows.items():
        if len(found) == 1:
            out[name] = found[0][1]
            continue
        own = [st for arch, st in found if arch in (native, "all", "")] if native else [found[0][1]]
        out[name] = own[0] if own else PackageStatus(name, "un")
    return out


@dataclass(frozen=True)
class Candidate(Fact[str | None]):
    """The version ``apt-get install`` would install, None when there is none (an unknown
    package: ``apt-cache policy`` exits 0 and prints nothing for it)."""

    name: str

    topics: ClassVar[frozenset[str]] = frozenset({APT_LISTS})

    @classmethod
    def sections(cls, facts: Sequence[Self]) -> list[Section]:
        names = [f.name for f in facts]
        command = f"apt-cache policy {check_names(names)} 2>/dev/null"

        def parse(lines: list[str]) -> Mapping[Fact[object], object]:
            found = parse_candidates(lines)
            return {f: found.get(f.name) for f in facts}
        return [Section(command, parse)]

    def describe(self) -> str:
        return f"candidate {self.name}"


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


# The states an interrupted dpkg run leaves (``dpkg --configure --pending`` finishes all but
# half-installed, which needs the package reinstalled), and the reinstall-required error flag.
UNFINISHED = ("half-installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending")
_UNFINISHED_STATUS = ("^Status: [a-z]+ ([a-z]+ (" + "|".join(UNFINISHED) + ")|reinstreq [a-z-]+)$")

REINSTALL = "needs to be reinstalled"


def needs_reinstall(audit: Sequence[str]) -> list[str]:
    """The packages of a DpkgAudit value that ``dpkg --configure`` cannot finish (half-installed,
    or flagged reinstall-required): apt-get must unpack them again. Only valid package names."""
    names = []
    for line in audit:
        name, _, rest = line.partition(" ")
        if rest in (REINSTALL, "is half-installed") and _NAME.match(name):
            names.append(name)
    return names


_AUDIT = r"""
n=0; for u in /var/lib/dpkg/updates/* /var/lib/dpkg/updates/.[!.]*; do [ -e "$u" ] && n=$((n + 1)); done
if [ "$n" -gt 0 ] || [ -s /var/lib/dpkg/triggers/Unincorp ] ||
   grep -Eq '@STATUS@' /var/lib/dpkg/status 2>/dev/null; then
  echo "updates $n"
  dpkg-query -W -f='unfinished\t${binary:Package}\t${db:Status-Status}\t${db:Status-Eflag}\n' 2>/dev/null
fi
true
""".replace("@STATUS@", _UNFINISHED_STATUS)


@dataclass(frozen=True)
class DpkgAudit(Fact[list[str]]):
    """What an interrupted dpkg run left, one line each: ``ca-certificates-java is
    half-configured``, ``dpkg was interrupted (1 pending update file(s))`` (apt then refuses with
    "dpkg was interrupted, you must manually run 'dpkg --configure -a'"). Empty when dpkg is
    consistent.

    Cheap enough for every no-op: a glob of /var/lib/dpkg/updates and a test of
    /var/lib/dpkg/triggers/Unincorp (shell builtins: ``dpkg-trigger`` records an activated
    trigger there, not in the status file, until dpkg next runs), and one ``grep -q`` of
    /var/lib/dpkg/status for those states; only a host where one finds something runs
    ``dpkg-query`` over every package (which reads the pending updates and triggers too)."""

    topics: ClassVar[frozenset[str]] = frozenset({DPKG})

    def command(self) -> str:
        return _AUDIT

    def parse(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        updates = 0
        for line in lines:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 1 and line.startswith("updates "):
                updates = int(line.split()[1]) if line.split()[1].isdigit() else 0
            elif len(parts) == 4 and parts[0] == "unfinished":
                _, name, status, eflag = parts
                if eflag.strip() == "reinstreq":  # "iUR": a kill during its unpack; configure refuses it
                    out.append(f"{name} {REINSTALL}")
                elif status in UNFINISHED:
                    out.append(f"{name} is {status}")
        if updates:
            out.append(f"dpkg was interrupted ({updates} pending update file(s))")
        return out if len(out) <= 20 else [*out[:19], f"and {len(out) - 19} more"]

    def describe(self) -> str:
        return "dpkg audit"


@dataclass
class ListsAge:
    mtime: int | None  # newest *_Packages list, epoch seconds; None = no lists at all
    now: int  # the host's clock, epoch seconds

    @property
    def age(self) -> int | None:
        return None if self.mtime is None else self.now - self.mtime


@dataclass(frozen=True)
class AptLists(Fact[ListsAge]):
    """How old apt's package lists are (``apt-get update`` is due when they are missing or old)."""

    topics: ClassVar[frozenset[str]] = frozenset({APT_LISTS})

    def command(self) -> str:
        return ("date +%s; m=; for lt in $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -printf '%Ts\\n' "
                "2>/dev/null); do [ -z \"$m\" ] || [ \"$lt\" -gt \"$m\" ] && m=$lt; done; echo \"$m\"")

    def parse(self, lines: list[str]) -> ListsAge:
        now = lines[0].strip() if lines else ""
        newest = lines[1].strip() if len(lines) > 1 else ""
        try:
            return ListsAge(int(float(newest)) if newest else None, int(now))
        except ValueError:
            raise FactError(f"cannot read the age of apt's lists: {' '.join(lines)[:200]!r}") from None

    def describe(self) -> str:
        return "apt lists"

    def summarize(self, value: ListsAge) -> str:
        return "none" if value.age is None else f"{value.age // 3600}h old"


@dataclass
class RemovalSim:
    removes: list[str] = field(default_factory=list)  # what apt-get remove would remove
    orphans: list[str] = field(default_factory=list)  # what it pulled in that nothing else needs then


_REMOVAL = r"""
inst=""
for p in @NAMES@; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ihr][iUFHWt]' && inst="$inst $p"
done
if [ -n "$inst" ]; then
  sim() { apt-get -s -o Debug::NoLocking=1 "$@" 2>/dev/null | sed -n "s/^Remv \([^ ]*\).*/$1 \1/p"; }
  sim remove $inst
  sim autoremove
  apt-get -s -o Debug::NoLocking=1 remove --autoremove $inst 2>/dev/null | sed -n 's/^Remv \([^ ]*\).*/with \1/p'
fi
"""


@dataclass(frozen=True)
class Removal(Fact[RemovalSim]):
    """What ``apt-get remove`` of the installed ones of ``packages`` would remove, and which of
    the packages they pulled in nothing else would need then (simulated, no lock taken; the
    packages apt would autoremove already are not counted); empty when none is installed."""

    packages: tuple[str, ...]

    topics: ClassVar[frozenset[str]] = frozenset({DPKG, APT_LISTS})

    def command(self) -> str:
        return _REMOVAL.replace("@NAMES@", check_names(self.packages))

    def parse(self, lines: list[str]) -> RemovalSim:
        found: dict[str, list[str]] = {"remove": [], "autoremove": [], "with": []}
        for line in lines:
            kind, _, name = line.strip().partition(" ")
            if kind in found and name:
                found[kind].append(name)
        removes = found["remove"]
        orphans = [p for p in found["with"] if p not in removes and p not in found["autoremove"]]
        return RemovalSim(removes, orphans)

    def describe(self) -> str:
        return f"removal of {shlex.join(self.packages)}"


@dataclass
class InstallEstimate:
    packages: int = 0  # newly installed, dependencies included
    download: int = 0  # bytes still to download (what the apt cache lacks)
    disk: int = 0  # bytes of disk space the install takes


_SIZE = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def _bytes(number: str, unit: str) -> int:
    return int(float(number.replace(",", "")) * _SIZE.get(unit, 1))


# Simulated (-s) and --print-uris only: nothing is installed or downloaded. (`apt-get install
# --assume-no` is not safe here: with nothing to ask, apt installs without asking.)
_INSTALL_SIZE = r"""
inst=$(apt-get -s -o Debug::NoLocking=1 install @FLAGS@ @NAMES@ 2>/dev/null | sed -n 's/^Inst \([^ ]*\).*/\1/p')
n=0; for p in $inst; do n=$((n + 1)); done; echo "count $n"
[ -n "$inst" ] && apt-cache show --no-all-versions $inst 2>/dev/null |
  awk '/^Installed-Size:/ { s += $2 } END { printf "disk %d\n", s * 1024 }'
apt-get install --print-uris -qq -o Debug::NoLocking=1 @FLAGS@ @NAMES@ 2>/dev/null |
  awk '{ s += $3 } END { printf "download %d\n", s }'
true
"""


@dataclass(frozen=True)
class InstallSize(Fact[InstallEstimate]):
    """What ``apt-get install`` of ``packages`` would install (packages, disk space from their
    Installed-Size) and download (what the apt cache lacks): simulated, no lock, nothing changed."""

    packages: tuple[str, ...]
    no_recommends: bool = True

    topics: ClassVar[frozenset[str]] = frozenset({DPKG, APT_LISTS})

    def command(self) -> str:
        flags = "--no-install-recommends" if self.no_recommends else ""
        return _INSTALL_SIZE.replace("@FLAGS@", flags).replace("@NAMES@", check_names(self.packages))

    def parse(self, lines: list[str]) -> InstallEstimate:
        est = InstallEstimate()
        for line in lines:
            kind, _, value = line.strip().partition(" ")
            if value.isdigit():
                if kind == "count":
                    est.packages = int(value)
                elif kind == "disk":
                    est.disk = int(value)
                elif kind == "download":
                    est.download = int(value)
        return est

    def describe(self) -> str:
        return f"install size {' '.join(self.packages)}"
