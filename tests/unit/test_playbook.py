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


def test_a_bad_extra_var_value_is_blamed_on_the_option():
    for item, message in [("java_version=seventeen",
                           "-e java_version=seventeen: java_version is an int, not 'seventeen'"),
                          ("headless=maybe", "-e headless=maybe: headless is a bool: true or false, not 'maybe'"),
                          ("profile_d=maybe", "-e profile_d=maybe: profile_d must be one of auto, true, false"),
                          ("vendor=oracle", "-e vendor=oracle: vendor must be one of auto, distro, temurin"),
                          ("java_vresion=21", "-e java_vresion: the playbook has no variable 'java_vresion'")]:
        with pytest.raises(UsageError) as err:
            playbook.load("java17", playbook.parse_extra_vars([item]))
        assert message in str(err.value), str(err.value)


def test_an_untyped_variable_is_checked_where_it_is_used(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("vars:\n  v: {type: any, default: 17}\nresources:\n  - jdk: {version: '{{ v }}'}\n")
    with pytest.raises(PlaybookError) as err:
        playbook.load(str(path), playbook.parse_extra_vars(["v=seventeen"]))
    assert err.value.key == "resources[0].jdk.version" and "p.yml" in err.value.file


def test_extra_vars_from_a_file_and_as_json(tmp_path):
    (tmp_path / "vars.yml").write_text("java_version: 21\nheadless: false\n")
    fingerprint = "0123456789" * 4  # all digits: a str variable keeps the text, not the number
    given = playbook.parse_extra_vars([f"@{tmp_path / 'vars.yml'}", f"temurin_fingerprint={fingerprint}"])
    pb = playbook.load("java17", given)
    assert (pb.vars["java_version"], pb.vars["headless"], pb.vars["temurin_fingerprint"]) == (21, False, fingerprint)
    (tmp_path / "list.yml").write_text("vars:\n  pkgs: {type: list, default: [git]}\nresources:\n"
                                       "  - apt: {packages: '{{ pkgs }}'}\n")
    pb = playbook.load(str(tmp_path / "list.yml"), playbook.parse_extra_vars(['pkgs=["curl", "git"]']))
    assert pb.vars["pkgs"] == ["curl", "git"]
    with pytest.raises(UsageError, match="-e pkgs=curl: pkgs is a list"):
        playbook.load(str(tmp_path / "list.yml"), playbook.parse_extra_vars(["pkgs=curl"]))
    (tmp_path / "bad.yml").write_text("- 1\n")
    with pytest.raises(UsageError, match="must be a mapping of variable names"):
        playbook.parse_extra_vars([f"@{tmp_path / 'bad.yml'}"])


def test_a_declaration_is_checked_where_it_is_written(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("vars:\n  v: {type: integer, default: 1}\nresources: []\n")
    with pytest.raises(PlaybookError) as err:
        playbook.load(str(path))
    assert err.value.key == "vars.v" and "type 'integer' is not one of" in str(err.value)
    path.write_text("vars:\n  v: {type: bool, default: maybe}\nresources: []\n")
    with pytest.raises(PlaybookError, match="v is a bool"):
        playbook.load(str(path))


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
