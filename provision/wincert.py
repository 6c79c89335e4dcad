"""A CA certificate read from the Windows certificate store of a WSL target, through interop.

``powershell.exe -NoProfile -NonInteractive -Command …`` prints the base64 of the certificate's
``RawData`` (its DER) on a line of its own after ``provision-cert``, then ``provision-cert-end``.
powershell.exe is never looked up on PATH (WSL appends Windows directories that the distro's
uid 1000 can write): it is Windows's own, ``C:\\Windows\\System32\\WindowsPowerShell\\v1.0``,
placed by ``wslpath`` (else under /mnt/c), and refused unless every directory on the way is
root's and written by root only, or lies on the Windows drive itself (a drvfs mount: Windows
ACLs, not Linux users, decide who writes there), with no link on the way. It runs through the
connection, as whoever the connection is; Windows runs it as the Windows user.

What it prints is read the way Windows PowerShell writes it to a pipe: in its console output
encoding, which is the OEM code page by default, UTF-16LE when ``[Console]::OutputEncoding`` is
Unicode (with a byte-order mark), UTF-8 with a BOM when it is UTF8, CRLF line ends; a progress or
error record serialised as CLIXML (``#< CLIXML`` then ``<Objs …>``) may be mixed in. Those are
skipped; any other line, a second certificate, a missing end line, a thumbprint that is not the
certificate's SHA-1 or more than ``MAX_OUTPUT`` bytes is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import shlex
from dataclasses import dataclass

from provision.facts import Fact
from provision.facts.base import decode_b64
from provision.formats import x509

MAX_OUTPUT = 256 * 1024  # bytes of powershell.exe output read at most (a certificate is far less)
WINDOWS_EXE = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
FALLBACK_EXE = "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
MARK, END = "provision-cert", "provision-cert-end"
_CLIXML = re.compile(r"^(?:#< CLIXML|<Objs\b.*</Objs>)$")


def normalise_thumbprint(text: str) -> str:
    """A Windows thumbprint (SHA-1, 40 hex digits; blanks and colons allowed) → upper-case hex."""
    tp = re.sub(r"[\s:]+", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{40}", tp):
        raise ValueError(f"{text!r} is not a certificate thumbprint (40 hex digits, as certmgr shows it)")
    return tp


def command(location: str, store: str, thumbprint: str) -> str:
    """The PowerShell that prints the certificate (its thumbprint already checked: hex only)."""
    return ("$ProgressPreference='SilentlyContinue'; "
            f"Get-ChildItem -LiteralPath 'Cert:\\{location}\\{store}' | "
            f"Where-Object {{ $_.Thumbprint -eq '{thumbprint}' }} | "
            f"ForEach-Object {{ '{MARK} ' + [Convert]::ToBase64String($_.RawData) }}; '{END}'")


def decode_text(data: bytes) -> str:
    """powershell.exe's bytes as text: a UTF-16LE or UTF-8 byte-order mark decides; without one,
    NUL bytes in odd places mean UTF-16LE; else ASCII-compatible (OEM code page or UTF-8; the
    lines that matter are ASCII). Undecodable bytes are kept as escapes; CRLF and CR end lines."""
    if data.startswith(b"\xff\xfe"):
        text = data[2:].decode("utf-16-le", "replace")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", "surrogateescape")
    elif len(data) >= 2 and data[1::2].count(0) * 2 >= len(data[1::2]) and data[0::2].count(0) * 4 <= len(data[0::2]):
        text = data.decode("utf-16-le", "replace")
    else:
        text = data.decode("utf-8", "surrogateescape")
    return text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")


def certificate(data: bytes, thumbprint: str) -> x509.CaCert:
    """The one CA certificate powershell.exe printed, whose SHA-1 is ``thumbprint``; CertError
    (one line, target text escaped) otherwise."""
    if len(data) > MAX_OUTPUT:
        raise x509.CertError(f"powershell.exe printed more than {MAX_OUTPUT} bytes: not one certificate")
    bodies: list[str] = []
    ended = False
    for n, raw in enumerate(decode_text(data).split("\n"), 1):
        line = raw.strip(" ")
        if not line or _CLIXML.match(line):
            continue
        if ended:
            raise x509.CertError(f"powershell.exe printed more after its end line (line {n}: {line[:60]!r})")
        if line == END:
            ended = True
        elif line.startswith(MARK + " "):
            bodies.append(line[len(MARK) + 1:])
        else:
            raise x509.CertError(f"powershell.exe printed an unexpected line {n}: {line[:60]!r}")
    if not ended:
        raise x509.CertError("powershell.exe's output has no end line (it failed, or was cut short)")
    if not bodies:
        raise x509.CertError(f"the Windows store has no certificate with thumbprint {thumbprint}")
    if len(bodies) > 1:
        raise x509.CertError(f"powershell.exe printed {len(bodies)} certificates: exactly one is expected")
    try:
        der = base64.b64decode(bodies[0], validate=True)
    except (binascii.Error, ValueError):
        raise x509.CertError(f"powershell.exe printed a certificate line that is not base64 "
                             f"({bodies[0][:60]!r})") from None
    sha1 = hashlib.sha1(der).hexdigest().upper()
    if sha1 != thumbprint:
        raise x509.CertError(f"powershell.exe printed a certificate whose thumbprint is {sha1}, not {thumbprint}")
    body = base64.b64encode(der).decode()
    pem = "\n".join([x509.BEGIN, *(body[i:i + 64] for i in range(0, len(body), 64)), x509.END, ""])
    return x509.parse_ca(pem.encode())


@dataclass
class WindowsRead:
    """What reading the Windows store found: ``problem`` (why powershell.exe was not run), or the
    path run and its output."""

    exe: str = ""
    problem: str = ""
    output: bytes = b""


# Lines: exe B64(path) | problem B64(text) | out B64(output). The path's directories are checked
# (no link; root's and root-written only, or on a drvfs mount) before it runs.
_SCRIPT = r"""(
b64() { printf '%s' "$1" | base64 -w0; }
no() { printf 'problem %s\n' "$(b64 "$1")"; exit 0; }
ls /proc/sys/fs/binfmt_misc/WSLInterop* >/dev/null 2>&1 ||
  no "WSL interop is not on here (no WSLInterop in binfmt_misc)"
exe=$(wslpath -u "$win" 2>/dev/null) && [ -n "$exe" ] || exe=$fallback
printf 'exe %s\n' "$(b64 "$exe")"
case $exe in /*) ;; *) no "wslpath gave no absolute path";; esac
[ -f "$exe" ] && [ -x "$exe" ] || no "$exe does not exist (or is not executable)"
[ "$(readlink -f -- "$exe")" = "$exe" ] || no "$exe is reached through a link"
mnt=$(stat -c %m -- "$exe")
drv=$(awk -v m="$mnt" '{ for (i = 7; $i != "-"; i++); if ($5 == m) { t = $(i+1); o = $(i+3) } }
  END { print (t == "drvfs" || (t == "9p" && o ~ /aname=drvfs/)) ? 1 : 0 }' /proc/self/mountinfo)
p=$exe
while :; do
  case $drv$p in 1"$mnt"|1"$mnt"/*) ;; *)
    set -- $(stat -c '%u %a' -- "$p")
    [ "$1" = 0 ] && [ $(( 0$2 & 022 )) = 0 ] || no "$p is not root's alone (owner uid $1, mode $2): $exe is not run";;
  esac
  [ "$p" = / ] && break
  p=${p%/*}; [ -n "$p" ] || p=/
done
out=$(cd / && timeout 120 "$exe" -NoProfile -NonInteractive -Command "$cmd" </dev/null 2>/dev/null | head -c @MAXP1@ |
  base64 -w0)
printf 'out %s\n' "$out"
)"""


@dataclass(frozen=True)
class WindowsCert(Fact[WindowsRead]):
    """A certificate of the Windows store (``location``\\``store``, by ``thumbprint``) as
    powershell.exe prints it, read through WSL interop."""

    location: str
    store: str
    thumbprint: str

    def command(self) -> str:
        values = {"win": WINDOWS_EXE, "fallback": FALLBACK_EXE,
                  "cmd": command(self.location, self.store, self.thumbprint)}
        return ("(" + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()) + "\n"
                + _SCRIPT.replace("@MAXP1@", str(MAX_OUTPUT + 1)) + ")")

    def parse(self, lines: list[str]) -> WindowsRead:
        r = WindowsRead()
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "exe":
                r.exe = decode_b64(rest, "windows store").decode("utf-8", "surrogateescape")
            elif kind == "problem":
                r.problem = decode_b64(rest, "windows store").decode("utf-8", "surrogateescape")
            elif kind == "out":
                r.output = decode_b64(rest, "windows store")
        return r

    def describe(self) -> str:
        return f"Windows certificate {self.location}\\{self.store}\\{self.thumbprint}"
