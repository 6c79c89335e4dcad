"""Discoverability: provision list, show, validate, schema and init, through the real CLI; the JSON
Schema accepts every built-in playbook and the starter, and rejects the malformed playbooks of the
validation table that a schema can see (structure and types: not undefined variables or templates,
which need the playbook's own rules)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import provision

from provision.paths import builtin_playbooks
from provision.playbook.schema import playbook_schema

BAD = yaml.safe_load((Path(__file__).parent / "data/bad_playbooks.yml").read_text())
# What only provision's loader can see: variables, templates and expressions, ids across
# resources, pam_env's rules for values, YAML's duplicate keys (gone once parsed), an empty file.
BEYOND_A_SCHEMA = {"yaml syntax error", "undefined variable in a value", "template syntax error in a value",
                   "broken when expression", "undefined name in when", "two resources with one id",
                   "a value pam_env would mangle", "duplicate key in a mapping", "empty file",
                   "reference to a later resource", "template file that does not exist"}


@pytest.fixture(scope="module")
def validator():
    schema = playbook_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(builtin_playbooks()))
def test_the_schema_accepts_every_builtin_playbook(validator, name):
    doc = yaml.safe_load(builtin_playbooks()[name].read_text())
    errors = [e.message for e in validator.iter_errors(doc)]
    assert errors == []


def test_the_cases_beyond_a_schema_are_in_the_table():
    assert BEYOND_A_SCHEMA <= {c["name"] for c in BAD}


@pytest.mark.parametrize("case", [c for c in BAD if c["name"] not in BEYOND_A_SCHEMA], ids=lambda c: c["name"])
def test_the_schema_rejects_malformed_playbooks(validator, case):
    doc = yaml.safe_load(case["text"])
    assert list(validator.iter_errors(doc)), f"the schema accepts {case['name']!r}"


def test_list_names_every_builtin_with_its_description():
    r = provision("list")
    assert r.rc == 0, r
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == sorted(builtin_playbooks())
    assert any(ln.startswith("java17 ") and "Temurin" in ln for ln in lines)


def test_show_gives_each_variable_its_type_default_and_meaning():
    r = provision("show", "java17")
    assert r.rc == 0, r
    assert "  headless  (bool, default true)\n      false: openjdk-<v>-jdk with X11/GTK" in r.stdout
    assert "  profile_d  (auto | true | false, default \"auto\")" in r.stdout
    assert "  java_home (env_file): JAVA_HOME in /etc/environment" in r.stdout
    doc = json.loads(provision("show", "workstation", "--json").stdout)
    assert doc["vars"]["java_version"] == {"type": "int", "default": 17, "choices": [],
                                           "description": doc["vars"]["java_version"]["description"]}
    assert [r["type"] for r in doc["resources"]] == ["jdk", "env_file", "profile_script", "wsl_conf"]


def test_validate_needs_no_target(tmp_path):
    good = provision("validate", "workstation", "-e", "java_version=21")
    assert good.rc == 0 and "workstation: valid" in good.stderr, good
    bad = tmp_path / "bad.yml"
    bad.write_text("resources:\n  - jdk:\n      versoin: 17\n")
    r = provision("validate", str(bad))
    assert r.rc == 2 and "bad.yml:3: resources[0].jdk.versoin: unknown key" in r.stderr, r
    wrong = provision("validate", "java17", "-e", "headless=maybe")
    assert wrong.rc == 2 and "-e headless=maybe: headless is a bool" in wrong.stderr, wrong


def test_schema_is_json_schema_and_init_writes_a_starter_that_validates(tmp_path, validator):
    r = provision("schema")
    assert r.rc == 0 and json.loads(r.stdout)["title"] == "provision playbook"
    init = provision("init", str(tmp_path))
    assert init.rc == 0, init
    book = tmp_path / "playbook.yml"
    assert book.read_text().startswith("# yaml-language-server: $schema=provision-schema.json\n")
    assert json.loads((tmp_path / "provision-schema.json").read_text()) == playbook_schema()
    assert list(validator.iter_errors(yaml.safe_load(book.read_text()))) == []
    assert provision("validate", str(book)).rc == 0
    inventory = yaml.safe_load((tmp_path / "inventory.yml").read_text())
    assert inventory["hosts"] == {"build1": {}}
    again = provision("init", str(tmp_path))  # files that exist are left alone
    assert again.rc == 0 and again.stderr.count("(it exists)") == 3


def test_every_command_s_json_is_a_list_of_hosts_with_the_same_facts_object():
    """One document shape: {"provision", "command", "hosts": [{"host", "ok", "error", "facts", …}]}
    (a target that cannot be reached still gets its entry)."""
    target = ["-H", "chroot:/nonexistent", "--json"]
    for argv in (["facts", "java17"], ["plan", "java17"], ["apply", "java17", "--check"], ["verify", "java17"],
                 ["doctor"]):
        r = provision(*argv, *target)
        assert r.rc == 1, (argv, r)
        doc = json.loads(r.stdout)
        assert doc["provision"] and isinstance(doc["hosts"], list), (argv, doc)
        entry = doc["hosts"][0]
        assert entry["host"] == "chroot:/nonexistent" and entry["error"], (argv, entry)
        assert {"host", "error", "facts"} <= set(entry), (argv, sorted(entry))
