"""doctor's Windows/Linux crossover part (WSL): a Windows JDK reaching Linux through PATH or
WSLENV, JAVA_HOME set to a Windows path, a project on the Windows drive, Windows's PATH appended
(``[interop] appendWindowsPath``) and whether interop is on.

The facts are the environment and directory of the shell that ran provision: the script reads
them from its own process, or, when provision reached root through sudo (which resets the
environment), from the process that ran sudo (``/proc/PID/environ`` and ``cwd``). Every value
travels as base64, so a directory or variable holding a newline cannot forge a record. Nothing on
the Windows drive is run; the files of a project there are counted (names never printed), at
most ``MAX_FILES``, for at most ``COUNT_SECONDS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provision.facts import HOST, Fact, Facts, FileContent, FileState, HostFacts
from provision.facts.base import decode_b64
from provision.findings import INFO, OK, PROBLEM, WARN, Examiner, Finding
from provision.formats import wslconf

WSL_CONF = "/etc/wsl.conf"
MAX_FILES = 100_000
COUNT_SECONDS = 10
MAX_PATH_ENTRIES = 200
CALLER = r"""
pv_up() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2; }
pv_comm() { cat "/proc/$1/comm" 2>/dev/null; }
# whose environment: ours, or (sudo in the parent or grandparent) the process that ran sudo
pv_src=$$ pv_p=$(pv_up $$) pv_n=1
while [ -n "$pv_p" ] && [ "$pv_p" -gt 1 ] && [ $pv_n -le 2 ]; do
  case $(pv_comm "$pv_p") in
    sudo|doas)
      while [ -n "$pv_p" ] && [ "$pv_p" -gt 1 ]; do
        case $(pv_comm "$pv_p") in sudo|doas) pv_p=$(pv_up "$pv_p");; *) break;; esac
      done
      [ -z "$pv_p" ] || [ "$pv_p" -le 1 ] || pv_src=$pv_p
      break;;
  esac
  pv_p=$(pv_up "$pv_p"); pv_n=$((pv_n + 1))
done
pv_env() {
  grep -az "^$1=" "/proc/$pv_src/environ" 2>/dev/null | head -zn 1 | sed -z "s/^$1=//" | tr -d '\000' | base64 -w0
}
"""

INTEROP = ("/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late")

_SCRIPT = CALLER + r"""
pv_b64() { printf '%s' "$1" | base64 -w0; }
pv_has() { grep -aqz "^$1=" "/proc/$pv_src/environ" 2>/dev/null && echo 1 || echo 0; }
printf 'src %s\n' "$([ "$pv_src" = $$ ] && echo self || pv_comm "$pv_src" | base64 -w0)"
pv_cwd=$(readlink "/proc/$pv_src/cwd" 2>/dev/null)
printf 'cwd %s\n' "$(pv_b64 "$pv_cwd")"
for pv_v in HOME JAVA_HOME WSLENV USERPROFILE; do
  printf 'env %s %s %s\n' "$pv_v" "$(pv_has "$pv_v")" "$(pv_env "$pv_v")"
done
pv_path=$(grep -az '^PATH=' "/proc/$pv_src/environ" 2>/dev/null | head -zn 1 | sed -z 's/^PATH=//' | tr -d '\000')
set -f; pv_ifs=$IFS; IFS=:; pv_i=0
for pv_d in $pv_path; do
  pv_i=$((pv_i + 1)); [ $pv_i -le @MAXPATH@ ] || break
  pv_j=0; [ -f "$pv_d/java" ] && [ -x "$pv_d/java" ] && pv_j=1
  pv_e=0; [ -f "$pv_d/java.exe" ] && pv_e=1
  printf 'path %s %s %s\n' "$pv_j" "$pv_e" "$(pv_b64 "$pv_d")"
done
IFS=$pv_ifs; set +f
for pv_f in @INTEROP@; do
  [ -e "$pv_f" ] && printf 'interop %s %s\n' "${pv_f##*/}" "$(head -n 1 "$pv_f" 2>/dev/null | base64 -w0)"
