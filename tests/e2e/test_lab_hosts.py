"""The lab's booted hosts are what the other end-to-end tests take them for: real sshd on a
loopback address with checked host keys, a sudo-capable ``dev``, WSL personas, WSL's restart rule
(systemd as PID 1 once /etc/wsl.conf asks for it), and nothing left behind after teardown."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import lab
import pytest
from lab.hosts import Fleet, _listening

pytestmark = pytest.mark.lab


def _mounts() -> str:
    return subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout


def test_root_ssh_with_generated_known_hosts(ssh_host):
    fleet = ssh_host.fleet
    assert fleet.known_hosts.read_text() == ssh_host.host_key_line() + "\n"
    assert ssh_host.host_key_line().startswith(f"{ssh_host.name},{ssh_host.address} ssh-ed25519 AAAA")
    assert "StrictHostKeyChecking yes" in fleet.ssh_config.read_text()
    assert fleet.key.stat().st_mode & 0o777 == 0o600

    proc = ssh_host.ssh("id -u; hostname; cat /proc/1/comm")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == ["0", ssh_host.name, "init"]
    assert ssh_host.pid1_comm() == "init"
    assert "req exec" in ssh_host.sshd_log()

    # StrictHostKeyChecking really checks: a wrong key for the host is refused.
    other = fleet.dir / "wrong_known_hosts"
    lab.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fleet.dir / "other")])
    kind, key = (fleet.dir / "other.pub").read_text().split()[:2]
    other.write_text(f"{ssh_host.name},{ssh_host.address} {kind} {key}\n")
    refused = lab.run(["ssh", "-F", str(fleet.ssh_config), "-o", f"UserKnownHostsFile={other}",
                       ssh_host.name, "true"], check=False)
    assert refused.returncode == 255
    assert b"host key" in refused.stderr.lower() or b"verification failed" in refused.stderr.lower()


def test_pam_env_reaches_ssh_sessions(ssh_host):
    ssh_host.sh("echo LAB_PROBE=from-pam-env >> /etc/environment")
    proc = ssh_host.ssh("echo $LAB_PROBE", user="dev")
    assert proc.stdout.decode().strip() == "from-pam-env"
    # Only what the running host did is in the overlay's upper layer, not the lab's own setup.
    assert "/etc/environment" in ssh_host.root.changed_paths()
    assert "/etc/ssh/ssh_host_ed25519_key" not in ssh_host.root.changed_paths()


def test_dev_sudo_nopasswd_and_with_password(fleet_factory):
    fleet = fleet_factory(2, sudo_password="s3cret pw", password_hosts={1})
    free, guarded = fleet.hosts

    proc = free.ssh("id -un; sudo -n id -u", user="dev")
    assert proc.stdout.decode().split() == ["dev", "0"], proc.stderr

    assert guarded.ssh("sudo -n true", user="dev").returncode != 0
    proc = guarded.ssh("printf '%s\\n' 's3cret pw' | sudo -S -p '' id -u", user="dev")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "0"
    assert guarded.ssh("printf 'wrong\\n' | sudo -S -p '' id -u", user="dev").returncode != 0
    assert guarded.sh("getent passwd dev").stdout.decode().strip().endswith(":1000:1000::/home/dev:/bin/bash")


def test_wsl2_persona_looks_like_wsl(wsl2_host):
    proc = wsl2_host.ssh("cat /proc/sys/kernel/osrelease /proc/version; "
                         "cat /proc/sys/fs/binfmt_misc/WSLInterop; wslinfo --wsl-version; wslpath -am /")
    out = proc.stdout.decode()
    assert out.startswith("5.15.167.4-microsoft-standard-WSL2\n"
                          "Linux version 5.15.167.4-microsoft-standard-WSL2 ")
    assert "interpreter /init\n" in out
    assert out.endswith(f"2.3.26\n//wsl.localhost/Lab-{wsl2_host.name}/\n")
    # This machine's own /proc is untouched.
    assert "microsoft" not in Path("/proc/sys/kernel/osrelease").read_text().lower()


def test_wsl1_persona(wsl1_host):
    out = wsl1_host.sh("cat /proc/sys/kernel/osrelease /proc/version").stdout.decode()
    assert out.startswith("4.4.0-19041-Microsoft\n"
                          "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com)")
    assert wsl1_host.sh("test -e /proc/sys/fs/binfmt_misc/WSLInterop", check=False).returncode == 0


def test_wsl2_restart_follows_wsl_conf(wsl2_host):
    host = wsl2_host
    assert host.sh("test -e /sbin/init", check=False).returncode != 0  # a fresh distro: no systemd

    first = host.pid
    host.restart()  # no wsl.conf: the plain init again, in a new PID namespace
    assert host.pid != first and host.pid1_comm() == "init"

    # systemd=true but no systemd installed yet: WSL boots its own init.
    host.sh("printf '[boot]\\nsystemd=true\\n' > /etc/wsl.conf")
    host.restart()
    assert host.pid1_comm() == "init"

    # From the base's prefetched .debs: nothing to download.
    proc = host.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd-sysv")
    assert b"Need to get 0 B" in proc.stdout, proc.stdout.decode()[-2000:]
    t0 = time.monotonic()
    host.restart()
    took = time.monotonic() - t0
    assert host.pid1_comm() == "systemd"
    assert host.wait_system_running() in ("running", "degraded")
    proc = host.ssh("cat /proc/1/comm; systemctl is-system-running; systemd-detect-virt")
    assert proc.stdout.decode().split()[0] == "systemd", proc.stderr
    assert proc.stdout.decode().split()[2] == "wsl"
    assert host.ssh("sudo -n true", user="dev").returncode == 0
    assert took < 30

    # CRLF line endings are read like LF (WSL's parser ends lines at a CR too): systemd again.
    host.sh("printf '[boot]\\r\\nsystemd=true\\r\\n' > /etc/wsl.conf")
    host.restart()
    assert host.pid1_comm() == "systemd"
    # An invalid line above [boot] stops WSL's parse: back to the plain init.
    host.sh("printf '[ boot ]\\n[boot]\\nsystemd=true\\n' > /etc/wsl.conf")
    host.restart()
    assert host.pid1_comm() == "init"
    assert host.ssh("true").returncode == 0


def test_fleet_boots_in_parallel_and_leaves_nothing(base_root):
    t0 = time.monotonic()
    with Fleet(base_root, 3) as fleet:
        booted = time.monotonic() - t0
        pids = [h.pid for h in fleet.hosts]
        addresses = {h.address for h in fleet.hosts}
        assert len(addresses) == 3
        for host in fleet.hosts:
            assert host.ssh("hostname").stdout.decode().strip() == host.name
        # Every host keeps to its address: its sshd listens nowhere else.
        listening = lab.run(["ss", "-Hltn", "sport = :22"]).stdout.decode()
        for host in fleet.hosts:
            assert f"{host.address}:22" in listening
        roots = [str(h.root.path) for h in fleet.hosts]
        homes = [h.home for h in fleet.hosts]
        fleet_dir = fleet.dir
    assert booted < 30
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    mounts = _mounts()
    assert not any(r in mounts for r in roots)
    assert not any(h.exists() for h in homes) and not fleet_dir.exists()
    for address in addresses:
        assert not _listening(address)


def test_sweep_cleans_up_after_a_killed_session(base_root):
    """A test session that dies without tearing down leaves running hosts; the next session's
    ``lab.sweep()`` kills them and removes their mounts and directories."""
    script = ("import sys, time, lab; from lab.hosts import Fleet\n"
              "f = Fleet(lab.ensure_base(), 1).start(); h = f.hosts[0]\n"
              "print(h.pid, h.address, h.root.path, h.home, flush=True); time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             cwd=Path(__file__).parent.parent)
    try:
        pid, address, root, home = child.stdout.readline().decode().split()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert Path(f"/proc/{pid}").exists() and root in _mounts()
    lab.sweep()
    assert not Path(f"/proc/{pid}").exists()
    assert root not in _mounts()
    assert not Path(home).exists() and not _listening(address)
