"""Issue 3 end to end: WSL2 systemd on lab personas (booted Debian hosts whose /proc reads like a
WSL kernel, with wslinfo/wslpath, and WSL's restart rule), reached over SSH like any host."""

from __future__ import annotations

import pytest
from conftest import provision

pytestmark = pytest.mark.lab

SEED = (b"[user]\ndefault=dev\n\n"
        b"# mounts: keep\n[automount]\nenabled = true\noptions = \"metadata,umask=22,fmask=11\"\n")


def ssh_args(host) -> list[str]:
    return ["-H", host.name, "--ssh-config", str(host.fleet.ssh_config),
            "--known-hosts", str(host.fleet.known_hosts)]


def write(host, path: str, data: bytes) -> None:
    host.sh(f"cat > {path}", input=data)


def read(host, path: str) -> bytes:
    return host.sh(f"cat {path}").stdout


def resource(doc: dict, rid: str) -> dict:
    return next(r for r in doc["hosts"][0]["resources"] if r["id"] == rid)


def test_wsl2_fresh_apply_enables_systemd_restart_then_nothing_to_do(fleet_factory, jdk_root):
    host = fleet_factory(1, wsl=2, base=jdk_root).hosts[0]
    write(host, "/etc/wsl.conf", SEED)
    assert host.pid1_comm() == "init"

    # before: doctor names the cause (WSL2 without systemd) and the fix for this distro
    sick = provision("doctor", *ssh_args(host), "--json")
    assert sick.rc == 1, sick
    assert "System has not been booted with systemd" in sick.stderr
    assert "this is WSL2 without systemd" in sick.stderr
    assert "provision apply wsl-systemd" in sick.stderr
    assert f"wsl.exe --terminate Lab-{host.name}" in sick.stderr
    finding = next(f for f in sick.json["hosts"][0]["findings"] if f["check"] == "systemd")
    assert finding["status"] == "problem"

    first = provision("apply", *ssh_args(host), "--json")  # the default playbook: workstation
    assert first.rc == 0, first
    h = first.json["hosts"][0]
    assert resource(first.json, "wsl_systemd_conf")["status"] == "changed"
    assert resource(first.json, "java_home_profile")["status"] == "changed"  # profile.d on WSL
    restart = h["restart_required"]
    assert restart and restart["distro"] == f"Lab-{host.name}"
    assert restart["commands"] == [f"wsl.exe --terminate Lab-{host.name}", f"wsl.exe -d Lab-{host.name}"]
    assert "restart required" in first.stderr
    assert f"wsl.exe --terminate Lab-{host.name}" in first.stderr

    conf = read(host, "/etc/wsl.conf")
    assert conf == b"[boot]\nsystemd=true\n\n" + SEED, conf  # [user] and [automount] kept byte for byte
    assert conf.count(b"[boot]") == 1
    assert host.sh("dpkg-query -W -f='${db:Status-Abbrev}' systemd-sysv").stdout.startswith(b"ii")
    assert host.pid1_comm() == "init"  # nothing changes until the distro restarts

    # a second run before the restart: nothing to change, the restart still pending
    pending = provision("apply", *ssh_args(host), "--json")
    assert pending.rc == 0 and pending.json["hosts"][0]["changed"] == 0, pending
    assert pending.json["hosts"][0]["restart_required"]["pending"] is True
    assert "restart required (pending" in pending.stderr

    host.restart()
    assert host.pid1_comm() == "systemd"
    assert host.wait_system_running() in ("running", "degraded")

    second = provision("apply", *ssh_args(host), "--json")
    assert second.rc == 0, second
    assert second.json["hosts"][0]["changed"] == 0, second
    assert second.json["hosts"][0]["restart_required"] is None
    assert "restart required" not in second.stderr
    assert "systemd is already PID 1" in resource(second.json, "wsl_systemd_conf")["reason"]
    assert read(host, "/etc/wsl.conf") == conf

    # after the fix: doctor passes
    well = provision("doctor", *ssh_args(host), "--json")
    assert well.rc == 0, well
    statuses = {f["check"]: f["status"] for f in well.json["hosts"][0]["findings"]}
    assert statuses["systemd"] in ("ok", "warn") and statuses["JAVA_HOME"] == "ok" and statuses["java"] == "ok"
    # and a WSL login shell (profile.d) sees JAVA_HOME
    login = host.ssh("bash -lc 'echo $JAVA_HOME'", user="dev").stdout.decode().strip()
    assert login.startswith("/usr/lib/jvm/java-17-openjdk-"), login


