"""The static checks CI requires: mypy --strict on provision/ and ruff on the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_CI

REPO = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        __import__(module)
    except ImportError:
        (pytest.fail if IN_CI else pytest.skip)(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_mypy_strict():
    r = _run("mypy", "--strict", "provision")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff():
    r = _run("ruff", "check", ".")
    assert r.returncode == 0, r.stdout + r.stderr
