"""Issue 18, items 3 and 14, on booted lab hosts: a lax ssh_config (what ``vagrant ssh-config``
prints: ``StrictHostKeyChecking no``, ``UserKnownHostsFile /dev/null``, ``LogLevel FATAL`` or
``QUIET``) never lets either SSH transport accept a changed or unknown host key, a jump host's
included; and a hostile inventory address or ``-H`` value never reaches ``ssh`` as an option.
Each refusal is proved on the host: no login in sshd's log, the playbook's file not written, no
run journal."""

from __future__ import annotations

import subprocess

import pytest
from conftest import provision

pytestmark = pytest.mark.lab

LAX = ("  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n"
       "  IdentitiesOnly yes\n  NoHostAuthenticationForLocalhost yes\n  VerifyHostKeyDNS yes\n"
       "  UpdateHostKeys yes\n  CheckHostIP no\n")


@pytest.fixture(params=["openssh", "paramiko"])
def transport(request, monkeypatch) -> str:
    monkeypatch.setenv("PROVISION_SSH_TRANSPORT", request.param)  # the CLI runs in a subprocess
    return request.param


def vagrant_block(alias: str, host, loglevel: str, extra: str = "") -> str:
    """A ``vagrant ssh-config`` block (plus the other ssh_config knobs that could lower the check)."""
    return (f"Host {alias}\n  HostName {host.address}\n  User root\n  Port 22\n{LAX}"
            f"  IdentityFile {host.fleet.key}\n  LogLevel {loglevel}\n{extra}\n")


def wrong_key(tmp_path, names: str) -> str:
    """A known_hosts line giving ``names`` a key that is not theirs."""
    key = tmp_path / f"other-{len(list(tmp_path.glob('other-*')))}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    return f"{names} {kind} {blob}\n"


def playbook(tmp_path) -> str:
    (tmp_path / "marker.j2").write_text("provision ran here\n")
    book = tmp_path / "marker.yml"
    book.write_text("resources:\n  - template:\n      src: marker.j2\n      dest: /root/marker\n")
    return str(book)


class Untouched:
    """What a refused run must leave on a host: no new login, no marker file, no run journal."""

    def __init__(self, *hosts) -> None:
        self.hosts = hosts
        self.logins = [h.sshd_log().count("Accepted publickey") for h in hosts]

    def check(self) -> None:
        for host, before in zip(self.hosts, self.logins, strict=True):
            assert host.sshd_log().count("Accepted publickey") == before, f"someone logged in to {host.name}"
            assert not host.root.file("/root/marker").exists(), f"the playbook ran on {host.name}"
            assert not host.root.file("/var/lib/provision/runs").exists(), f"a run was journaled on {host.name}"


