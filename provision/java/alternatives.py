"""Which JDK owns java, javac and the other tools: update-alternatives, as Debian's .jinfo files
describe each JDK's tools."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass
class AltEntry:
    """One alternative a JDK provides (from its .jinfo), and where the link points now."""

    kind: str  # hl, jre, jdkhl, jdk
    name: str  # java, javac, ...
    path: str  # this JDK's binary
    current: str  # what /etc/alternatives/<name> points to ("" if none)
    registered: bool  # whether this JDK's path is registered for the alternative



def off_default(alternatives: list[AltEntry]) -> list[AltEntry]:
    """The alternatives of a JDK's (registered ones) that point somewhere else now."""
    return [a for a in alternatives if a.registered and a.current != a.path]


def describe_off(entries: list[AltEntry]) -> str:
    key = [a for a in entries if a.name in ("java", "javac")]
    rest = len(entries) - len(key)
    text = ", ".join(f"{a.name} → {a.current or 'nothing'}" for a in key)
    if rest:
        text += f"{', ' if text else ''}{rest} other tool(s)"
    return text


def set_default_script(entries: list[AltEntry]) -> str:
    """A shell script pointing each of ``entries``' alternatives at this JDK's path."""
    return "set -e\n" + "\n".join(
        f"update-alternatives --set {shlex.quote(a.name)} {shlex.quote(a.path)}" for a in entries)


# At first boot, after cloud-init installed the packages (runcmd): the home must be where Debian's
# packages put it (the export predicted it), then, with $2 = 1, each alternative this JDK's .jinfo
# lists, registered and pointing elsewhere, is set to it (what apply does; nothing on a host with
# one JDK).
FIRST_BOOT = r"""set -eu
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



@dataclass
class AltQuery:
    """What ``update-alternatives --query <name>`` says."""

    name: str
    status: str = ""  # auto or manual ("" when there is no such alternative)
    best: str = ""
    value: str = ""  # where the link points ("" for none)
    priorities: dict[str, int] | None = None  # each registered path's priority


def parse_query(name: str, text: str) -> AltQuery:
    q = AltQuery(name, priorities={})
    assert q.priorities is not None
    path = ""
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == "Status":
            q.status = value.strip()
        elif key == "Best":
            q.best = value.strip()
        elif key == "Value":
            q.value = "" if value.strip() == "none" else value.strip()
        elif key == "Alternative":
            path = value.strip()
        elif key == "Priority" and path and value.strip().lstrip("-").isdigit():
            q.priorities[path] = int(value.strip())
    return q


def judge_default(q: AltQuery, home: str) -> tuple[bool, str]:
    """Whether alternative ``q`` makes the JDK at ``home`` the default: its link points into the
    home, and in manual mode when another JDK ranks higher (what ``update-alternatives --set``
    leaves; auto mode would hand the link to the higher one on the next install or upgrade)."""
    inside = bool(q.value) and q.value.startswith(home.rstrip("/") + "/")
    if not q.status:
        return False, f"no {q.name} alternative is registered"
    if not inside:
        return False, f"{q.name} → {q.value or 'nothing'} ({q.status}), not into {home}"
    if q.status == "manual":
        higher = q.best and q.best != q.value
        return True, f"{q.name} → {q.value} (manual" + (f"; {q.best} ranks higher)" if higher else ")")
    if q.best and q.best != q.value:
        return False, f"{q.name} → {q.value} in auto mode, but {q.best} ranks higher and takes it on the next change"
    return True, f"{q.name} → {q.value} (auto: the highest priority)"
