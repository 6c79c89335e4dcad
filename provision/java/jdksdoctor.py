"""doctor's several-JDKs part: the JDKs installed in /usr/lib/jvm, which JDK JAVA_HOME, each
JAVA_<N>_HOME and JAVA_HOME_<N>_<ARCH> (in /etc/environment and /etc/profile.d) and each Maven
toolchain (/etc/maven/toolchains.xml) points to, and the entries that point at a home that is gone
(a JDK removed while a line or a toolchain still names it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provision.facts import Fact, Facts, FileContent
from provision.findings import OK, PROBLEM, WARN, Examiner, Finding
from provision.formats import pamenv
from provision.java import toolchains as xml

JVM = "/usr/lib/jvm"
ENVIRONMENT = "/etc/environment"
TOOLCHAINS = "/etc/maven/toolchains.xml"
_VAR = re.compile(r"JAVA_(?:HOME|([0-9]+)_HOME|HOME_([0-9]+)_[A-Za-z0-9]+)")

# Root's files only (/usr/lib/jvm, /etc/environment, /etc/profile.d): each read when it is a
# regular file and no link, at most 1 MiB, within 10 s. For every path a variable or a toolchain
# names, only whether it has bin/java and bin/javac (a stat) and its canonical path.
_SCRIPT = r"""
jv_read() {
  [ -f "$1" ] && [ ! -L "$1" ] || return 0
  timeout 10 dd if="$1" iflag=nofollow,nonblock bs=64k 2>/dev/null | head -c 1048576
}
for d in @JVM@/*; do
  [ -d "$d" ] || continue
  if [ -L "$d" ]; then printf 'alias %s\t%s\n' "$d" "$(readlink -f "$d")"; continue; fi
  [ -x "$d/bin/java" ] && [ -x "$d/bin/javac" ] || continue
  rel=$(jv_read "$d/release")
  ver=$(printf '%s\n' "$rel" | sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
  impl=$(printf '%s\n' "$rel" | sed -n 's/^IMPLEMENTOR="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
  printf 'jdk %s\t%s\t%s\n' "$d" "${ver:--}" "${impl:--}"
done
vars=$(for f in @ENV@ /etc/profile.d/*.sh; do
  jv_read "$f" | grep -naE '^[[:space:]]*(export[[:space:]]+)?JAVA_(HOME|[0-9]+_HOME|HOME_[0-9]+_[A-Za-z0-9]+)=' \
    | head -n 100 | while IFS= read -r l; do printf 'var %s:%s\n' "$f" "$l"; done
done)
[ -z "$vars" ] || printf '%s\n' "$vars"
{ printf '%s\n' "$vars" | sed -E -e '/^$/d' -e 's/^var [^:]*:[0-9]+://' \
    -e 's/^[[:space:]]*(export[[:space:]]+)?[A-Za-z0-9_]+=//' -e 's/^"([^"]*)".*$/\1/' \
    -e 's/^'"'"'([^'"'"']*)'"'"'.*$/\1/' -e 's/[[:space:]]*#.*$//' -e 's/[[:space:]]+$//'
  jv_read @TOOLCHAINS@ | grep -o '<jdkHome>[^<]*</jdkHome>' \
    | sed -e 's/<[^>]*>//g' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
} | sort -u | head -n 100 | while IFS= read -r h; do
  case "$h" in /*) ;; *) continue;; esac
  case "$h" in *'$'*|*'`'*) continue;; esac
  j=-; [ -x "$h/bin/java" ] && j=java; c=-; [ -x "$h/bin/javac" ] && c=javac
  r=-; [ -e "$h" ] && r=$(readlink -f "$h" 2>/dev/null || echo -)
  printf 'path %s\t%s\t%s\t%s\n' "$h" "$r" "$j" "$c"
done
""".replace("@JVM@", JVM).replace("@ENV@", ENVIRONMENT).replace("@TOOLCHAINS@", TOOLCHAINS)


@dataclass
class Jdk:
    home: str
    version: str  # JAVA_VERSION from its release file ("" when it has none)
    implementor: str

    @property
    def major(self) -> int | None:
        m = re.match(r"(?:1\.)?([0-9]+)", self.version)
        return int(m.group(1)) if m else None

    def describe(self) -> str:
        return f"JDK {self.major or '?'} ({self.home}{', ' + self.implementor if self.implementor else ''})"


@dataclass
class Var:
    file: str
    line: int
    key: str
    value: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class JdkLayout:
    jdks: list[Jdk] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # a link in /usr/lib/jvm → its target
    vars: list[Var] = field(default_factory=list)  # every line, in file order
    paths: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)  # named → (real, java, javac)


def _var(file: str, line: int, text: str) -> Var | None:
    m = re.match(r"^\s*(?:export\s+)?([A-Za-z0-9_]+)=", text)
    if not m or not _VAR.fullmatch(m.group(1)):
        return None
    key = m.group(1)
    if file == ENVIRONMENT:
        return Var(file, line, key, pamenv.effective(text.encode() + b"\n").get(key, ""))
    body = text[m.end():]
    q = re.match(r'^"([^"]*)"|^\'([^\']*)\'', body)
    value = (q.group(1) if q.group(1) is not None else q.group(2)) if q else re.sub(r"\s*#.*$", "", body).strip()
    return Var(file, line, key, value)


@dataclass(frozen=True)
class JdkLayoutFact(Fact[JdkLayout]):
    """The JDKs in /usr/lib/jvm and the JAVA_*HOME lines of /etc/environment and /etc/profile.d."""

    def command(self) -> str:
        return _SCRIPT

    def parse(self, lines: list[str]) -> JdkLayout:
        out = JdkLayout()
        for line in lines:
            kind, _, rest = line.partition(" ")
            parts = rest.split("\t")
            if kind == "jdk" and len(parts) == 3:
                out.jdks.append(Jdk(parts[0], *("" if x == "-" else x for x in parts[1:])))
            elif kind == "alias" and len(parts) == 2:
                out.aliases[parts[0]] = parts[1]
            elif kind == "var":
                m = re.match(r"^([^:]+):(\d+):(.*)$", rest)
                v = _var(m.group(1), int(m.group(2)), m.group(3)) if m else None
                if v is not None:
                    out.vars.append(v)
            elif kind == "path" and len(parts) == 4:
                out.paths[parts[0]] = ("" if parts[1] == "-" else parts[1], parts[2] == "java", parts[3] == "javac")
        return out

    def describe(self) -> str:
        return "installed JDKs and their variables"


def _effective(layout: JdkLayout) -> list[Var]:
    """Per file, the line of each key that counts (pam_env and a shell: the last)."""
    last: dict[tuple[str, str], Var] = {}
    for v in layout.vars:
        last[(v.file, v.key)] = v
    return sorted(last.values(), key=lambda v: (v.file != ENVIRONMENT, v.file, v.line))


def _jdk_at(layout: JdkLayout, path: str) -> Jdk | None:
    real = layout.paths.get(path, ("", False, False))[0] or layout.aliases.get(path.rstrip("/"), path)
    return next((j for j in layout.jdks if j.home == real.rstrip("/")), None)


def _wanted_major(key: str) -> int | None:
    m = _VAR.fullmatch(key)
    n = (m.group(1) or m.group(2)) if m else None
    return int(n) if n else None


def _points(layout: JdkLayout, what: str, path: str, want: int | None) -> tuple[str, str]:
    """(how, words) for an entry naming ``path``: how is good, gone (no JDK there) or other (a
    JDK of another version than the entry says)."""
    real, java, javac = layout.paths.get(path, ("", False, False))
    if not (java and javac):
        gone = "does not exist" if not real else "has no bin/javac" if java else "has no bin/java"
        return "gone", f"{what} points at {path}, which {gone} (a JDK removed since?)"
    jdk = _jdk_at(layout, path)
    if jdk is None:
        return "good", f"{what} → a JDK outside {JVM} ({real})"
    if want is not None and jdk.major is not None and jdk.major != want:
        return "other", f"{what} → {jdk.describe()}, not a JDK {want}"
    return "good", f"{what} → {jdk.describe()}"


def _toolchains(facts: Facts, layout: JdkLayout) -> list[Finding]:
    state = facts.get(FileContent(TOOLCHAINS))
    if not state.exists:
        return []
    if state.refused or state.link:
        return [Finding("toolchains", WARN, f"{TOOLCHAINS} is not read: {state.refused or 'a symbolic link'}")]
    try:
        entries = [e for e in xml.parse(state.content).entries if e.type == "jdk"]
    except xml.ToolchainsError as exc:
        return [Finding("toolchains", PROBLEM, f"{TOOLCHAINS}: {exc}", "fix the file (Maven cannot read it either)")]
    good: list[str] = []
    out: list[Finding] = []
    for e in entries:
        version = e.provides.get("version", "?")
        who = " (provision's)" if e.ours is not None else ""
        want = int(version) if version.isdigit() else None
        how, words = _points(layout, f"toolchain jdk {version}{who}", e.home, want) if e.home else \
            ("gone", f"toolchain jdk {version}{who} has no <jdkHome>")
        if how == "good":
            good.append(words)
            continue
        if e.ours is not None:
            fix = "provision apply java-multi (it rewrites or removes its own entries)"
        elif how == "gone":
            fix = "remove that <toolchain>, or point its <jdkHome> at an installed JDK"
        else:
            fix = "correct the <version> or the <jdkHome> of that <toolchain>"
        out.append(Finding("toolchains", PROBLEM if how == "gone" else WARN, f"{TOOLCHAINS}: {words}", fix))
    if good:
        out.insert(0, Finding("toolchains", OK, f"{TOOLCHAINS}: " + "; ".join(good)))
    return out


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    layout = facts.get(JdkLayoutFact())
    out: list[Finding] = []
    listed = "; ".join(j.describe() for j in sorted(layout.jdks, key=lambda j: (j.major or 0, j.home)))
    if layout.jdks or layout.vars:
        out.append(Finding("JDKs", OK if layout.jdks else WARN,
                           f"JDKs in {JVM}: {listed}" if layout.jdks else f"no JDK in {JVM}"))
    by_file: dict[str, list[str]] = {}
    for v in _effective(layout):
        if "$" in v.value or "`" in v.value:
            continue  # computed: the JAVA_HOME examiner says so
        how, words = _points(layout, f"{v.key} ({v.where})", v.value, _wanted_major(v.key))
        if how == "good":
            by_file.setdefault(v.file, []).append(words)
        else:
            out.append(Finding("JDKs", PROBLEM if how == "gone" else WARN, words,
                               f"provision apply java-multi (a JDK taken off the list loses its lines), or remove "
                               f"that line from {v.file}" if how == "gone" else f"correct that line in {v.file}"))
    out[1:1] = [Finding("JDKs", OK, "; ".join(words)) for words in by_file.values()]
    return out + _toolchains(facts, layout)


EXAMINER = Examiner("JDKs", 31, (JdkLayoutFact(), FileContent(TOOLCHAINS)), diagnose)
