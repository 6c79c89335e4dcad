"""The example plugin as a user installs it: pip into a virtual environment beside provision's
wheel, found through its entry point, and type-checked against provision's installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests/plugins/provision-timezone"


def run(*argv: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, (argv, r.stdout[-3000:], r.stderr[-3000:])
    return r  # type: ignore[no-any-return]


@pytest.fixture
def venv(plugin_venv: Path) -> Path:
    return plugin_venv


def test_the_installed_plugin_is_found_through_its_entry_point(venv: Path, tmp_path: Path) -> None:
    book = tmp_path / "tz.yml"
    book.write_text("resources:\n  - timezone:\n      name: Europe/Berlin\n")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = run(venv / "bin/provision", "validate", book, cwd=tmp_path, env=clean)
    assert "tz.yml" in out.stdout + out.stderr
    where = run(venv / "bin/python", "-c", "import provision, provision_timezone; "
                "print(provision.__file__); print(provision_timezone.__file__)", cwd=tmp_path, env=clean)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout  # not this checkout


def test_a_plugin_type_checks_against_the_installed_provision(venv: Path, tmp_path: Path) -> None:
    """provision ships py.typed: mypy --strict on a plugin reads provision's own annotations."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-executable",
                        str(venv / "bin/python"), str(PLUGIN / "provision_timezone.py")],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path, env=clean)
    assert r.returncode == 0, r.stdout[-3000:]


def test_provision_types_lists_the_plugin_beside_the_built_ins(venv: Path, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = run(venv / "bin/provision", "types", cwd=tmp_path, env=clean).stdout.splitlines()
    names = [line.split()[0] for line in out]
    assert {"jdk", "env_file", "wsl_conf", "template", "timezone"} <= set(names), out
    assert [line for line in out if line.startswith("timezone ")][0].endswith("[plugin: provision_timezone]")


def test_a_plugin_claiming_a_built_in_name_is_refused_at_validate(venv: Path, tmp_path: Path) -> None:
    site = Path(run(venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (site / "shadow_jdk.py").write_text("from provision_timezone import Timezone\n\n\n"
                                        "class Jdk(Timezone):\n    type_name = 'jdk'\n")
    info = site / "shadow_jdk-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shadow-jdk\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[provision.resources]\njdk = shadow_jdk:Jdk\n")
    try:
        clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        r = subprocess.run([str(venv / "bin/provision"), "validate", "java17"], capture_output=True, text=True,
                           cwd=tmp_path, env=clean, timeout=120)
        assert r.returncode != 0 and "'jdk' is defined twice" in r.stderr, (r.returncode, r.stdout, r.stderr)
    finally:
        (site / "shadow_jdk.py").unlink()
        for f in info.iterdir():
            f.unlink()
        info.rmdir()