def test_systemd_false_becomes_true_in_place_and_restart_wsl_explains(wsl2_host):
    host = wsl2_host
    write(host, "/etc/wsl.conf", b"[boot]\nsystemd=false\ncommand = echo hi\n[user]\ndefault=dev\n")
    run = provision("apply", "wsl-systemd", *ssh_args(host), "--json", "--restart-wsl")
    assert run.rc == 0, run
    conf = read(host, "/etc/wsl.conf")
    assert conf == b"[boot]\nsystemd=true\ncommand = echo hi\n[user]\ndefault=dev\n", conf
    assert conf.lower().count(b"systemd") == 1 and conf.count(b"[boot]") == 1
    assert "set boot.systemd=true at line 2 (was 'false')" in resource(run.json, "wsl_systemd_conf")["reason"]
    # the lab persona has no wsl.exe: --restart-wsl says why it cannot, and what to run instead
    assert "--restart cannot restart it from here: wsl.exe is not reachable" in run.stderr
    assert run.stderr.rstrip().endswith(f"wsl.exe -d Lab-{host.name}")
    assert host.pid1_comm() == "init"


def test_crlf_and_bom_are_repaired_and_an_invalid_line_is_reported(wsl2_host):
    host = wsl2_host
    write(host, "/etc/wsl.conf", b"\xef\xbb\xbf[user]\r\ndefault=dev\r\n")
    run = provision("apply", "wsl-systemd", *ssh_args(host), "--json")
    assert run.rc == 0, run
    reason = resource(run.json, "wsl_systemd_conf")["reason"]
    assert "byte-order mark" in reason and "CRLF" in reason, reason
    assert read(host, "/etc/wsl.conf") == b"[boot]\nsystemd=true\n\n[user]\ndefault=dev\n"

    bad = b"[network]\nstatic_ip = 10.0.0.2\n[boot]\nsystemd=false\n"
    write(host, "/etc/wsl.conf", bad)
    refused = provision("apply", "wsl-systemd", *ssh_args(host), "--json")
    assert refused.rc == 1, refused
    r = resource(refused.json, "wsl_systemd_conf")
    assert r["status"] == "failed"
    assert "/etc/wsl.conf:2:" in r["reason"] and "WSL stops reading the file there" in r["reason"]
    assert read(host, "/etc/wsl.conf") == bad  # nothing written


def test_doctor_names_the_line_wsl_stops_at_above_boot(wsl2_host):
    host = wsl2_host
    conf = b"[user]\ndefault=dev\n[ boot ]\n\n[boot]\nsystemd=true\n"
    write(host, "/etc/wsl.conf", conf)
    doc = provision("doctor", *ssh_args(host), "--json")
    assert doc.rc == 1, doc
    finding = next(f for f in doc.json["hosts"][0]["findings"] if f["check"] == "systemd")
    assert finding["status"] == "problem"
    assert ("line 3 `[ boot ]`: blanks inside a section header: WSL stops reading the file here, so "
            "boot.systemd=true on line 6 is never seen") in finding["summary"], finding
    assert "fix or remove line 3 of /etc/wsl.conf" in finding["fix"]
    refused = provision("apply", "wsl-systemd", *ssh_args(host), "--json")
    assert refused.rc == 1 and "/etc/wsl.conf:3: blanks inside a section header" in \
        resource(refused.json, "wsl_systemd_conf")["reason"], refused
    assert read(host, "/etc/wsl.conf") == conf


def test_not_wsl_host_skips_the_wsl_steps_with_the_reason(ssh_host):
    run = provision("apply", "wsl-systemd", *ssh_args(ssh_host), "--json")
    assert run.rc == 0, run
    r = resource(run.json, "wsl_systemd_conf")
    assert r["status"] == "skipped" and r["reason"].startswith("not WSL (kernel ")
    assert run.json["hosts"][0]["restart_required"] is None
    assert "restart required" not in run.stderr
    assert ssh_host.sh("test -e /etc/wsl.conf", check=False).returncode != 0


def test_wsl1_is_refused_with_the_conversion_command(wsl1_host):
    host = wsl1_host
    run = provision("apply", "wsl-systemd", *ssh_args(host), "--json")
    assert run.rc == 1, run
    r = resource(run.json, "wsl_systemd_conf")
    assert r["status"] == "failed"
    assert f"wsl --set-version Lab-{host.name} 2" in r["reason"]
    assert host.sh("test -e /etc/wsl.conf", check=False).returncode != 0

    doc = provision("doctor", *ssh_args(host))
    assert doc.rc == 1 and "WSL1, which cannot run systemd" in doc.stderr, doc


def test_doctor_in_a_chroot_of_a_wsl2_root_says_wsl_conf_does_not_apply(wsl2_host):
    # A chroot target mounts its own /proc: the machine's kernel, PID 1 outside the root.
    run = provision("doctor", "-H", f"chroot:{wsl2_host.root.path}", "--json")
    finding = next(f for f in run.json["hosts"][0]["findings"] if f["check"] == "systemd")
    assert finding["status"] == "warn"
    assert "this is a chroot" in finding["summary"] and "/etc/wsl.conf does not apply" in finding["summary"]


