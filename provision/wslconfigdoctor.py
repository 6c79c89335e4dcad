"""doctor's .wslconfig part: %UserProfile%\\.wslconfig (the Windows side, read by WSL's service
when the VM starts) as WSL reads it (provision.formats.wslconfig): lines it skips, keys it does
not know or finds in the wrong section, values it rejects.

From inside a distro, %UserProfile% is the caller's USERPROFILE (Windows shares it when WSLENV
has USERPROFILE/p; a C:\\ value goes through wslpath), else Windows is asked through interop
(``cmd.exe /c echo %USERPROFILE%``, at most 5 s). The file is read only when it is a regular file,
no symbolic link and has one name (no hard link to a file elsewhere), at most 1 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from provision.crossdoctor import CALLER
from provision.facts import HOST, Fact, Facts, HostFacts
from provision.facts.base import decode_b64
from provision.findings import INFO, OK, PROBLEM, WARN, Examiner, Finding, Verdict
from provision.formats import wslconfig

MAX_READ = 1 << 20
_CMD = "/mnt/c/Windows/System32/cmd.exe"

_SCRIPT = CALLER + r"""
pv_prof=$(pv_env USERPROFILE | base64 -d 2>/dev/null)
pv_how=USERPROFILE
if [ -z "$pv_prof" ] && [ -x @CMD@ ]; then
  pv_prof=$(cd / && timeout 5 @CMD@ /d /c 'echo %USERPROFILE%' </dev/null 2>/dev/null | tr -d '\r' | head -n 1)
  case "$pv_prof" in *%*) pv_prof=;; esac
  pv_how=cmd.exe
fi
case "$pv_prof" in
  '') pv_how=none;;
  /*) ;;
  *) pv_prof=$(timeout 5 wslpath -u "$pv_prof" 2>/dev/null) || pv_prof=;;
esac
printf 'profile %s %s\n' "$pv_how" "$(printf '%s' "$pv_prof" | base64 -w0)"
pv_w="$pv_prof/.wslconfig"
if [ -n "$pv_prof" ] && [ -e "$pv_w" -o -L "$pv_w" ]; then
  if [ -L "$pv_w" ] || [ ! -f "$pv_w" ]; then echo "refused not-regular"
  elif [ "$(stat -c %h -- "$pv_w")" != 1 ]; then echo "refused hard-link"
  elif [ "$(stat -c %s -- "$pv_w")" -gt @MAX@ ]; then echo "refused too-big"
  else
    pv_c=$(timeout 10 dd if="$pv_w" iflag=nofollow,nonblock bs=64k 2>/dev/null | head -c @MAX@ | base64 -w0)
    printf 'content %s\n' "$pv_c"
  fi
fi
""".replace("@CMD@", _CMD).replace("@MAX@", str(MAX_READ))


@dataclass
class WslConfigState:
    how: str = "none"  # where %UserProfile% came from: USERPROFILE | cmd.exe | none
    profile: str = ""  # %UserProfile% as a Linux path ("" when not found)
    content: bytes | None = None  # the file, None when there is none
    refused: str = ""  # not-regular | hard-link | too-big


def _b64(text: str) -> bytes:
    return decode_b64(text, ".wslconfig")


@dataclass(frozen=True)
class WslConfigFile(Fact[WslConfigState]):
    """%UserProfile%\\.wslconfig, seen from inside the distro."""

    def command(self) -> str:
        return _SCRIPT

    def parse(self, lines: list[str]) -> WslConfigState:
        st = WslConfigState()
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "profile":
                how, _, b64 = rest.partition(" ")
                st.how, st.profile = how, _b64(b64).decode("utf-8", "surrogateescape")
            elif kind == "content":
                st.content = _b64(rest.strip())
            elif kind == "refused":
                st.refused = rest.strip()
        return st

    def describe(self) -> str:
        return "%UserProfile%\\.wslconfig"


_SEVERITY: dict[wslconfig.Severity, Verdict] = {wslconfig.Severity.PROBLEM: PROBLEM,
                                                  wslconfig.Severity.WARN: WARN, wslconfig.Severity.INFO: INFO}
_RESTART = "then, from PowerShell: wsl --shutdown (WSL reads .wslconfig when its VM starts)"


def examine(host: HostFacts, st: WslConfigState) -> list[Finding]:
    if host.wsl.version != 2:
        return []
    if not st.profile:
        return [Finding("wslconfig", INFO, "%UserProfile% is not known here (no USERPROFILE, no interop): "
                        ".wslconfig not checked", "share it from Windows: WSLENV=USERPROFILE/p")]
    where = f"{st.profile}/.wslconfig"
    if st.refused:
        why = {"not-regular": "is not a regular file (a link?)", "hard-link": "has more than one name (a hard "
               "link)", "too-big": f"is larger than {MAX_READ >> 20} MiB"}.get(st.refused, st.refused)
        return [Finding("wslconfig", WARN, f"{where} {why}: not read", "make it a plain file")]
    if st.content is None:
        return [Finding("wslconfig", INFO, f"no {where}: WSL uses its defaults (memory: half the machine's, "
                        "all processors, NAT networking)")]
    reading = wslconfig.read(st.content)
    out = [Finding("wslconfig", _SEVERITY[n.severity], f"{where} line {n.line}: {n.text}",
                   f"fix line {n.line} of %UserProfile%\\.wslconfig, {_RESTART}")
           for n in reading.notes]
    if not any(f.status in (PROBLEM, WARN) for f in out):
        settings = ", ".join(f"{s.key.name}={s.value}" for s in reading.settings.values()) or "no settings"
        enc = reading.decoded.codec + (" with a BOM" if reading.decoded.bom else "")
        out.append(Finding("wslconfig", OK, f"{where} ({enc}) reads as WSL reads it: {settings}"))
    return out


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    return examine(facts.get(HOST), facts.get(WslConfigFile()))


EXAMINER = Examiner("wslconfig", 16, (HOST, WslConfigFile()), diagnose)
