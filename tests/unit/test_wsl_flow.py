"""The WSL flow through the engine and the report, without a host: a fake connection answers the
facts script with a WSL2 persona's output. Checks skip, "restart required" (made now or pending)
in the console output and in --json, and what `apply --restart-wsl` decides."""

from __future__ import annotations

import base64
import io

import pytest
from fakehost import FakeHost

from provision import engine, playbook
from provision.plan import Restart
from provision.report import ConsoleReporter, document
from provision.restarts import restart_hosts
from provision.targets import Target
from provision.wsl import WslDistro


def facts_output(*, kernel: str, pid1: str, wsl_lines: list[str], wsl_conf: bytes | None) -> list[tuple[str, str]]:
    """Answers for the facts script's sections: a Debian 12 host with this kernel and wsl.conf."""
    host = "\n".join(["os ID=debian", 'os VERSION_ID="12"', "os VERSION_CODENAME=bookworm", "arch amd64",
                      f"kernel {kernel}", f"proc-version Linux version {kernel}", f"pid1 {pid1}",
                      *(f"wsl {line}" for line in wsl_lines)])
    conf = "" if wsl_conf is None else "644 0 0 root root regular file\n" + base64.b64encode(wsl_conf).decode()
    return [(r"f=/etc/os-release", host), (r"p=/etc/wsl.conf f=0", conf),
            (r"dpkg-query -W", "systemd-sysv\tii \t252.33-1~deb12u1"),
            (r"find /var/lib/apt/lists", "1800000000\n1799999000")]


WSL2 = dict(kernel="5.15.167.4-microsoft-standard-WSL2",
            wsl_lines=["binfmt /proc/sys/fs/binfmt_misc/WSLInterop", "run-wsl", "init", "sbin-init",
                       "wslpath //wsl.localhost/Ubuntu-24.04/", "wslinfo 2.3.26"])


def run(out: str, mode: str):
    pb = playbook.load("wsl-systemd")
    stream = io.StringIO()
    host = FakeHost(out)
    results = engine.run(pb, [Target("wsl", "ssh")], mode, ConsoleReporter(stream=stream),
                         connect=lambda t: host)
    return results[0], stream.getvalue(), document("apply", pb.name, mode, results), host


def test_plan_says_restart_required_with_the_distro_commands():
    out = facts_output(pid1="init", wsl_conf=b"[user]\ndefault=dev\n", **WSL2)
    result, text, doc, host = run(out, engine.PLAN)
    assert result.changed == 1 and not result.failed
    r = doc["hosts"][0]["restart_required"]
    assert r["commands"] == ["wsl.exe --terminate Ubuntu-24.04", "wsl.exe -d Ubuntu-24.04"]
    assert r["pending"] is False and r["distro"] == "Ubuntu-24.04"
    assert "restart required after this apply: WSL reads /etc/wsl.conf only when the distro starts" in text
    assert text.rstrip().splitlines()[-1].strip().startswith("then check:")  # at the end of the host's output
    assert host.commands == [] and host.fact_scripts == 1  # plan ran only the facts script, once


def test_apply_pending_restart_changes_nothing_but_says_so():
    out = facts_output(pid1="init", wsl_conf=b"[boot]\nsystemd=true\n", **WSL2)
    result, text, doc, host = run(out, engine.APPLY)
    assert result.changed == 0 and doc["hosts"][0]["restart_required"]["pending"] is True
    assert "restart required (pending" in text
    assert host.commands == [] and host.fact_scripts == 1  # the facts script, nothing written


def test_systemd_running_no_restart():
    out = facts_output(pid1="systemd", wsl_conf=b"[boot]\nsystemd=true\n", **WSL2)
    result, text, doc, _ = run(out, engine.APPLY)
    assert doc["hosts"][0]["restart_required"] is None and "restart required" not in text
    assert result.resources[0].status == "ok" and "systemd is already PID 1" in result.resources[0].reason


def test_not_wsl_is_skipped_with_the_reason():
    out = facts_output(kernel="6.1.0-28-amd64", pid1="systemd", wsl_lines=[], wsl_conf=None)
    result, text, doc, _ = run(out, engine.APPLY)
    res = doc["hosts"][0]["resources"][0]
    assert res["status"] == "skipped" and res["reason"].startswith("not WSL (kernel 6.1.0-28-amd64")
    assert doc["hosts"][0]["restart_required"] is None


def _restart(distro: str, exe: str, commands: tuple[str, ...] = ()) -> Restart:
    return Restart("r", "From Windows", commands, by=WslDistro(2, distro, exe))


@pytest.mark.parametrize("restart,failed,expect", [
    (None, False, "no restart required"),
    (_restart("Ubuntu", "", ("wsl.exe --terminate Ubuntu",)), False, "wsl.exe is not reachable through interop"),
    (_restart("", "/x/wsl.exe"), False, "name is unknown"),
    (_restart("Ubuntu", "/x/wsl.exe"), True, "the run failed"),
    (_restart("Ubuntu", "/x/wsl.exe"), False, "This session ends now"),
    (Restart("r", "From Windows", (), by=WslDistro(2, "Img", "/x/wsl.exe", assumed=True)), False,
     "this root is an image"),
    (Restart("r", "From Windows", ("reboot it",)), False, "nothing here can restart it"),
])
def test_restart_wsl_decisions(restart, failed, expect):
    result = engine.HostResult("wsl", failed=failed, restart_required=restart)
    lines: list[str] = []
    host = FakeHost([])
    restart_hosts([result], [Target("wsl", "ssh")], lambda t: host, lines.append, inside=True)
    assert any(expect in line for line in lines), lines
    ran = [c for c in host.commands]
    assert ran == ([["/x/wsl.exe", "--terminate", "Ubuntu"]] if expect == "This session ends now" else [])


@pytest.mark.parametrize("kind, says, never", [
    ("ssh", "`provision apply --restart` here", "restarts it from this machine"),
    ("wsl", "`provision apply` restarts it from this machine after the run, unless --no-restart", "--restart` here"),
])
def test_the_restart_hint_fits_the_connection(kind, says, never):
    """A wsl: target is restarted from outside by apply itself: telling its user to run
    `apply --restart` inside the distro would end the session for nothing."""
    out = facts_output(pid1="init", wsl_conf=b"[user]\ndefault=dev\n", **WSL2)
    pb = playbook.load("wsl-systemd")
    stream = io.StringIO()
    results = engine.run(pb, [Target("Ubuntu-24.04", kind)], engine.PLAN, ConsoleReporter(stream=stream),
                         connect=lambda t: FakeHost(out))
    text, doc = stream.getvalue(), document("plan", pb.name, engine.PLAN, results)
    assert says in text and never not in text, text
    assert any(says in note for note in doc["hosts"][0]["restart_required"]["notes"])
