"""Playbook loading and validation: every malformed playbook names file:line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision import playbook
from provision.errors import PlaybookError, UsageError

BAD = yaml.safe_load((Path(__file__).parent / "data/bad_playbooks.yml").read_text())


@pytest.mark.parametrize("case", BAD, ids=lambda c: c["name"])
def test_malformed_playbook_is_refused_with_its_location(case, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(case["text"])
    with pytest.raises(PlaybookError) as err:
        playbook.load(str(path))
    e = err.value
    assert case["message"] in e.message, str(e)
    assert e.line == case.get("line"), str(e)
    assert e.key == case.get("key"), str(e)
    text = str(e)
    assert "\n" not in text
    assert text.startswith(f"{path}:{case['line']}: " if "line" in case else f"{path}: ")


def test_builtin_playbooks_load_and_validate():
    for name in ("java17", "workstation"):
        pb = playbook.load(name)
        assert [d.type for d in pb.resources][:2] == ["jdk", "env_file"]
        assert pb.vars["java_version"] == 17


def test_extra_vars_are_typed_and_must_be_declared():
    pb = playbook.load("java17", playbook.parse_extra_vars(["java_version=21", "headless=false"]))
    assert pb.vars["java_version"] == 21 and pb.vars["headless"] is False
    jdk = pb.resources[0]
    assert jdk.spec.version == 21 and jdk.spec.headless is False
    with pytest.raises(UsageError, match="has no variable 'java_versoin'"):
        playbook.load("java17", {"java_versoin": 21})
    with pytest.raises(UsageError, match="expected key=value"):
        playbook.parse_extra_vars(["java_version"])


def test_a_bad_extra_var_value_is_reported_where_it_is_used():
    with pytest.raises(PlaybookError) as err:
        playbook.load("java17", {"java_version": "seventeen"})
    assert err.value.key == "resources[0].jdk.version" and "java17.yml" in err.value.file


def test_values_known_only_from_facts_are_deferred_not_rejected(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("resources:\n  - jdk: {}\n  - env_file:\n      set: {JAVA_HOME: '{{ jdk.home }}'}\n")
    pb = playbook.load(str(path))
    jdk, env = pb.resources
    assert jdk.spec is not None and env.spec is None  # env_file waits for jdk's outputs


def test_imports_bring_vars_and_resources_first(tmp_path):
    (tmp_path / "base.yml").write_text("vars: {pkg: git}\nresources:\n  - apt: {packages: ['{{ pkg }}']}\n")
    (tmp_path / "top.yml").write_text("imports: [base.yml]\nvars: {pkg: maven}\n")
    pb = playbook.load(str(tmp_path / "top.yml"))
    assert pb.vars == {"pkg": "maven"}
    assert pb.resources[0].spec.packages == ["maven"]


def test_import_cycle_is_refused(tmp_path):
    (tmp_path / "a.yml").write_text("imports: [b.yml]\n")
    (tmp_path / "b.yml").write_text("imports: [a.yml]\n")
    with pytest.raises(PlaybookError, match="cycle"):
        playbook.load(str(tmp_path / "a.yml"))


def test_unknown_playbook_name_lists_the_builtins():
    with pytest.raises(UsageError, match="java17, workstation"):
        playbook.load("jaav17")
