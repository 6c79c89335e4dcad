"""doctor's Java part: where JAVA_HOME is set (every file a login shell or PAM reads), whether it
is a JDK, where it came from, and whether it is the default java's."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from provision.facts import HOST, Fact, Facts, HostFacts
from provision.findings import OK, PROBLEM, WARN, Examiner, Finding
from provision.formats import pamenv

ENVIRONMENT = "/etc/environment"
# Where JAVA_HOME is commonly set, in the order a login shell applies them (pam_env first).
JAVA_HOME_FILES = ["/etc/environment", "/etc/profile", "/etc/profile.d/*.sh", "/etc/bash.bashrc",
                   "/etc/zsh/zshenv", "/root/.pam_environment", "/root/.profile", "/root/.bash_profile",
                   "/root/.bashrc", "/root/.zshenv", "/root/.zshrc", "/home/*/.pam_environment",
                   "/home/*/.profile", "/home/*/.bash_profile", "/home/*/.bashrc", "/home/*/.zshenv",
                   "/home/*/.zshrc"]

# The start-up files are users' own: each is read only when it is a regular file and no link
# (a FIFO, a device, a link to /etc/shadow is never opened), and not a hard link of another
# user's file; at most 1 MiB of it, within 10 s. Only its JAVA_HOME lines are printed. A JDK's
# release file, under a path a user may have chosen, is read the same way, only when everyone
# may read it.
_JAVA_HOME = r"""
pv_read() {  # pv_read FILE [world]: at most 1 MiB of FILE, on the terms above
  [ -f "$1" ] && [ ! -L "$1" ] || return 0
  pv_st=$(stat -c '%h %u %a' -- "$1") && pv_dir=$(stat -c %u -- "$(dirname -- "$1")") || return 0
  set -- "$1" "${2:-}" $pv_st "$pv_dir"
  [ "$3" = 1 ] || [ "$4" = "$6" ] || return 0
  [ -z "$2" ] || [ $((0$5 & 04)) != 0 ] || return 0
  timeout 10 dd if="$1" iflag=nofollow,nonblock bs=64k 2>/dev/null | head -c 1048576
}
found=$(for f in @FILES@; do
  pv_read "$f" | grep -naE '^[[:space:]]*(export[[:space:]]+)?JAVA_HOME=' | head -n 20 | while IFS= read -r l; do
    printf '%s:%s\n' "$f" "$l"
  done
done)
[ -z "$found" ] || printf '%s\n' "$found" | sed 's/^/line /'
printf '%s\n' "$found" | sed -E -e '/^$/d' -e 's/^[^:]*:[0-9]+://' \
 | sed -E -e 's/^[[:space:]]*(export[[:space:]]+)?JAVA_HOME=//' -e 's/^"([^"]*)".*$/\1/' \
     -e 's/^'"'"'([^'"'"']*)'"'"'.*$/\1/' -e 's/[[:space:]]*#.*$//' -e 's/[[:space:]]+$//' \
 | sort -u | while IFS= read -r h; do
  case "$h" in ''|*'$'*|*'`'*) continue;; esac
  j=-; [ -x "$h/bin/java" ] && j=java; c=-; [ -x "$h/bin/javac" ] && c=javac
  printf 'home %s\t%s\t%s\t%s\n' "$h" "$(readlink -f "$h" 2>/dev/null || echo -)" "$j" "$c"
  if [ "$j" = java ]; then  # where it came from: the package owning its java, its release's IMPLEMENTOR
    pkg=$(dpkg-query -S "$(readlink -f "$h/bin/java")" 2>/dev/null | head -n 1 | cut -d: -f1)
    rel=$(pv_read "$h/release" world)
    impl=$(printf '%s\n' "$rel" | sed -n 's/^IMPLEMENTOR="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
    ver=$(printf '%s\n' "$rel" | sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
    printf 'origin %s\t%s\t%s\t%s\n' "$h" "${pkg:--}" "${impl:--}" "${ver:--}"
  fi
done
""".replace("@FILES@", " ".join(JAVA_HOME_FILES))

_DEFAULT_JAVA = r"""
printf 'java %s\n' "$(readlink -f "$(command -v java 2>/dev/null)" 2>/dev/null)"
printf 'javac %s\n' "$(readlink -f "$(command -v javac 2>/dev/null)" 2>/dev/null)"
"""


@dataclass
class JavaHomeLine:
    path: str
    line: int
    value: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _value(path: str, text: str) -> str:
    if os.path.basename(path) in ("environment", ".pam_environment"):
        env = pamenv.effective(text.encode() + b"\n")
        return env.get("JAVA_HOME", "")
    body = re.sub(r"^\s*(export\s+)?JAVA_HOME=", "", text)
    m = re.match(r'^"([^"]*)"|^\'([^\']*)\'', body)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    return re.sub(r"\s*#.*$", "", body).strip()


@dataclass
class JavaHomes:
    lines: list[JavaHomeLine] = field(default_factory=list)  # every JAVA_HOME= line, in order
    homes: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)  # value → (real, java, javac)
    origins: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # value → (package, implementor, version)


@dataclass(frozen=True)
class JavaHomeSettings(Fact[JavaHomes]):
    """Where JAVA_HOME is set (/etc/environment, profile.d, shell startup files) and, for each
    value, whether it is a directory with bin/java and bin/javac."""

    def command(self) -> str:
        return _JAVA_HOME

    def parse(self, lines: list[str]) -> JavaHomes:
        out = JavaHomes()
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "line":
                m = re.match(r"^([^:]+):(\d+):(.*)$", rest)
                if m:
                    out.lines.append(JavaHomeLine(m.group(1), int(m.group(2)), _value(m.group(1), m.group(3))))
            elif kind == "home":
                parts = rest.split("\t")
                if len(parts) == 4:
                    out.homes[parts[0]] = (parts[1] if parts[1] != "-" else "", parts[2] == "java",
                                           parts[3] == "javac")
            elif kind == "origin":
                parts = rest.split("\t")
                if len(parts) == 4:
                    out.origins[parts[0]] = tuple("" if x == "-" else x for x in parts[1:])  # type: ignore[assignment]
        return out

    def describe(self) -> str:
        return "JAVA_HOME settings"


@dataclass(frozen=True)
class DefaultJava(Fact[dict[str, str]]):
    """Where ``java`` and ``javac`` on the PATH resolve to ("" when there is none)."""

    def command(self) -> str:
        return _DEFAULT_JAVA

    def parse(self, lines: list[str]) -> dict[str, str]:
        out = {"java": "", "javac": ""}
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind in out:
                out[kind] = rest.strip()
        return out

    def describe(self) -> str:
        return "default java"


def _under(path: str, home: str) -> bool:
    return bool(path and home) and (path + "/").startswith(home.rstrip("/") + "/")


def _java_home(facts: HostFacts, settings: JavaHomes, default: dict[str, str]) -> list[Finding]:
    lines, java = settings.lines, default["java"]
    if not lines:
        return [Finding("JAVA_HOME", PROBLEM, "JAVA_HOME is not set for new sessions (not in "
                        "/etc/environment, /etc/profile.d or the shell startup files)",
                        "provision apply java17 (or the default playbook)")]
    out: list[Finding] = []
    env = [ln for ln in lines if ln.path == ENVIRONMENT]
    primary = env[-1] if env else lines[0]  # pam_env: the last line of /etc/environment wins
    value = primary.value
    if "$" in value or "`" in value:
        out.append(Finding("JAVA_HOME", WARN, f"JAVA_HOME in {primary.where} is computed ({value}): "
                           "cannot check where it points", "write the JDK's path literally"))
        return out
    real, has_java, has_javac = settings.homes.get(value, ("", False, False))
    if not (has_java and has_javac):
        what = "does not exist" if not real else "has no bin/javac (a JRE?)" if has_java else "has no bin/java"
        out.append(Finding("JAVA_HOME", PROBLEM, f"JAVA_HOME in {primary.where} is {value}, which {what}",
                           "provision apply java17 sets it to the installed JDK's home"))
    else:
        package, implementor, version = settings.origins.get(value, ("", "", ""))
        origin = " ".join(x for x in (implementor, version) if x) or "a JDK"
        origin += f" from the package {package}" if package else " not installed by a package"
        out.append(Finding("JAVA_HOME", OK, f"JAVA_HOME is {value} ({primary.where}): {origin}, with "
                           "bin/java and bin/javac"))
    others = [ln for ln in lines if ln is not primary and ln.value != value]
    for ln in others:
        out.append(Finding("JAVA_HOME", WARN, f"JAVA_HOME is set again in {ln.where} to {ln.value!r}, "
                           f"which overrides {value} for the shells that read that file",
                           f"remove or correct that line in {ln.path}"))
    if facts.wsl.version and all(ln.path in (ENVIRONMENT,) or ln.path.endswith(".pam_environment")
                                 for ln in lines):
        out.append(Finding("JAVA_HOME", PROBLEM, "JAVA_HOME is only in /etc/environment, which WSL "
                           "terminals never read (they do not go through PAM)",
                           "provision apply java17 (writes /etc/profile.d/jdk.sh on WSL)"))
    if not java:
        out.append(Finding("java", PROBLEM, "no java on PATH", "provision apply java17"))
    elif real and has_java:
        if _under(java, real):
            out.append(Finding("java", OK, f"the default java ({java}) is the JDK in JAVA_HOME"))
        else:
            out.append(Finding("java", PROBLEM, f"the default java is {java}, not the JDK in "
                               f"JAVA_HOME ({real}): tools disagree on the Java version",
                               "provision apply java17 makes the JDK the default (update-alternatives), "
                               "or point JAVA_HOME at the JDK you want"))
    return out


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    return _java_home(facts.get(HOST), facts.get(JavaHomeSettings()), facts.get(DefaultJava()))


EXAMINER = Examiner("JAVA_HOME", 30, (HOST, JavaHomeSettings(), DefaultJava()), diagnose)
