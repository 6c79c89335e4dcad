"""A stand-in for Windows PowerShell's ``powershell.exe`` on a lab WSL persona, answering the one
question provision asks it: a certificate of the Windows store, by thumbprint.

``install(host, {"LocalMachine/Root": [pem_path, ...]})`` writes, inside the persona,

- the store: each certificate's DER as ``/mnt/c/ProgramData/lab-certstore/<Location>/<Store>/
  <THUMBPRINT>.cer`` (the thumbprint is the SHA-1 of the DER, upper-case hex, as Windows shows it);
- ``/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe`` (Windows's own place; a
  POSIX sh script here, owned by root as the lab's /mnt/c is).

What the executable imitates (Windows PowerShell 5.1 started through WSL interop with stdout and
stderr on pipes):

- it accepts ``-NoProfile -NonInteractive -Command CMD`` only, and answers CMD of the form
  provision.wincert.command() makes: ``Get-ChildItem -LiteralPath 'Cert:\\<Location>\\<Store>' |
  Where-Object { $_.Thumbprint -eq '<T>' } | ForEach-Object { '<mark> ' + [Convert]::
  ToBase64String($_.RawData) }; '<end>'`` — one line ``<mark> <base64 of the DER>`` for a
  certificate with that thumbprint in the store, then the end line;
- stdout is written in the console's output encoding set to Unicode (``[Console]::OutputEncoding
  = [Text.Encoding]::Unicode``, the workaround microsoft/WSL#4607 shows): UTF-16LE with a
  byte-order mark, CRLF line ends (Windows's);
- stderr gets the CLIXML progress record Windows PowerShell serialises for a redirected stream on
  first module use (``#< CLIXML`` then ``<Objs …><Obj S="progress" …>Preparing modules for first
  use.…</Objs>``: PowerShell/PowerShell#5912, ansible/ansible#67964);
- with ``/mnt/c/ProgramData/lab-certstore/inject`` present, its bytes are written (UTF-16LE) to
  stdout before the answer: what a hostile Windows-side profile or program could print.

Each call is logged (the caller's uid and argv) to ``/mnt/c/ProgramData/lab-certstore/calls.log``.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

EXE = "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
STORE = "/mnt/c/ProgramData/lab-certstore"

CLIXML = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
          '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
          '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for '
          'first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR>'
          '</MS></Obj></Objs>\r\n')

SCRIPT = r"""#!/bin/sh
# lab: Windows PowerShell's powershell.exe (tests/lab/wslps.py)
store=@STORE@
printf '%s %s\n' "$(id -u)" "$*" >> "$store/calls.log"
[ "$1" = -NoProfile ] && [ "$2" = -NonInteractive ] && [ "$3" = -Command ] && [ $# = 4 ] || {
  printf 'lab powershell.exe: unsupported arguments\r\n' | iconv -f UTF-8 -t UTF-16LE >&2; exit 1; }
cmd=$4
where=$(printf '%s' "$cmd" | sed -n "s/.*-LiteralPath 'Cert:\\\\\([A-Za-z]*\)\\\\\([A-Za-z]*\)'.*/\1\/\2/p")
thumb=$(printf '%s' "$cmd" | sed -n "s/.*Thumbprint -eq '\([0-9A-F]*\)'.*/\1/p")
mark=$(printf '%s' "$cmd" | sed -n "s/.*ForEach-Object { '\([a-z-]*\) ' + .*/\1/p")
end=$(printf '%s' "$cmd" | sed -n "s/.*; '\([a-z-]*\)'$/\1/p")
printf '%s' @CLIXML@ | iconv -f UTF-8 -t UTF-16LE >&2
{
  [ -f "$store/inject" ] && cat "$store/inject"
  f="$store/$where/$thumb.cer"
  if [ -n "$where" ] && [ -n "$thumb" ] && [ -f "$f" ]; then printf '%s %s\r\n' "$mark" "$(base64 -w0 "$f")"; fi
  printf '%s\r\n' "$end"
} | iconv -f UTF-8 -t UTF-16LE > "$store/.out.$$"
printf '\377\376'; cat "$store/.out.$$"; rm -f "$store/.out.$$"
"""


def der(pem: Path) -> bytes:
    return subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER"], capture_output=True,
                          check=True).stdout


def thumbprint(pem: Path) -> str:
    return hashlib.sha1(der(pem)).hexdigest().upper()


def install(host, stores: dict[str, list[Path]]) -> None:
    """The stand-in and its store in ``host`` (a booted lab persona), as root."""
    import shlex

    script = SCRIPT.replace("@STORE@", STORE).replace("@CLIXML@", shlex.quote(CLIXML))
    host.sh(f"mkdir -p {shlex.quote(EXE.rsplit('/', 1)[0])} {STORE} && cat > {shlex.quote(EXE)} && "
            f"chmod 755 {shlex.quote(EXE)}", input=script.encode())
    for where, pems in stores.items():
        host.sh(f"mkdir -p {STORE}/{where}")
        for pem in pems:
            host.sh(f"cat > {STORE}/{where}/{thumbprint(pem)}.cer", input=der(pem))


def inject(host, text: str) -> None:
    """Bytes the stand-in writes before its answer (hostile output)."""
    host.sh(f"cat > {STORE}/inject", input=text.encode())


def calls(host) -> list[str]:
    return host.sh(f"cat {STORE}/calls.log 2>/dev/null || true").stdout.decode().splitlines()
