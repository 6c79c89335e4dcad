"""Issue 4 end to end: provisioning real lab hosts over SSH (each a booted Debian 12 root with its
own sshd on 127.0.0.N), through inventories, with host-key checks and sudo. The tests that take a
``transport`` run with both SSH transports (OpenSSH, the default, and paramiko)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest
from conftest import provision

pytestmark = pytest.mark.lab


@pytest.fixture(params=["openssh", "paramiko"])
def transport(request, monkeypatch) -> str:
    monkeypatch.setenv("PROVISION_SSH_TRANSPORT", request.param)  # the CLI runs in a subprocess
    return request.param


def ssh_args(fleet) -> list[str]:
    return ["--ssh-config", str(fleet.ssh_config), "--known-hosts", str(fleet.known_hosts)]


def write_inventory(fleet, path, *, user: str | None = None) -> str:
    lines = ["hosts:"]
    for h in fleet.hosts:
        lines.append(f"  {h.name}: {{}}")
    if user:
        lines = ["defaults:", f"  user: {user}", *lines]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def by_host(doc: dict) -> dict[str, dict]:
    return {h["host"]: h for h in doc["hosts"]}


def exec_requests(host) -> int:
    """Commands run over SSH so far (one session each), from sshd's own log."""
    return len(re.findall(r"Starting session: command for ", host.sshd_log()))


def test_ten_hosts_converge_from_a_clean_base_and_stay_converged(fleet_factory, base_root, tmp_path):
    fleet = fleet_factory(10, base=base_root)
    inv = write_inventory(fleet, tmp_path / "inv.yml")

    first = provision("apply", "java17", "-i", inv, *ssh_args(fleet), "--json")
    assert first.rc == 0, first
    hosts = by_host(first.json)
    assert set(hosts) == {h.name for h in fleet.hosts}
    for name, h in hosts.items():
        assert not h["failed"] and h["changed"] >= 2, (name, h)
    assert "unreachable" in first.stderr and "changed" in first.stderr  # the final table

    for host in fleet.hosts:  # each one checked over its own SSH
        r = host.ssh("java -version 2>&1; grep ^JAVA_HOME= /etc/environment")
        assert r.returncode == 0, r
        out = r.stdout.decode()
        assert 'version "17.' in out and 'JAVA_HOME="/usr/lib/jvm/java-17-openjdk-' in out, (host.name, out)
        # a new SSH login gets JAVA_HOME from /etc/environment through sshd's PAM session
        env = host.ssh("printenv JAVA_HOME").stdout.decode().strip()
        assert env.startswith("/usr/lib/jvm/java-17-openjdk-"), (host.name, env)

    second = provision("apply", "java17", "-i", inv, *ssh_args(fleet), "--json")
    assert second.rc == 0, second
    assert all(h["changed"] == 0 and not h["failed"] for h in second.json["hosts"]), second.json


