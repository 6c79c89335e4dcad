"""Issue 23, item 2 end to end: a WSL image built from a converged lab root with the real CLI
(`provision export wsl-image`), linted, unpacked with GNU tar into a fresh directory, its
first-start script run there (a hostile user name first, then a good one, non-interactively), then
`provision verify java17` on the unpacked root, and the unpacked root booted as a lab WSL2
persona: systemd is PID 1 (wsl.conf from the image), the default user is the one the script made,
and verify and doctor pass over SSH. Attackers: links planted in the root before the export."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import tempfile
from pathlib import Path

import lab
import pytest
from conftest import provision
from lab import wslinit

pytestmark = pytest.mark.lab

OOBE = "/usr/lib/wsl/provision-oobe"
# struct vfs_cap_data, revision 2, effective: cap_net_raw (13) permitted and effective
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def workdir():
    """A directory in the lab's space (sweep() removes it if the run is killed)."""
    lab.LAB_DIR.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="run-wslimage-", dir=lab.LAB_DIR))
    (d / "owner").write_text(str(os.getpid()))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def passwd(root: Path) -> dict[str, list[str]]:
    return {f[0]: f for f in (ln.split(":") for ln in (root / "etc/passwd").read_text().splitlines()) if f}


def test_image_builds_lints_unpacks_creates_the_user_verifies_and_boots(converged_root, workdir, fleet_factory):
    root = converged_root
    shadow_before = sha("/etc/shadow")
    # planted in the root: the distribution conf as a link to /etc/shadow, a directory link out of
    # the root, and a file with a capability (as ping has) that the image must keep
    root.file("/etc/wsl-distribution.conf").symlink_to("/etc/shadow")
    root.file("/opt/escape").symlink_to("/etc")
    tool = root.file("/usr/local/bin/rawtool")
    shutil.copyfile(root.file("/usr/bin/true"), tool)
    tool.chmod(0o755)
    os.setxattr(tool, "security.capability", CAP_NET_RAW)

    image = workdir / "java17.wsl"
    built = provision("export", "wsl-image", "workstation", "-H", root.target, "-o", str(image),
                      "--name", "java17-lab")
    assert built.rc == 0, built
    assert f"wrote {image}" in built.stderr
    assert "0 error(s)" in built.stderr
    assert "left out: /etc/resolv.conf" in built.stderr
    assert "left out: /etc/wsl-distribution.conf (replaced by the export)" in built.stderr
    # the image boots with systemd once installed: no "restart required" nor a tarball to pack by hand
    assert "restart required" not in built.stderr and "tar -C" not in built.stderr, built
    assert stat.S_IMODE(image.stat().st_mode) == 0o600
    assert image.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert sha("/etc/shadow") == shadow_before
    assert root.file("/etc/wsl-distribution.conf").is_symlink()  # the root itself is not rewritten

    linted = provision("export", "wsl-image", "--lint-only", str(image))
    assert linted.rc == 0, linted
    assert "0 error(s)" in linted.stderr

    # unpacked as WSL does (a tar of numeric owners, attributes kept)
    distro = workdir / "distro"
    distro.mkdir()
    lab.run(["tar", "-C", str(distro), "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpzf", str(image)])
    conf = (distro / "etc/wsl-distribution.conf")
    assert conf.is_file() and not conf.is_symlink()
    text = conf.read_text()
    assert "command = /usr/lib/wsl/provision-oobe" in text and "defaultName = java17-lab" in text
    assert "defaultUid = 1000" in text
    assert os.readlink(distro / "opt/escape") == "/etc"
    assert not (distro / "etc/resolv.conf").exists()
    assert list((distro / "dev").iterdir()) == [] and list((distro / "proc").iterdir()) == []
    assert os.getxattr(distro / "usr/local/bin/rawtool", "security.capability") == CAP_NET_RAW
    assert "cap_net_raw" in lab.run(["getcap", str(distro / "usr/local/bin/rawtool")]).stdout.decode()
    assert "1000" not in {f[2] for f in passwd(distro).values()}
    original_conf = (distro / "etc/wsl.conf").read_bytes()
    assert wslinit.boots_systemd(original_conf)

    # the first-start script, as WSL runs it (root, sh -c), without a terminal
    for hostile in ("x;touch /pwned", "$(touch /pwned)", "root", "Alice", "-o", "a" * 33):
        bad = lab.in_root(distro, f"PROVISION_WSL_USER='{hostile}' {OOBE}", check=False)
        assert bad.returncode == 2, (hostile, bad)
        assert b"user name refused" in bad.stderr
    missing = lab.in_root(distro, OOBE, check=False)
    assert missing.returncode == 1 and b"no user name" in missing.stderr
    assert not (distro / "pwned").exists()
    assert "1000" not in {f[2] for f in passwd(distro).values()}
    assert (distro / "etc/wsl.conf").read_bytes() == original_conf

    made = lab.in_root(distro, f"PROVISION_WSL_USER=alice {OOBE}")
    assert b"default user: alice" in made.stdout, made
    user = passwd(distro)["alice"]
    assert user[2] == "1000" and user[5] == "/home/alice" and user[6] == "/bin/bash"
    assert "sudo" in lab.in_root(distro, "id -nG alice").stdout.decode().split()
    assert (distro / "home/alice").is_dir()
    conf_now = (distro / "etc/wsl.conf").read_bytes()
    settings, stopped = wslinit.read_settings(conf_now)  # the lab's own reading of WSL's parser
    assert not stopped
    assert settings == {"boot.systemd": "true", "user.default": "alice"}, conf_now
    assert conf_now.startswith(original_conf)  # the image's settings kept byte for byte
    again = lab.in_root(distro, f"PROVISION_WSL_USER=bob {OOBE}")  # a second start: nothing new
    assert b"alice (uid 1000) exists: kept" in again.stderr
    assert "bob" not in passwd(distro)
    assert (distro / "etc/wsl.conf").read_bytes() == conf_now

    verified = provision("verify", "java17", "-H", f"chroot:{distro}")
    assert verified.rc == 0, verified

    # booted the lab's WSL way: a WSL2 persona over the unpacked root (the lab's own user at 1001)
    host = fleet_factory(1, wsl=2, base=distro, dev_uid=1001).hosts[0]
    assert host.next_init() == "/lib/systemd/systemd"
    host.restart()
    assert host.pid1_comm() == "systemd"
    assert host.wait_system_running() in ("running", "degraded")
    ssh = ["-H", host.name, "--ssh-config", str(host.fleet.ssh_config), "--known-hosts", str(host.fleet.known_hosts)]
    over_ssh = provision("verify", "java17", *ssh)
    assert over_ssh.rc == 0, over_ssh
    doctor = provision("doctor", *ssh)
    assert doctor.rc == 0, doctor
    assert host.sh("id -u alice").stdout.decode().strip() == "1000"
    assert host.ssh("su - alice -c 'echo $JAVA_HOME'").stdout.decode().strip().startswith("/usr/lib/jvm/java-17")


