"""Issue 23 items 3 and 4 on a lab WSL2 persona: a fake Windows drive (/mnt/c with a Windows JDK,
a JDK unpacked on it, a project tree, a UTF-16 .wslconfig), the Windows-side environment (PATH,
JAVA_HOME, WSLENV, USERPROFILE) given to the login through pam_env, and root's home (so the SSH
session's directory) inside the project. The real `provision doctor` over SSH finds each case."""

from __future__ import annotations

import pytest
from conftest import provision

pytestmark = pytest.mark.lab

FILES = 1500
ESC = "\x1b]52;c;cHduZWQ=\x07"  # OSC 52: would write the controller's clipboard
WIN_JDK = "/mnt/c/Program Files/Eclipse Adoptium/jdk-21.0.5.11-hotspot/bin"
EVIL = f"/mnt/c/evil{ESC}/bin"  # Windows's PATH is the Windows user's: anything can be in it
PROJECT = "/mnt/c/Users/lab/src/shop"
WSLCONFIG = ("[wsl2]\r\nmemory=8gb\r\nprocessors=4\r\nautoMemoryReclaim=gradual\r\n"
             "[experimental]\r\nautoProxy=false\r\n")

SETUP = f"""set -e
mkdir -p '{WIN_JDK}' /mnt/c/tools/jdk-17/bin /mnt/c/Windows/System32 '{PROJECT}/src' "$(printf '{EVIL}')"
printf 'MZ' > '{WIN_JDK}/java.exe'
printf 'MZ' > "$(printf '{EVIL}')/java.exe"
printf '#!/bin/sh\\necho fake\\n' > /mnt/c/tools/jdk-17/bin/java; chmod 755 /mnt/c/tools/jdk-17/bin/java
cd '{PROJECT}/src' && i=0 && while [ $i -lt {FILES} ]; do : > "f$i.java"; i=$((i + 1)); done
: > "$(printf 'x\\033[2Jname')"
# root's home (the SSH session's directory) in the project on the Windows drive
cp -a /root/.ssh '{PROJECT}/.ssh'
sed -i 's|^\\(root:[^:]*:0:0:[^:]*:\\)/root:|\\1{PROJECT}:|' /etc/passwd
cat >> /etc/environment <<'ENV'
PATH="/mnt/c/tools/jdk-17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{WIN_JDK}:/mnt/c/Windows/System32"
JAVA_HOME="/mnt/c/Program Files/Eclipse Adoptium/jdk-21.0.5.11-hotspot"
WSLENV="WT_SESSION:JAVA_HOME/p:USERPROFILE/p"
USERPROFILE=/mnt/c/Users/lab
ENV
"""


def ssh_args(host) -> list[str]:
    return ["-H", host.name, "--ssh-config", str(host.fleet.ssh_config),
            "--known-hosts", str(host.fleet.known_hosts)]


def test_doctor_finds_each_crossover_case_and_the_wslconfig_lines(wsl2_host):
    host = wsl2_host
    host.sh(SETUP)
    host.sh("cat > /mnt/c/Users/lab/.wslconfig", input=b"\xff\xfe" + WSLCONFIG.encode("utf-16-le"))
    # Windows's PATH, appended by WSL, with a hostile directory name in it
    host.sh(f"""sed -i 's|:/mnt/c/Windows/System32"$|:/mnt/c/Windows/System32:'"$(printf '{EVIL}')"'"|' \
               /etc/environment""")

    r = provision("doctor", *ssh_args(host), "--json")
    assert r.rc == 1, r
    by = {}
    for f in r.json["hosts"][0]["findings"]:
        by.setdefault(f["check"], []).append(f)
    text = r.stderr

    # PATH: java from the Windows drive first; a Windows JDK (java.exe) on PATH
    assert "`java` resolves to /mnt/c/tools/jdk-17/bin/java (PATH entry 1), on the Windows drive" in text
    assert f"PATH entry 8 {WIN_JDK} is a Windows JDK (java.exe)" in text
    assert {f["status"] for f in by["PATH"]} == {"problem", "warn"}
    # WSLENV and JAVA_HOME
    assert "WSLENV shares Windows's JAVA_HOME into WSL (JAVA_HOME/p, translated to a /mnt/ path)" in text
    assert "JAVA_HOME=/mnt/c/Program Files/Eclipse Adoptium/jdk-21.0.5.11-hotspot is a Windows path" in text
    assert any(f["status"] == "problem" for f in by["JAVA_HOME"])
    # the project directory, with its file count: FILES + src + the hostile file + .ssh (2) + "."
    assert f"the current directory {PROJECT} ({FILES + 5} files) is on the Windows drive: builds there are " \
           "many times slower" in text
    # appendWindowsPath (default true) and interop (the persona's WSLInterop entry)
    assert ("WSL appends Windows's PATH (4 Windows directories on PATH; [interop] appendWindowsPath is "
            "not set") in text
    assert any(f["status"] == "ok" and "interop is on (WSLInterop enabled)" in f["summary"] for f in by["interop"])
    # .wslconfig, UTF-16 LE with a BOM and CRLF, by WSL's rules
    assert "/mnt/c/Users/lab/.wslconfig line 2: wsl2.memory: '8gb' is not a size WSL accepts" in text
    assert "line 4: wsl2.autoMemoryReclaim: autoMemoryReclaim belongs in [experimental], not [wsl2]" in text
    assert "line 6: experimental.autoProxy: now wsl2.autoProxy" in text

    # hostile names: the escape sequence is shown escaped, never sent to the terminal; file names
    # in the project are never printed
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b]52;c;cHduZWQ=\\x07/bin" in text
    assert "name" not in "".join(f["summary"] for f in r.json["hosts"][0]["findings"] if f["check"] == "directory")


def test_a_clean_wsl_shell_has_no_crossover(wsl2_host):
    r = provision("doctor", *ssh_args(wsl2_host), "--json")
    found = r.json["hosts"][0]["findings"]
    assert any(f["check"] == "crossover" and f["status"] == "ok" for f in found), found
    assert not [f for f in found if f["check"] in ("PATH", "WSLENV", "directory")], found
    wslconfig = [f for f in found if f["check"] == "wslconfig"]
    assert wslconfig and wslconfig[0]["status"] == "info", wslconfig  # no USERPROFILE, no cmd.exe
