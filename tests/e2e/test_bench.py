"""The benchmark keeps working (issue 11): bench/run.py --smoke runs every tool through every
scenario on one lab host, once, and writes its report. It asserts nothing about time: speed is
measured by a full run (bench/README.md), never by a test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.lab

SCENARIOS = {"startup --version", "startup --help", "noop@1", "converge@1", "first@1", "verify@1"}
TOOLS = {"provision", "provision (paramiko)", "ansible", "pyinfra", "bash (floor)", "bash curve25519 (floor)",
         "paramiko threads (floor)"}


def test_the_bench_runs_every_tool_through_every_scenario(tmp_path, base_root, jdk_root):
    out, doc = tmp_path / "RESULTS.md", tmp_path / "results.json"
    r = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--out", str(out), "--json-out", str(doc)],
                       cwd=REPO, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads(doc.read_text())
    assert set(result["scenarios"]) == SCENARIOS
    for name, rows in result["scenarios"].items():
        want = ({"provision verify", "testinfra"} if name.startswith("verify") else
                {"provision", "ansible", "pyinfra"} if name.startswith("startup") else TOOLS)
        assert set(rows) == want, (name, set(rows))
        assert not any(row["failed"] for row in rows.values()), (name, rows)
    text = out.read_text()
    assert "smoke: not a measurement" in text and "**noop@1**" in text and "| bash (floor) |" in text
