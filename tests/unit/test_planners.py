"""Resource planners are pure functions of spec + facts: tested from data, no host."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from factsdata import facts_from

from provision.errors import ResourceError
from provision.registry import registry

CASES = yaml.safe_load((Path(__file__).parent / "data/plans.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_plan(case):
    cls = registry()[case["resource"]]
    render = (lambda name: case["render"]) if "render" in case else None  # the template's text
    resource = cls(cls.spec_type.model_validate(case["spec"]), render)
    facts = facts_from(case.get("facts") or {})
    if "error" in case:
        with pytest.raises(ResourceError) as err:
            resource.plan(facts)
        assert case["error"] in str(err.value)
        return
    plan = resource.plan(facts)
    if "skip" in case:
        assert case["skip"] in plan.skip, plan.skip
        assert not plan.changed and plan.restart is None
        return
    assert not plan.skip, plan.skip
    restart = case.get("restart")  # texts the restart requirement must contain; absent: none
    if restart is None:
        assert plan.restart is None, plan.restart
    else:
        text = plan.restart.reason + " | " + " | ".join(plan.restart.commands) if plan.restart else ""
        for expected in restart:
            assert expected in text, text
    assert [c.summary for c in plan.changes] == case["changes"]
    text = plan.reason + " " + " ".join(c.reason for c in plan.changes)
    for expected in case.get("reason_has", []):
        assert expected in text, text
    for unwanted in case.get("reason_lacks", []):  # the reason says why, it does not repeat the change
        assert unwanted not in text, text
    if not plan.changes:
        assert plan.reason, "a no-op must say why"
    for expected in case.get("diff_has", []):
        assert any(expected in (c.diff or "") for c in plan.changes), [c.diff for c in plan.changes]
    for expected in case.get("notes_has", []):
        assert any(expected in n for n in plan.notes), plan.notes
    for key, value in case.get("outputs", {}).items():
        assert plan.outputs[key] == value


def test_every_resource_type_documents_its_keys():
    for name, cls in registry().items():
        for field, info in cls.spec_type.model_fields.items():
            assert info.description, f"{name}: key {field!r} has no description (it is the documentation)"
        assert cls.summary and cls.example, f"{name}: no summary or example"


def test_resource_reference_is_generated_from_the_docstrings():
    from provision.docgen import render

    current = (Path(__file__).resolve().parents[2] / "docs/resources.md").read_text()
    assert current == render(), "docs/resources.md is stale: run python3 -m provision.docgen"