done
case "$pv_cwd" in
  /mnt/?/*|/mnt/?)  # a project on a Windows drive: count its files (no names), bounded
    pv_t=$(date +%s)
    pv_c=$(cd "$pv_cwd" 2>/dev/null && timeout @SECONDS@ find . -xdev -printf x 2>/dev/null | head -c @MAXP1@ | wc -c)
    printf 'files %s %s\n' "${pv_c:-0}" "$(( $(date +%s) - pv_t >= @SECONDS@ ))";;
esac
true
""".replace("@MAXPATH@", str(MAX_PATH_ENTRIES)).replace("@INTEROP@", " ".join(INTEROP)).replace(
    "@SECONDS@", str(COUNT_SECONDS)).replace("@MAXP1@", str(MAX_FILES + 1))


@dataclass
class PathEntry:
    index: int  # 1-based position in PATH
    directory: str
    java: bool  # holds an executable `java`
    java_exe: bool  # holds java.exe (a Windows JDK's bin)


@dataclass
class CrossoverState:
    """The environment and directory the user's shell gave provision, as far as WSL crossover
    goes; ``env`` holds only the variables that are set."""

    source: str = "self"  # self, or the name of the process whose environment was read (above sudo)
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)
    path: list[PathEntry] = field(default_factory=list)
    interop: dict[str, str] = field(default_factory=dict)  # binfmt_misc entry -> its first line
    files: int | None = None  # files counted under cwd (on a Windows drive only)
    count_stopped: bool = False  # the count ran out of time (there are more)


def _text(b64: str) -> str:
    return decode_b64(b64, "crossover").decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Crossover(Fact[CrossoverState]):
    """The shell's environment as WSL's Windows/Linux crossover sees it (PATH, JAVA_HOME, WSLENV,
    the directory, interop)."""

    def command(self) -> str:
        return _SCRIPT

    def parse(self, lines: list[str]) -> CrossoverState:
        st = CrossoverState()
        for line in lines:
            kind, _, rest = line.partition(" ")
            parts = rest.split(" ")
            if kind == "src":
                st.source = "self" if rest == "self" else _text(rest).strip()
            elif kind == "cwd":
                st.cwd = _text(rest)
            elif kind == "env" and len(parts) >= 2:
                if parts[1] == "1":
                    st.env[parts[0]] = _text(parts[2] if len(parts) > 2 else "")
            elif kind == "path" and len(parts) == 3:
                st.path.append(PathEntry(len(st.path) + 1, _text(parts[2]), parts[0] == "1", parts[1] == "1"))
            elif kind == "interop" and parts:
                st.interop[parts[0]] = _text(parts[1] if len(parts) > 1 else "").strip()
            elif kind == "files" and parts[0].isdigit():
                st.files = int(parts[0])
                st.count_stopped = parts[1:] == ["1"]
        return st

    def describe(self) -> str:
        return "WSL crossover (PATH, JAVA_HOME, WSLENV, directory, interop)"


# --------------------------------------------------------------------------- the diagnosis

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")  # C:\..., C:/..., \\server\share
_RESTART = "then restart the distro (PowerShell: wsl --terminate <distro>)"


def _drive_root(conf: FileState) -> str:
    """Where WSL mounts the Windows drives: [automount] root, default /mnt/."""
    root = wslconf.read(conf.content).effective().get("automount.root", "/mnt/") if conf.exists else "/mnt/"
    return root.rstrip("/") + "/"


def on_windows_drive(path: str, root: str = "/mnt/") -> bool:
    """``path`` is on a Windows drive as WSL mounts them (``/mnt/c/...``)."""
    rest = path[len(root):] if path.startswith(root) else ""
    return bool(re.match(r"^[A-Za-z](?:/|$)", rest))


def windows_path(value: str, root: str = "/mnt/") -> bool:
    return bool(_WINDOWS_PATH.match(value)) or on_windows_drive(value, root)


def wslenv_entries(value: str) -> list[tuple[str, str]]:
    """WSLENV as WSL reads it: NAME/FLAGS entries separated by ':' (flags p, l, u, w)."""
    out = []
    for item in value.split(":"):
        name, _, flags = item.partition("/")
        if name:
            out.append((name, flags))
    return out


def _shares_into_linux(flags: str) -> bool:
    """Per Microsoft's WSLENV docs: /u = only Windows→WSL, /w = only WSL→Windows, neither = both."""
    return "w" not in flags or "u" in flags


def _first_linux_java(entries: list[PathEntry], root: str) -> PathEntry | None:
    return next((e for e in entries if e.java and not on_windows_drive(e.directory, root)), None)


def _path(st: CrossoverState, root: str) -> list[Finding]:
    out: list[Finding] = []
    java = next((e for e in st.path if e.java), None)
    linux = _first_linux_java(st.path, root)
    if java is not None and on_windows_drive(java.directory, root):
        after = f", ahead of {linux.directory}/java (PATH entry {linux.index})" if linux else ""
        out.append(Finding("PATH", PROBLEM, f"`java` resolves to {java.directory}/java (PATH entry "
                           f"{java.index}), on the Windows drive{after}: every build starts a JVM from "
                           "the Windows file system",
                           f"remove {java.directory} from PATH (or put the Linux JDK's bin first); "
                           "install a Linux JDK with provision apply"))
    exes = [e for e in st.path if e.java_exe]
    if exes:
        e = exes[0]
        ahead = f", ahead of {linux.directory} (entry {linux.index})" if linux and e.index < linux.index else ""
        more = "".join(f"; also entry {x.index} {x.directory}" for x in exes[1:4])
        out.append(Finding("PATH", WARN, f"PATH entry {e.index} {e.directory} is a Windows JDK "
                           f"(java.exe){ahead}{more}: Windows tools on PATH (mvn.cmd, gradle.bat, "
                           "java.exe) run the Windows JVM, which cannot read Linux paths and has its own "
                           "truststore (a CA added in Linux does not reach it: \"PKIX path building failed\")",
                           f"set [interop] appendWindowsPath=false in {WSL_CONF}, {_RESTART}; or "
                           f"drop {e.directory} from the PATH your shell files set"))
    return out


def _java_home(st: CrossoverState, root: str) -> list[Finding]:
    out: list[Finding] = []
    shared = [(n, f) for n, f in wslenv_entries(st.env.get("WSLENV", "")) if n == "JAVA_HOME"]
    for name, flags in shared:
        if not _shares_into_linux(flags):
            continue
        how = ("translated to a /mnt/ path" if "p" in flags or "l" in flags else "as it is (a C:\\ path)")
        out.append(Finding("WSLENV", PROBLEM if windows_path(st.env.get("JAVA_HOME", ""), root) else WARN,
                           f"WSLENV shares Windows's JAVA_HOME into WSL ({name}{'/' + flags if flags else ''},"
                           f" {how}): a Linux shell started from Windows gets the Windows JDK",
                           "remove JAVA_HOME from WSLENV on Windows (System Properties → Environment "
                           "Variables, or setx WSLENV), or give it the /w flag (WSL→Windows only); "
                           "Linux's JAVA_HOME then comes from provision apply"))
    home = st.env.get("JAVA_HOME")
    if home is not None and windows_path(home, root):
        via = " (shared by WSLENV)" if shared else ""
        out.append(Finding("JAVA_HOME", PROBLEM, f"JAVA_HOME={home} is a Windows path{via}: Maven and "
                           "Gradle look for $JAVA_HOME/bin/java and find a Windows JDK (java.exe) or "
                           "nothing",
                           "point JAVA_HOME at a Linux JDK (provision apply sets it in /etc/environment "
                           "and profile.d); remove a Windows JAVA_HOME from your shell files and WSLENV"))
    return out


def _directory(st: CrossoverState, root: str) -> list[Finding]:
    out: list[Finding] = []
    if st.cwd and on_windows_drive(st.cwd, root):
        n = st.files
        count = ("" if n is None else f"{MAX_FILES} or more files" if n > MAX_FILES
                 else f"at least {n} files: counting stopped after {COUNT_SECONDS} s" if st.count_stopped
                 else f"{n} files")
        count = f" ({count})" if count else ""
        out.append(Finding("directory", WARN, f"the current directory {st.cwd}{count} is on the Windows "
                           "drive: builds there are many times slower than on the Linux file system "
                           "(every file access crosses to Windows over 9P), and file watching misses "
                           "changes",
                           "move the project into the Linux file system (e.g. git clone into ~/src, or "
                           f"cp -a {st.cwd} ~/src/), and open it from Windows as \\\\wsl$\\<distro>\\..."))
    home = st.env.get("HOME", "")
    if home and on_windows_drive(home, root):
        out.append(Finding("directory", WARN, f"HOME={home} is on the Windows drive: ~/.m2 and ~/.gradle "
                           "caches there are slow and Linux permissions do not hold",
                           "give the user a Linux home (usermod -d /home/<user> -m <user>)"))
    return out


def _interop(st: CrossoverState, conf: FileState, root: str) -> list[Finding]:
    eff = wslconf.read(conf.content).effective() if conf.exists else {}
    out: list[Finding] = []
    windows_dirs = [e for e in st.path if on_windows_drive(e.directory, root)]
    append = eff.get("interop.appendwindowspath", "true")
    if append == "true" and windows_dirs:
        out.append(Finding("interop", INFO, f"WSL appends Windows's PATH ({len(windows_dirs)} Windows "
                           "directories on PATH; [interop] appendWindowsPath is "
                           + ("true" if "interop.appendwindowspath" in eff else "not set: true by default") + ")",
                           f"to keep Windows tools off PATH: [interop] appendWindowsPath=false in {WSL_CONF}, "
                           + _RESTART))
    elif append == "false" and windows_dirs:
        out.append(Finding("interop", WARN, f"{WSL_CONF} sets appendWindowsPath=false, but PATH still has "
                           f"{len(windows_dirs)} Windows directories (first: {windows_dirs[0].directory}): "
                           "they come from a shell file or /etc/environment, or the distro has not "
                           "restarted since",
                           f"remove them from the file that adds them, or {_RESTART}"))
    enabled = dict(st.interop)
    on_entries = ", ".join(k for k, v in sorted(enabled.items()) if v == "enabled")
    on = bool(on_entries)
    conf_off = eff.get("interop.enabled") == "false"
    if on and conf_off:
        out.append(Finding("interop", WARN, f"interop is on ({', '.join(sorted(enabled))} enabled) but "
                           f"{WSL_CONF} sets [interop] enabled=false: the distro has not restarted since",
                           _RESTART))
    elif on:
        out.append(Finding("interop", OK, f"interop is on ({on_entries} enabled): Windows programs run "
                           "from Linux"))
    elif enabled:
        out.append(Finding("interop", INFO, f"interop is registered but disabled ({', '.join(sorted(enabled))}: "
                           f"{'/'.join(sorted(set(enabled.values()))) or 'empty'}): Windows programs do not run "
                           "from Linux", "enable for this boot: echo 1 > " + INTEROP[0] + " (as root)"))
    else:
        why = f"{WSL_CONF} sets [interop] enabled=false" if conf_off else "no WSLInterop entry in binfmt_misc"
        out.append(Finding("interop", INFO, f"interop is off ({why}): wsl.exe, cmd.exe and Windows's JDK "
                           "cannot run from here"))
    return out


def windows_jdk(host: HostFacts, st: CrossoverState, conf: FileState) -> str:
    """How a Windows JDK is the Java this WSL shell uses ("" when it is not): `java` on PATH
    resolving to the Windows drive, java.exe on PATH ahead of any Linux java, or a Windows
    JAVA_HOME (what Maven and Gradle start)."""
    if not host.wsl.version:
        return ""
    root = _drive_root(conf)
    java = next((e for e in st.path if e.java), None)
    if java is not None and on_windows_drive(java.directory, root):
        return f"`java` resolves to {java.directory}/java, on the Windows drive"
    exe = next((e for e in st.path if e.java_exe), None)
    if exe is not None and (java is None or exe.index < java.index):
        return f"PATH entry {exe.index} {exe.directory} holds a Windows java.exe ahead of any Linux java"
    home = st.env.get("JAVA_HOME")
    if home is not None and windows_path(home, root):
        return f"JAVA_HOME={home} is a Windows JDK"
    return ""


def examine(host: HostFacts, st: CrossoverState, conf: FileState) -> list[Finding]:
    """The crossover findings for a WSL host; nothing elsewhere."""
    if not host.wsl.version:
        return []
    root = _drive_root(conf)
    found = _path(st, root) + _java_home(st, root) + _directory(st, root)
    if not any(f.status in (PROBLEM, WARN) for f in found):
        found.append(Finding("crossover", OK, "no Windows JDK, Windows JAVA_HOME or Windows-drive project "
                             "reaches this shell"))
    return found + _interop(st, conf, root)


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    return examine(facts.get(HOST), facts.get(Crossover()), facts.get(FileContent(WSL_CONF)))


EXAMINER = Examiner("crossover", 15, (HOST, FileContent(WSL_CONF), Crossover()), diagnose)
