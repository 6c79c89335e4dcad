"""apt-get's output → progress lines and errors a user sees without -v: from data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision import aptout
from provision.connections.base import CommandResult

CASES = yaml.safe_load((Path(__file__).parent / "data/aptout.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_apt_output(case):
    now = [100.0]
    shown: list[str] = []
    passed: list[str] = []
    watch = aptout.AptWatch(shown.append, passed.append, clock=lambda: now[0])
    streamed = []
    for line in case.get("lines", []):
        if line.startswith("@"):  # the clock jumps
            now[0] += float(line[1:])
            continue
        watch(line)
        streamed.append(line)
        now[0] += 1
    assert passed == streamed  # every line still reaches -v output
    assert shown == case.get("progress", [])
    result = CommandResult("apt-get", case["rc"], "\n".join(streamed).encode(), case.get("stderr", "").encode())
    if "error" in case:
        assert not result.ok
        assert aptout.explain_failure("apt-get install x", result, watch, 300) == case["error"]
    else:
        assert result.ok
