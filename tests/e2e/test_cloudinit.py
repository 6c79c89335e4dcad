"""provision export cloud-init, judged by cloud-init itself (Debian 12's cloud-init 22.4, installed
in a lab base): every built-in playbook's user data passes `cloud-init schema`, and a host booted
with systemd as PID 1 and a NoCloud seed holding the user data comes up with JDK 17 and JAVA_HOME
by cloud-init's own boot stages (its systemd units: nothing is run by hand); then `provision
verify` passes on it over SSH and `provision apply` reports 0 changed."""

from __future__ import annotations

import lab
import pytest
from conftest import lab_or_skip, provision

from provision.paths import builtin_playbooks

pytestmark = pytest.mark.lab

# The lab's base has no locales (cloud-init's locale module would fail) and a known_hosts made
# before boot (cloud-init's ssh module would replace the host keys): a vendor drop-in, not the
# user data, turns both off, as an image maker would.
LAB_CFG = "locale: false\nssh_deletekeys: false\nssh_genkeytypes: []\n"


@pytest.fixture(scope="module")
def cloudinit_root():
    lab_or_skip()
    return lab.cloudinit_base()


REFUSED = {"java-multi"}  # toolchains.xml is edited in place on the host: refused, with the reason


def test_every_builtin_export_passes_cloud_init_schema(cloudinit_root, tmp_path):
    with lab.Root(cloudinit_root, name="schema") as root:
        checked = []
        for book in sorted(builtin_playbooks()):
            for os_ in ("ubuntu-24.04", "debian-12"):
                for wsl in (0, 2):
                    name = f"{book}-{os_}-wsl{wsl}.yaml"
                    r = provision("export", "cloud-init", book, "--facts", f"os={os_},wsl={wsl}",
                                  "-o", str(root.file(f"/root/{name}")))
                    if book in REFUSED:
                        assert r.rc == 2 and "cannot be exported to cloud-init" in r.stderr, r
                        checked.append(name)
                        continue
                    assert r.rc == 0, r
                    out = root.out(f"cloud-init schema --config-file /root/{name}; echo rc=$?")
                    assert out.strip().endswith("rc=0") and f"Valid cloud-config: /root/{name}" in out, out
                    checked.append(name)
        assert len(checked) == 4 * len(builtin_playbooks())
        # and the schema check can fail: a document it must refuse
        root.file("/root/bad.yaml").write_text("#cloud-config\npackages: openjdk-17-jdk-headless\n")
        out = root.out("cloud-init schema --config-file /root/bad.yaml; echo rc=$?")
        assert "rc=1" in out and "is not of type 'array'" in out, out


def test_first_boot_by_cloud_init_then_verify_passes_and_apply_changes_nothing(fleet_factory, cloudinit_root,
                                                                               tmp_path):
    user_data = tmp_path / "user-data"
    r = provision("export", "cloud-init", "java17", "--facts", "os=debian-12,arch=amd64", "-o", str(user_data))
    assert r.rc == 0, r
    host = fleet_factory(1, base=cloudinit_root).hosts[0]  # booted with the lab's /init: no systemd yet
    assert host.sh("test -e /usr/lib/jvm/java-17-openjdk-amd64", check=False).returncode != 0
    seed = host.root.file("/var/lib/cloud/seed/nocloud")
    seed.mkdir(parents=True)
    (seed / "user-data").write_bytes(user_data.read_bytes())
    (seed / "meta-data").write_text(f"instance-id: {host.name}-1\nlocal-hostname: {host.name}\n")
    host.root.file("/etc/cloud/cloud.cfg.d/90-lab.cfg").write_text(LAB_CFG)
    host.shutdown()
    host.boot("/lib/systemd/systemd")  # returns once systemd is running: cloud-final is part of it
    status = host.sh("cloud-init status --wait --long", check=False, timeout=600)
    text = status.stdout.decode() + status.stderr.decode()
    assert status.returncode == 0 and "status: done" in text, text + host.sh(
        "tail -50 /var/log/cloud-init-output.log", check=False).stdout.decode()
    ran = host.sh("cat /run/cloud-init/status.json; systemctl show -p ActiveState cloud-final.service").stdout
    assert b"DataSourceNoCloud [seed=/var/lib/cloud/seed/nocloud]" in ran and b"ActiveState=active" in ran, ran
    env = host.root.file("/etc/environment").read_text()
    assert env.endswith('# managed by provision\nJAVA_HOME="/usr/lib/jvm/java-17-openjdk-amd64"\n'), env
    assert not host.root.file("/etc/apt/apt.conf.d/00provision-no-recommends").exists()
    assert host.sh("dpkg-query -W -f='${Status}' dbus", check=False).stdout != b"install ok installed"  # no recommends

    target = ["-H", host.name, "--ssh-config", str(host.fleet.ssh_config),
              "--known-hosts", str(host.fleet.known_hosts)]
    proved = provision("verify", "java17", *target, "--json")
    assert proved.rc == 0, proved
    report = proved.json["hosts"][0]
    assert report["ok"] and report["failed"] == 0 and report["passed"] >= 8, proved
    again = provision("apply", "java17", *target, "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
