"""Issue 19: the OpenSSH transport's key exchange, on a booted lab host, read from what the host's
sshd logged (``kex: algorithm: ...``). With no KexAlgorithms in ssh_config, OpenSSH 9.2 would
pick sntrup761x25519 (~100 ms of controller CPU per login); provision puts curve25519 first and
keeps every other algorithm of ssh's default list, so a server without curve25519 still gets the
post-quantum exchange, never a weaker one in its place. A KexAlgorithms in ssh_config is used as
written."""

from __future__ import annotations

import re
import time

import pytest
from conftest import provision
from lab.hosts import _banner

pytestmark = pytest.mark.lab


def kex_of_last_login(host) -> str:
    found = re.findall(r"kex: algorithm: (\S+)", host.sshd_log())
    assert found, host.sshd_log()[-2000:]
    return found[-1]


def run(host, tmp_path, config_extra: str = "") -> None:
    (tmp_path / "marker.j2").write_text("provision ran here\n")
    book = tmp_path / "book.yml"
    book.write_text("resources:\n  - template:\n      src: marker.j2\n      dest: /root/marker\n")
    config = tmp_path / "ssh_config"
    config.write_text(host.fleet.ssh_config.read_text() + config_extra)
    r = provision("apply", str(book), "-H", host.name, "--ssh-config", str(config),
                  "--known-hosts", str(host.fleet.known_hosts), "--ssh-transport", "openssh")
    assert r.rc == 0, r


def server_offers(host, algorithms: str) -> None:
    """Restart the host's sshd offering only ``algorithms`` (what a hostile or old server may do)."""
    conf = host.root.file("/etc/ssh/sshd_config.d/kex.conf")
    conf.write_text(f"KexAlgorithms {algorithms}\n")
    host.sh("kill -HUP $(cat /run/sshd.pid)")
    deadline = time.monotonic() + 20
    time.sleep(0.3)
    while not _banner(host.address):
        assert time.monotonic() < deadline, "sshd did not come back"
        time.sleep(0.1)


def test_with_no_kexalgorithms_in_ssh_config_the_login_uses_curve25519(ssh_host, tmp_path):
    run(ssh_host, tmp_path)
    assert kex_of_last_login(ssh_host) == "curve25519-sha256"


def test_a_kexalgorithms_in_ssh_config_is_used_as_written(ssh_host, tmp_path):
    run(ssh_host, tmp_path, "Host *\n  KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256\n")
    assert kex_of_last_login(ssh_host) == "sntrup761x25519-sha512@openssh.com"


def test_a_server_without_curve25519_gets_the_post_quantum_exchange_not_a_weaker_one(ssh_host, tmp_path):
    server_offers(ssh_host, "ecdh-sha2-nistp256,diffie-hellman-group14-sha256,sntrup761x25519-sha512@openssh.com")
    run(ssh_host, tmp_path)
    assert kex_of_last_login(ssh_host) == "sntrup761x25519-sha512@openssh.com"