FAKE_WSL_EXE = """#!/bin/sh
# lab: a stand-in for Windows' wsl.exe reached through interop. --version answers in UTF-16LE with a
# BOM (as wsl.exe does without WSL_UTF8); --terminate stops this persona the way WSL stops a distro
# (PID 1 of the persona, /init, exits on TERM and takes every process of the distro with it).
case "$1" in
  --version) cat /usr/local/share/wsl-version.utf16 ;;
  --terminate) [ "$2" = "@DISTRO@" ] || { echo "There is no distribution with the supplied name." >&2; exit 1; }
               echo "$*" > /run/lab/wsl-exe.log; kill -TERM 1 ;;
  *) echo "wsl.exe: unsupported: $*" >&2; exit 1 ;;
esac
"""


def test_restart_wsl_terminates_the_distro_through_interop(fleet_factory):
    import time

    host = fleet_factory(1, wsl=2, wsl_version=None).hosts[0]  # no wslinfo: the version comes from wsl.exe
    version = "\ufeffWSL-Version: 2.3.26.0\r\nKernelversion: 5.15.167.4-1\r\n".encode("utf-16-le")
    host.sh("mkdir -p /usr/local/share && cat > /usr/local/share/wsl-version.utf16", input=version)
    host.sh("cat > /usr/local/bin/wsl.exe && chmod 755 /usr/local/bin/wsl.exe",
            input=FAKE_WSL_EXE.replace("@DISTRO@", f"Lab-{host.name}").encode())

    facts = provision("facts", "wsl-systemd", *ssh_args(host), "--json")
    assert facts.rc == 0, facts
    w = next(h for h in facts.json["hosts"] if h["host"] == host.name)["host_facts"]["wsl"]
    assert (w["version"], w["wsl_version"], w["wsl_version_source"]) == (2, "2.3.26.0", "wsl.exe")
    assert w["wsl_exe"] == "/usr/local/bin/wsl.exe" and w["distro"] == f"Lab-{host.name}"

    run = provision("apply", "wsl-systemd", *ssh_args(host), "--json", "--restart-wsl")
    assert run.rc == 0, run
    assert run.json["hosts"][0]["restart_required"]["wsl_exe"] == "/usr/local/bin/wsl.exe"
    assert f"running /usr/local/bin/wsl.exe --terminate Lab-{host.name}. This session ends now" in run.stderr
    deadline = time.monotonic() + 30
    while host._proc.poll() is None and time.monotonic() < deadline:  # the persona stopped
        time.sleep(0.1)
    assert host._proc.poll() is not None, "the distro is still running"
    assert (host.home / "log" / "wsl-exe.log").read_text() == f"--terminate Lab-{host.name}\n"

    host.restart()  # what `wsl.exe -d <distro>` does on Windows
    assert host.pid1_comm() == "systemd"
    assert host.wait_system_running() in ("running", "degraded")
    again = provision("apply", "wsl-systemd", *ssh_args(host), "--json", "--restart-wsl")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
    assert "no restart required" in again.stderr


def test_an_image_for_wsl_import_gets_wsl_conf_and_profile_d_with_assume(converged_root):
    """A root file system that will become a WSL distro cannot be detected as one: --assume wsl=2
    writes what WSL reads (wsl.conf with systemd, systemd-sysv, profile.d) and says how to import it."""
    target = ["-H", converged_root.target]
    skipped = provision("plan", "workstation", *target, "--json")
    assert skipped.rc == 0 and skipped.json["hosts"][0]["resources"][-1]["status"] == "skipped", skipped
    first = provision("apply", "workstation", *target, "--assume", "wsl=2", "--json")
    assert first.rc == 0, first
    assert converged_root.file("/etc/wsl.conf").read_text() == "[boot]\nsystemd=true\n"
    assert 'export JAVA_HOME="/usr/lib/jvm/java-17-openjdk-amd64"' in \
        converged_root.file("/etc/profile.d/jdk.sh").read_text()
    assert converged_root.sh("test -x /sbin/init", check=False).returncode == 0
    assert "wsl --import <Name> <InstallFolder> <rootfs.tar>" in first.stderr, first
    again = provision("apply", "workstation", *target, "--assume", "wsl=2", "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
    refused = provision("plan", "workstation", "--assume", "wsl=2")  # this machine: it is asked, not assumed
    assert refused.rc == 2 and "--assume is for chroot targets" in refused.stderr, refused
    bad = provision("plan", "workstation", *target, "--assume", "wsl=3")
    assert bad.rc == 2 and "only wsl=0, wsl=1 or wsl=2" in bad.stderr, bad
