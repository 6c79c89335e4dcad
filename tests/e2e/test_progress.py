"""Progress during the long apt work, on a lab root: on a (pseudo-)terminal apt's own status
(APT::Status-Fd) updates in place; elsewhere plain lines, no escape codes; the plan says how much
will be installed and downloaded (apply does not ask: apt's simulation costs seconds on a slow host)."""

from __future__ import annotations

import re

import pytest
from conftest import provision, provision_on_pty

pytestmark = pytest.mark.lab


def test_the_plan_says_how_much_and_a_terminal_sees_apt_progress(fresh_root):
    plan = provision("plan", "java17", "-H", fresh_root.target, "--json")
    assert plan.rc == 0, plan
    install = plan.json["hosts"][0]["resources"][0]["changes"][-1]
    assert re.search(r"\b\d+ packages, (nothing to download|[\d.]+ MB to download), [\d.]+ MB on disk",
                     install["reason"]), install
    rc, out = provision_on_pty("apply", "java17", "-H", fresh_root.target)
    text = out.decode("utf-8", "replace")
    assert rc == 0, text[-3000:]
    assert re.search(r"installing \d+%: (Unpacking|Setting up|Preparing) ", text), text[-3000:]
    assert "\x1b[" in text  # drawn in place (rich), not printed line after line


def test_not_a_terminal_gets_plain_lines(fresh_root):
    r = provision("apply", "java17", "-H", fresh_root.target)
    assert r.rc == 0, r
    assert "\x1b" not in r.stderr
    assert "… apt-get install openjdk-17-jdk-headless\n" in r.stderr, r.stderr  # apply skips the size estimate