def test_converged_host_costs_one_connection_and_one_round_trip(transport, fleet_factory, jdk_root):
    fleet = fleet_factory(1, base=jdk_root)
    host = fleet.hosts[0]
    assert provision("apply", "java17", "-H", host.name, *ssh_args(fleet)).rc == 0
    log = host.sshd_log()
    connections, requests = log.count("Accepted publickey"), exec_requests(host)

    again = provision("apply", "java17", "-H", host.name, *ssh_args(fleet), "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
    assert host.sshd_log().count("Accepted publickey") - connections == 1
    assert exec_requests(host) - requests == 1


def test_unknown_host_key_is_refused_unless_accepted_and_a_changed_key_always(transport, fleet_factory, jdk_root,
                                                                              tmp_path):
    fleet = fleet_factory(1, base=jdk_root)
    host = fleet.hosts[0]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    args = ["--ssh-config", str(fleet.ssh_config), "--known-hosts", str(empty)]

    refused = provision("plan", "java17", "-H", host.name, *args, "--json")
    assert refused.rc == 1, refused
    error = refused.json["hosts"][0]["error"]
    assert "host key of" in error and "is not known" in error and "--accept-new-host-keys" in error
    assert refused.json["hosts"][0]["unreachable"] is True
    assert empty.read_text() == ""

    accepted = provision("plan", "java17", "-H", host.name, *args, "--accept-new-host-keys")
    assert accepted.rc == 0, accepted
    assert empty.read_text().startswith(f"{host.address} ")  # recorded, under the address connected to
    assert provision("plan", "java17", "-H", host.name, *args).rc == 0  # now known

    fake = _keygen(tmp_path)  # another ed25519 key: what an impostor (or a reinstall) would show
    changed = tmp_path / "known_hosts_changed"
    changed.write_text(f"{host.address} {fake[0]} {fake[1]}\n")
    args = ["--ssh-config", str(fleet.ssh_config), "--known-hosts", str(changed)]
    for extra in ([], ["--accept-new-host-keys"]):
        r = provision("apply", "java17", "-H", host.name, *args, *extra, "--json")
        assert r.rc == 1, r
        error = r.json["hosts"][0]["error"]
        assert "has CHANGED" in error and f"ssh-keygen -f {changed} -R {host.address}" in error, error
    assert changed.read_text() == f"{host.address} {fake[0]} {fake[1]}\n"
    assert host.root.file("/etc/environment").read_bytes().count(b"JAVA_HOME") == 0


def _keygen(tmp_path) -> list[str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   capture_output=True, check=True)
    return (tmp_path / "other.pub").read_text().split()[:2]


def test_sudo_user_with_a_password(transport, fleet_factory, jdk_root, tmp_path):
    password = "Lab-s3cret-" + str(time.time_ns())[-6:]
    fleet = fleet_factory(1, base=jdk_root, sudo_password=password)
    host = fleet.hosts[0]
    target = f"dev@{host.name}"

    without = provision("apply", "java17", "-H", target, *ssh_args(fleet))
    assert without.rc == 1 and "--ask-become-pass" in without.stderr, without

    wrong = provision("apply", "java17", "-H", target, *ssh_args(fleet), "-K", input=b"not-it\n")
    assert wrong.rc == 1 and "did not accept the password" in wrong.stderr, wrong

    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # every process list on this machine (the lab hosts' processes included)
        while not stop.is_set():
            seen.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ok = provision("apply", "java17", "-H", target, *ssh_args(fleet), "-K", "--json", "-v",
                       input=password.encode() + b"\n")
    finally:
        stop.set()
        watcher.join()
    assert ok.rc == 0, ok
    assert ok.json["hosts"][0]["changed"] >= 1
    assert b"JAVA_HOME=" in host.root.file("/etc/environment").read_bytes()
    assert any("sudo -k -S" in ps for ps in seen), "the watcher never saw a provision command"
    leaks = {"stdout": ok.stdout, "stderr": ok.stderr, "ps": "".join(seen), "sshd log": host.sshd_log(),
             "host logs": host.sh("cat /var/log/*.log /var/log/apt/*.log /var/lib/provision/runs/*.jsonl "
                                  "2>/dev/null", check=False).stdout.decode(errors="replace")}
    for where, text in leaks.items():
        assert password not in text, f"the sudo password appears in {where}"


def test_sudo_password_goes_only_where_sudo_asks_for_it(transport, fleet_factory, jdk_root):
    """dev may run sh without a password: sudo never asks, so the password must never be sent (it
    used to be prepended to every command's input, and the write script wrote it into the file)."""
    password = "Lab-nopw-" + str(time.time_ns())[-6:]
    fleet = fleet_factory(1, base=jdk_root, sudo_password=password)
    host = fleet.hosts[0]
    host.sh("printf 'dev ALL=(ALL) NOPASSWD: /bin/sh, /usr/bin/sh\\n' > /etc/sudoers.d/lab-sh && "
            "chmod 440 /etc/sudoers.d/lab-sh && visudo -cq")
    ok = provision("apply", "java17", "-H", f"dev@{host.name}", *ssh_args(fleet), "-K", "--json",
                   input=password.encode() + b"\n")
    assert ok.rc == 0 and ok.json["hosts"][0]["changed"] >= 1, ok
    changed = [p for p in host.root.changed_paths() if not p.startswith(("/run/", "/var/log/lastlog"))]
    assert "/etc/environment" in changed
    for path in changed:
        data = host.root.upper.joinpath(path.lstrip("/")).read_bytes() if \
            host.root.upper.joinpath(path.lstrip("/")).is_file() else b""
        assert password.encode() not in data, f"the sudo password was written into {path}"


def test_one_host_down_among_five(transport, fleet_factory, jdk_root, tmp_path):
    fleet = fleet_factory(5, base=jdk_root)
    down = fleet.hosts[2]
    down.shutdown()
    inv = write_inventory(fleet, tmp_path / "inv.yml")

    r = provision("apply", "java17", "-i", inv, *ssh_args(fleet), "--json", "--connect-timeout", "5")
    assert r.rc == 1, r
    hosts = by_host(r.json)
    assert hosts[down.name]["unreachable"] and hosts[down.name]["failed"]
    assert "cannot connect" in hosts[down.name]["error"]
    for host in fleet.hosts:
        if host is not down:
            assert not hosts[host.name]["failed"] and hosts[host.name]["changed"] >= 1, hosts[host.name]
            assert b"JAVA_HOME=" in host.root.file("/etc/environment").read_bytes()
    table = r.stderr[r.stderr.index("host "):]
    row = next(line for line in table.splitlines() if line.startswith(down.name))
    assert row.split()[1:6] == ["0", "0", "0", "0", "yes"], row  # ok changed skipped failed unreachable
    assert json.loads(r.stdout)["ok"] is False


def test_a_proxyjump_chain_uses_every_hop_as_a_plain_transport(transport, fleet_factory, jdk_root, tmp_path):
    """ProxyJump a,b: through a to b, through b to the target; the hops' users are not root and
    need a password for sudo: a hop that tried to become root would fail."""
    fleet = fleet_factory(3, base=jdk_root, sudo_password="hop-pw", password_hosts={0, 1})
    a, b, target = fleet.hosts
    config = tmp_path / "ssh_config"
    config.write_text(f"Host jump-target\n  HostName {target.address}\n  User root\n  IdentityFile {fleet.key}\n"
                      f"  ProxyJump dev@{a.name},dev@{b.name}\n\n"
                      + fleet.ssh_config.read_text())
    before = {h.name: h.sshd_log().count("Accepted publickey") for h in fleet.hosts}
    r = provision("apply", "java17", "-H", "jump-target", "--ssh-config", str(config),
                  "--known-hosts", str(fleet.known_hosts), "--json")
    assert r.rc == 0 and r.json["hosts"][0]["changed"] >= 1, r
    assert b"JAVA_HOME=" in target.root.file("/etc/environment").read_bytes()
    for hop in (a, b):
        log = hop.sshd_log()
        assert log.count("Accepted publickey for dev") >= 1, hop.name
        assert "Starting session" not in log.split("Accepted publickey for dev")[-1], \
            f"a command ran on the jump host {hop.name}"
    assert target.sshd_log().count("Accepted publickey") - before[target.name] == 1
    assert b"JAVA_HOME" not in a.root.file("/etc/environment").read_bytes()


def test_openssh_honours_what_only_openssh_reads(fleet_factory, jdk_root, tmp_path, monkeypatch):
    """An ssh_config that reaches the host only through ``Include`` (which paramiko ignores): the
    OpenSSH transport reads it as the user's own ssh does."""
    monkeypatch.setenv("PROVISION_SSH_TRANSPORT", "openssh")
    fleet = fleet_factory(1, base=jdk_root)
    host = fleet.hosts[0]
    config = tmp_path / "ssh_config"
    config.write_text(f"Include {fleet.ssh_config}\n")
    r = provision("plan", "java17", "-H", host.name, "--ssh-config", str(config), "--json")
    assert r.rc == 0 and "Debian 12" in r.stderr, r
    monkeypatch.setenv("PROVISION_SSH_TRANSPORT", "paramiko")
    r = provision("plan", "java17", "-H", host.name, "--ssh-config", str(config), "--json")
    assert r.rc == 1 and r.json["hosts"][0]["unreachable"], r  # paramiko does not follow Include
