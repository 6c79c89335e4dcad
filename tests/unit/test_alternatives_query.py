"""verify's check that the default JDK owns the java/javac alternatives, from data files of
``update-alternatives --query`` output: the link points into the JDK's home, and in manual mode
when another JDK ranks higher (what provision's ``update-alternatives --set`` leaves)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision.java.alternatives import judge_default, parse_query

CASES = yaml.safe_load((Path(__file__).parent / "data/alternatives/queries.yml").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_default_jdks_alternatives_are_judged_from_the_query(name):
    case = CASES[name]
    ok, says = judge_default(parse_query("java", case["text"]), case["home"])
    assert (ok, case["says"] in says) == (case["ok"], True), says


def test_priorities_are_read_per_alternative():
    q = parse_query("java", CASES["set-by-provision-manual"]["text"])
    assert q.status == "manual" and q.priorities == {
        "/usr/lib/jvm/java-21-openjdk-amd64/bin/java": 2111, "/usr/lib/jvm/java-25-openjdk-amd64/bin/java": 2511}
