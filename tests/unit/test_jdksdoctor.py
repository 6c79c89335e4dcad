"""doctor's several-JDKs part, from data: the JDKs found, which JDK each variable and each Maven
toolchain points to, and the entries naming a home that is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from factsdata import facts_from

from provision.findings import OK, PROBLEM, WARN
from provision.java import jdksdoctor

CASES = yaml.safe_load((Path(__file__).parent / "data/jdksdoctor.yml").read_text())
RANK = {OK: 0, WARN: 1, PROBLEM: 2}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_diagnose(case):
    findings = jdksdoctor.diagnose(facts_from(case["facts"]), "local")
    worst: dict[str, str] = {}
    for f in findings:
        assert f.summary
        if f.status == PROBLEM:
            assert f.fix, f"a problem without a fix: {f.summary}"
        if f.check not in worst or RANK[f.status] > RANK[worst[f.check]]:
            worst[f.check] = f.status
    assert worst == case["expect"], findings
    text = "\n".join(f"{f.summary} | {f.fix}" for f in findings)
    for expected in case.get("has", []):
        assert expected in text, text
    for absent in case.get("lacks", []):
        assert absent not in text, text
    if "count" in case:
        assert len(findings) == case["count"], findings


def test_the_probe_is_one_shell_script_naming_only_roots_files():
    script = jdksdoctor.JdkLayoutFact().command()
    assert "/home" not in script and "/root" not in script and "iflag=nofollow" in script
