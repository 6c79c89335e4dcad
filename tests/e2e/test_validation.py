"""Invalid playbooks through the real CLI, against a real root: exit 2, one line, no change."""

from __future__ import annotations

from pathlib import Path

import lab
import pytest
import yaml
from conftest import provision

pytestmark = pytest.mark.lab

BAD = yaml.safe_load((Path(__file__).parent.parent / "unit/data/bad_playbooks.yml").read_text())


@pytest.fixture(scope="module")
def untouched_root(base_root):
    with lab.Root(base_root, name="validation") as root:
        yield root


@pytest.mark.parametrize("case", BAD, ids=lambda c: c["name"])
def test_invalid_playbook_exits_2_with_one_line_and_changes_nothing(case, untouched_root, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(case["text"])
    result = provision("apply", str(path), "-H", untouched_root.target, "--json")
    assert result.rc == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result
    where = f"{path}:{case['line']}: " if "line" in case else f"{path}: "
    assert lines[0].startswith(f"provision: error: {where}"), lines[0]
    if "key" in case:
        assert f" {case['key']}: " in lines[0]
    assert untouched_root.changed_paths() == []


def test_unknown_variable_and_target_are_usage_errors(untouched_root):
    r = provision("apply", "java17", "-H", untouched_root.target, "-e", "java_versoin=21")
    assert r.rc == 2 and "has no variable 'java_versoin'" in r.stderr
    r = provision("plan", "java17", "-H", "chroot:relative/path")
    assert r.rc == 2 and "absolute path" in r.stderr
    r = provision("plan", "java17", "-H", "chroot:/nonexistent/root", "--json")
    assert r.rc == 1 and r.json["hosts"][0]["error"].endswith("no such directory")
    assert untouched_root.changed_paths() == []