@pytest.mark.parametrize("plant, expect", [
    (("/etc/wsl.conf", "/etc/shadow"), "/etc/wsl.conf in the root is a symbolic link"),
    (("/usr/lib/wsl", "/etc"), "/usr/lib/wsl in the root is a symbolic link"),
], ids=["wsl.conf-to-shadow", "usr-lib-wsl-to-etc"])
def test_links_planted_in_the_root_are_refused(converged_root, workdir, plant, expect):
    shadow_before, etc_before = sha("/etc/shadow"), sorted(os.listdir("/etc"))
    link, target = plant
    converged_root.file(link).symlink_to(target)
    image = workdir / "x.wsl"
    r = provision("export", "wsl-image", "java17", "-H", converged_root.target, "-o", str(image))
    assert r.rc == 1, r
    assert expect in r.stderr
    assert not image.exists() and list(workdir.iterdir()) == [workdir / "owner"]
    assert sha("/etc/shadow") == shadow_before and sorted(os.listdir("/etc")) == etc_before


def test_usage_errors_change_nothing(converged_root, workdir):
    for args, expect in (
            (["-o", str(converged_root.file("/tmp/in.wsl"))], "inside the root being packed"),
            (["-o", str(workdir / "x.zip")], "ends in .wsl"),
            (["-o", str(workdir / "x.wsl"), "--name", "bad name"], "a WSL distribution name is"),
            ([], "needs -H chroot:ROOT")):
        host = [] if not args else ["-H", converged_root.target]
        r = provision("export", "wsl-image", "java17", *host, *args)
        assert r.rc == 2 and expect in r.stderr, (args, r)
    assert converged_root.changed_paths() == []
    assert list(workdir.iterdir()) == [workdir / "owner"]
