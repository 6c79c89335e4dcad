"""The top-level Vagrantfile: Ruby accepts it and Debian's vagrant validates it (in a lab root with
Debian 12's vagrant package; no VM is started, no provider is installed), and what `vagrant
ssh-config` prints works as provision's --ssh-config (a config of that shape, aimed at a lab host)."""

from __future__ import annotations

import shutil

import lab
import pytest
from conftest import REPO, lab_or_skip, provision

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def vagrant_root():
    lab_or_skip()
    with lab.Root(lab.vagrant_base(), name="vagrant") as root:
        work = root.file("/work")
        work.mkdir()
        shutil.copy(REPO / "Vagrantfile", work / "Vagrantfile")
        yield root


def test_ruby_accepts_the_vagrantfile(vagrant_root):
    assert vagrant_root.out("ruby -c /work/Vagrantfile").strip() == "Syntax OK"


def test_vagrant_validates_it(vagrant_root):
    out = vagrant_root.out("cd /work && HOME=/root vagrant validate --ignore-provider 2>&1; echo rc=$?")
    assert "Vagrantfile validated successfully" in out and out.strip().endswith("rc=0"), out


def test_vagrant_validate_can_fail(vagrant_root):
    vagrant_root.file("/work/bad").mkdir()
    vagrant_root.file("/work/bad/Vagrantfile").write_text('Vagrant.configure("2") do |c|\n  c.vm.bogus = 1\nend\n')
    out = vagrant_root.out("cd /work/bad && HOME=/root vagrant validate --ignore-provider 2>&1; echo rc=$?")
    assert not out.strip().endswith("rc=0"), out


def test_vagrant_ssh_config_output_works_as_ssh_config(ssh_host, tmp_path):
    # what `vagrant ssh-config` prints for a VM (host "default"), with this lab host's address and key
    config = tmp_path / "ssh_config"
    config.write_text(f"""Host default
  HostName {ssh_host.address}
  User root
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile {ssh_host.fleet.key}
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa
""")
    known = tmp_path / "known_hosts"
    r = provision("facts", "java17", "-H", "default", "--ssh-config", str(config), "--known-hosts", str(known),
                  "--accept-new-host-keys", "--json")
    assert r.rc == 0, r
    host = r.json["hosts"]
    assert "default" in (host if isinstance(host, dict) else {h["host"]: h for h in host}), r.json
    assert ssh_host.address in known.read_text() or "default" in known.read_text()  # the key was recorded
