"""Issue 23 item 1 end to end: ``-H wsl:DISTRO`` through a wsl.exe stand-in (tests/lab/wslexe.py)
over a lab WSL2 persona. One ``provision apply`` takes the distro from no systemd to a verified
systemd PID 1 with JDK 17 and JAVA_HOME: the stand-in's --terminate stops the persona's PID
namespace, its next command boots it the lab's way (WSL's rule for /etc/wsl.conf)."""

from __future__ import annotations

import os

import pytest
from conftest import provision
from lab.wslexe import WslExe

pytestmark = pytest.mark.lab

DISTRO = "Ubuntu-24.04"


PLANT = r"""set -e
d=/mnt/c/Users/dev/AppData/Local/Microsoft/WindowsApps
mkdir -p "$d" && chown -R dev:dev /mnt/c/Users
printf '#!/bin/sh\ntouch /var/tmp/pwned-by-$(id -u)\n' > "$d/wsl.exe"
chown dev:dev "$d/wsl.exe" && chmod 755 "$d/wsl.exe"
"""


def on_path(wsl: WslExe) -> dict[str, str]:
    return {"PATH": f"{wsl.bin}:{os.environ['PATH']}"}


def resource(doc: dict, rid: str) -> dict:
    return next(r for r in doc["hosts"][0]["resources"] if r["id"] == rid)


def test_one_apply_through_wsl_exe_ends_with_systemd_pid1_jdk17_and_java_home(wsl2_host):
    host = wsl2_host  # the plain base: no systemd-sysv, no JDK, no wsl.conf
    assert host.pid1_comm() == "init"
    # the distro's user 1000 plants a wsl.exe in a Windows directory WSL appends to PATH
    host.sh(PLANT)
    with WslExe({DISTRO: host, "Debian": host}) as wsl:
        env = on_path(wsl)
        run = provision("apply", "-H", f"wsl:{DISTRO}", "--json", env=env)  # the default playbook
        assert run.rc == 0, run
        h = run.json["hosts"][0]
        assert h["host"] == f"wsl:{DISTRO}" and h["failed"] == 0, run
        assert resource(run.json, "wsl_systemd_conf")["status"] == "changed"
        restart = h["restart_required"]
        assert restart and restart["distro"] == DISTRO, restart  # read inside: $WSL_DISTRO_NAME
        # the loop closed from outside, after the results
        assert f"{wsl.exe} --terminate {DISTRO}" in run.stderr, run
        assert f"restarted {DISTRO} in " in run.stderr and "PID 1 is systemd" in run.stderr, run
        state = run.stderr.split("systemctl is-system-running: ", 1)[1].split()[0]
        assert state in ("running", "degraded"), run.stderr
        calls = wsl.calls()
        assert calls[0] == ["-l", "-v"]
        assert ["--terminate", DISTRO] in calls
        after = calls[calls.index(["--terminate", DISTRO]) + 1:]
        assert after[0] == ["-d", DISTRO, "--exec", "true"], after  # the start
        assert any("is-system-running" in c and "--wait" in c for c in after), after
        assert all(c[:6] == ["-d", DISTRO, "-u", "root", "--exec", "sh"] for c in calls
                   if c[:1] == ["-d"] and c != ["-d", DISTRO, "--exec", "true"]), calls

        # the persona really restarted into systemd, with the JDK and JAVA_HOME
        assert host.pid1_comm() == "systemd"
        assert host.wait_system_running() in ("running", "degraded")
        login = host.ssh("bash -lc 'echo $JAVA_HOME; java -version 2>&1 | head -1'", user="dev")
        home, version = login.stdout.decode().split("\n")[:2]
        assert home.startswith("/usr/lib/jvm/java-17-openjdk-"), login
        assert 'version "17.' in version, login

        assert host.sh("ls /var/tmp/pwned-* 2>/dev/null || true").stdout == b"", "root ran the planted wsl.exe"

        # through the same target: nothing left to do, no restart; verify passes
        again = provision("apply", "-H", f"wsl:{DISTRO}", "--json", env=env)
        assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
        assert again.json["hosts"][0]["restart_required"] is None
        assert "--terminate" not in again.stderr
        checked = provision("verify", "-H", f"wsl:{DISTRO}", env=env)
        assert checked.rc == 0, checked
        well = provision("doctor", "-H", f"wsl:{DISTRO}", "--json", env=env)
        assert well.rc == 0, well
        statuses = {f["check"]: f["status"] for f in well.json["hosts"][0]["findings"]}
        assert statuses["systemd"] in ("ok", "warn") and statuses["JAVA_HOME"] == "ok", statuses

        # an unknown name: one line naming the installed ones; nothing run in any distro
        n = len(wsl.calls())
        wrong = provision("plan", "-H", "wsl:Ubunto", env=env)
        assert wrong.rc != 0, wrong
        assert "wsl:Ubunto: no such WSL distro; installed: Ubuntu-24.04 (WSL2), Debian (WSL2)" in wrong.stderr
        assert wsl.calls()[n:] == [["-l", "-v"]]


def test_no_restart_wsl_leaves_the_distro_running(wsl2_host):
    host = wsl2_host
    with WslExe({DISTRO: host}) as wsl:
        run = provision("apply", "wsl-systemd", "-H", f"wsl:{DISTRO}", "--no-restart", "--json",
                        env=on_path(wsl))
        assert run.rc == 0, run
        assert run.json["hosts"][0]["restart_required"]["distro"] == DISTRO
        assert not any(c[:1] == ["--terminate"] for c in wsl.calls())
        assert host.pid1_comm() == "init"
        assert f"wsl.exe --terminate {DISTRO}" in run.stderr  # the commands to run, as before


@pytest.mark.parametrize("name", ["-d", "--terminate", "x;reboot", "$(touch${IFS}/tmp/pwned)", "a`id`"])
def test_hostile_distro_names_never_reach_wsl_exe(name):
    with WslExe({}) as wsl:
        run = provision("plan", "-H", f"wsl:{name}", env=on_path(wsl))
        assert run.rc == 2, run
        assert "distro name" in run.stderr and len(run.stderr.strip().splitlines()) == 1, run
        assert wsl.calls() == []
