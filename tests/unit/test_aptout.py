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


def test_apt_status_lines_become_progress_and_are_not_passed_on():
    from provision.aptout import AptWatch

    seen: list[str] = []
    shown: list[str] = []
    now = iter([0.0, 4.0])
    watch = AptWatch(progress=lambda m: None, passthrough=seen.append, status=shown.append,
                     download=40_000_000, packages=25, clock=lambda: next(now))
    for line in ["dlstatus:1:0.0:Retrieving file 1 of 25", "dlstatus:3:50.0:Retrieving file 3 of 25",
                 "Get:3 http://deb.debian.org/debian bookworm/main amd64 libx 1.0 [10 kB]",
                 "pmstatus:openjdk-17-jre-headless:45.5:Unpacking openjdk-17-jre-headless (amd64)",
                 "(Reading database ... 45%"]:
        watch(line)
    assert shown == ["downloading 0% of 40.0 MB", "downloading 50% of 40.0 MB, 5.0 MB/s",
                     "installing 25 packages 46%: Unpacking openjdk-17-jre-headless (amd64)"]
    assert seen == ["Get:3 http://deb.debian.org/debian bookworm/main amd64 libx 1.0 [10 kB]"]  # -v: filtered