@pytest.mark.parametrize("loglevel", ["FATAL", "QUIET"])
def test_a_changed_host_key_is_refused_whatever_ssh_config_says(transport, loglevel, ssh_host, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(vagrant_block("default", ssh_host, loglevel))
    known = tmp_path / "known_hosts"
    wrong = wrong_key(tmp_path, ssh_host.address)
    known.write_text(wrong)
    untouched = Untouched(ssh_host)
    for extra in ([], ["--accept-new-host-keys"]):  # accept-new never takes a changed key either
        r = provision("apply", playbook(tmp_path), "-H", "default", "--ssh-config", str(config),
                      "--known-hosts", str(known), *extra)
        assert r.rc == 1, r
        assert f"host key of {ssh_host.address} has CHANGED" in r.stderr and "ssh-keygen -f" in r.stderr, r.stderr
    untouched.check()
    assert known.read_text() == wrong  # not "updated" either


def test_an_unknown_key_needs_the_flag_then_is_recorded_and_accepted(transport, ssh_host, tmp_path):
    """The Vagrant route: the config's /dev/null is no known_hosts; the file the config names
    beside it is used, and --accept-new-host-keys records the key there once."""
    known = tmp_path / "known_hosts"
    config = tmp_path / "ssh_config"
    config.write_text(vagrant_block("default", ssh_host, "FATAL").replace(
        "UserKnownHostsFile /dev/null", f"UserKnownHostsFile /dev/null {known}"))
    untouched = Untouched(ssh_host)
    refused = provision("apply", playbook(tmp_path), "-H", "default", "--ssh-config", str(config))
    assert refused.rc == 1 and "is not known" in refused.stderr and "--accept-new-host-keys" in refused.stderr, \
        refused
    assert str(known) in refused.stderr, refused.stderr  # where the key will be recorded
    untouched.check()
    assert not known.exists()

    accepted = provision("apply", playbook(tmp_path), "-H", "default", "--ssh-config", str(config),
                         "--accept-new-host-keys")
    assert accepted.rc == 0, accepted
    assert ssh_host.root.file("/root/marker").read_text() == "provision ran here\n"
    kind, blob = ssh_host.host_key_line().split()[1:3]
    assert f"{kind} {blob}" in known.read_text()
    again = provision("plan", playbook(tmp_path), "-H", "default", "--ssh-config", str(config))
    assert again.rc == 0, again  # now known, no flag needed


def test_the_vagrant_config_alone_refuses_an_unknown_key(transport, ssh_host, tmp_path):
    """Only /dev/null in the config: ~/.ssh/known_hosts is used (this host's key is not in it)."""
    config = tmp_path / "ssh_config"
    config.write_text(vagrant_block("default", ssh_host, "QUIET"))
    untouched = Untouched(ssh_host)
    r = provision("apply", playbook(tmp_path), "-H", "default", "--ssh-config", str(config))
    assert r.rc == 1 and "is not known" in r.stderr and "/.ssh/known_hosts" in r.stderr, r
    untouched.check()


@pytest.mark.parametrize("chain", ["jump", "jump,jump"])
def test_a_jump_host_with_a_wrong_key_is_refused(transport, chain, fleet_factory, tmp_path):
    """ProxyJump through a host whose ssh_config block is lax and whose key is wrong: refused,
    though the target's own key is right (the ssh OpenSSH itself starts for a ProxyJump reads only
    ssh_config). ``jump,jump`` goes through the jump host to itself: a nested chain."""
    jump, target = fleet_factory(2).hosts
    config = tmp_path / "ssh_config"
    config.write_text(f"Host target\n  HostName {target.address}\n  User root\n  IdentityFile {target.fleet.key}\n"
                      f"  ProxyJump {chain}\n\n" + vagrant_block("jump", jump, "QUIET"))
    known = tmp_path / "known_hosts"
    known.write_text(target.host_key_line() + "\n" + wrong_key(tmp_path, jump.address))
    untouched = Untouched(jump, target)
    r = provision("apply", playbook(tmp_path), "-H", "target", "--ssh-config", str(config), "--known-hosts",
                  str(known))
    assert r.rc == 1 and f"host key of {jump.address} has CHANGED" in r.stderr, r
    untouched.check()

    known.write_text(target.host_key_line() + "\n" + jump.host_key_line() + "\n")  # the right keys: it works
    ok = provision("apply", playbook(tmp_path), "-H", "target", "--ssh-config", str(config), "--known-hosts",
                   str(known))
    assert ok.rc == 0, ok
    assert target.root.file("/root/marker").exists() and not jump.root.file("/root/marker").exists()


def test_an_unknown_jump_host_key_is_refused_without_the_flag(transport, fleet_factory, tmp_path):
    jump, target = fleet_factory(2).hosts
    config = tmp_path / "ssh_config"
    config.write_text(f"Host target\n  HostName {target.address}\n  User root\n  IdentityFile {target.fleet.key}\n"
                      f"  ProxyJump jump\n\n" + vagrant_block("jump", jump, "FATAL"))
    known = tmp_path / "known_hosts"
    known.write_text(target.host_key_line() + "\n")
    untouched = Untouched(jump, target)
    r = provision("apply", playbook(tmp_path), "-H", "target", "--ssh-config", str(config), "--known-hosts",
                  str(known))
    assert r.rc == 1 and f"host key of {jump.address} is not known" in r.stderr, r
    untouched.check()
    assert known.read_text() == target.host_key_line() + "\n"


# ------------------------------------------------------------------ hostile destinations

def hostile_values(pwned) -> list[str]:
    return [f"-oProxyCommand=touch {pwned}", f"-oProxyCommand=touch${{IFS}}{pwned}::", "-oX", "host -oX",
            "a:b:c", "lab\n-oProxyCommand=x", "host\x1b]0;title\x07", "root@-oX", "-F/dev/null",
            f"[-oProxyCommand=touch${{IFS}}{pwned}:]:22"]


def test_hostile_h_values_exit_2_and_start_nothing(transport, ssh_host, tmp_path):
    pwned = tmp_path / "pwned"
    for value in hostile_values(pwned):
        r = provision("plan", playbook(tmp_path), "-H", value, "--ssh-config", str(ssh_host.fleet.ssh_config),
                      "--known-hosts", str(ssh_host.fleet.known_hosts))
        assert r.rc == 2, (value, r)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and repr(value) in lines[0], (value, r.stderr)
        assert not pwned.exists() and not pwned.with_name("pwned::").exists(), value


@pytest.mark.parametrize("form", ["native", "ansible-yaml", "ansible-ini"])
def test_hostile_inventory_addresses_exit_2_naming_file_and_line(transport, form, ssh_host, tmp_path):
    pwned = tmp_path / "pwned"
    for value in [f"-oProxyCommand=touch {pwned}", f"-oProxyCommand=touch${{IFS}}{pwned}::", "-oX", "a:b:c",
                  "x -oX"]:
        inv = tmp_path / ("inv.ini" if form == "ansible-ini" else "inv.yml")
        if form == "native":
            inv.write_text(f"hosts:\n  lab:\n    address: {value!r}\n    user: root\n")
        elif form == "ansible-yaml":
            inv.write_text(f"all:\n  hosts:\n    lab:\n      ansible_host: {value!r}\n")
        elif " " in value:
            continue  # an INI value ends at a blank
        else:
            inv.write_text(f"[web]\nlab ansible_host={value}\n")
        r = provision("plan", playbook(tmp_path), "-i", str(inv), "--ssh-config", str(ssh_host.fleet.ssh_config),
                      "--known-hosts", str(ssh_host.fleet.known_hosts))
        assert r.rc == 2, (value, r)
        lines = r.stderr.strip().splitlines()
        line = {"native": 3, "ansible-yaml": 4, "ansible-ini": 2}[form]
        assert len(lines) == 1 and f"{inv}:{line}:" in lines[0] and repr(value) in lines[0], (value, r.stderr)
        assert not pwned.exists() and not pwned.with_name("pwned::").exists(), value


def test_a_hostile_inventory_host_name_or_user_exits_2(transport, ssh_host, tmp_path):
    for text, line in [("hosts:\n  -oX: {}\n", 2), ("hosts:\n  \"lab\\n-oX\": {}\n", 2),
                       ("hosts:\n  lab:\n    user: -oProxyCommand=x\n", 3),
                       ("all:\n  hosts:\n    -oX:\n", 3)]:
        inv = tmp_path / "inv.yml"
        inv.write_text(text)
        r = provision("plan", playbook(tmp_path), "-i", str(inv))
        assert r.rc == 2 and r.stderr.count("\n") == 1 and f"{inv}:{line}:" in r.stderr, (text, r)
