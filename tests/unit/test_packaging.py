"""A non-editable install carries the built-in playbooks and templates inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_ships_playbooks_and_templates_and_finds_them_installed(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("provision-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("provision/_data/playbooks/java17.yml", "provision/_data/playbooks/workstation.yml",
                    "provision/_data/playbooks/wsl-systemd.yml",
                    "provision/_data/templates/environment.j2",
                    "provision/_data/templates/profile.d/jdk.sh.j2"):
        assert shipped in names, shipped

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    probe = ("import provision.paths as p, provision.playbook as pb; "
             "print(p.templates_dir()); print(p.playbooks_dir()); "
             "print([d.type for d in pb.load('workstation').resources])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)}, timeout=120)
    assert out.returncode == 0, out.stderr
    templates, playbooks, types = out.stdout.splitlines()
    assert templates.startswith(str(target)) and playbooks.startswith(str(target))
    assert types == "['jdk', 'env_file', 'profile_script', 'wsl_conf']"


def test_the_install_size_is_read_from_apt_s_simulation():
    from provision.facts.packages import InstallEstimate, InstallSize

    fact = InstallSize(("openjdk-17-jdk-headless",))
    assert "--assume-no" not in fact.command() and "apt-get -s" in fact.command()  # never installs
    assert fact.parse(["count 25", "disk 301000000", "download 41700000"]) == InstallEstimate(25, 41_700_000,
                                                                                             301_000_000)
    assert fact.parse(["count 0", "download 0"]) == InstallEstimate()
