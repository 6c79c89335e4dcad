"""The README's first quick-start command, on a fresh Debian 12 root that has python3 (and no venv
module, no pip, no provision): `./bootstrap.sh apply` must install what it needs and converge."""

from __future__ import annotations

import shutil
import subprocess

import lab
import pytest
from conftest import REPO

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def python_base(base_root):
    return lab.ensure_base("python3", parent="base", packages=("python3",))


def copy_checkout(dest):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def test_bootstrap_apply_on_a_fresh_debian12(python_base):
    readme = (REPO / "README.md").read_text()
    assert "./bootstrap.sh apply" in readme and "./bootstrap.sh test" in readme
    with lab.Root(python_base, name="quickstart") as root:
        assert root.sh("python3 -m venv /tmp/probe", check=False).returncode != 0, \
            "this root should lack python3-venv, like a fresh machine"
        lab.mirror_network_trust(root.path)
        checkout = root.file("/root/provision")
        checkout.mkdir(parents=True)
        copy_checkout(checkout)
        run = root.sh("cd /root/provision && ./bootstrap.sh apply", check=False)
        out = (run.stdout + run.stderr).decode(errors="replace")
        assert run.returncode == 0, out[-4000:]
        assert "changed" in out
        assert 'version "17.' in root.out("java -version 2>&1")
        assert b"JAVA_HOME=" in root.file("/etc/environment").read_bytes()
        again = root.sh("cd /root/provision && ./bootstrap.sh apply --json", check=False)
        assert again.returncode == 0 and b'"changed": 0' in again.stdout, again.stderr[-2000:]
