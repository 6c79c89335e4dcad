"""pam_env grammar: parsing, editing in place, removing only our lines — from data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision.formats import pamenv

DATA = yaml.safe_load((Path(__file__).parent / "data/pamenv.yml").read_text())


def b(text: str) -> bytes:
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1")


@pytest.mark.parametrize("case", DATA["parse"], ids=lambda c: c["name"])
def test_parse(case):
    assert pamenv.effective(b(case["input"])) == case["effective"]


@pytest.mark.parametrize("case", DATA["set"], ids=lambda c: c["name"])
def test_set(case):
    before = b(case["input"])
    after, actions = pamenv.set_keys(before, case["set"])
    assert after == b(case["expect"])
    if "actions" in case:
        assert actions == case["actions"]
    env = pamenv.effective(after)
    assert all(env[k] == v for k, v in case["set"].items())
    # everything that is not ours survives in order
    again, again_actions = pamenv.set_keys(after, case["set"])
    assert again == after and again_actions == []


@pytest.mark.parametrize("case", DATA["unset"], ids=lambda c: c["name"])
def test_unset(case):
    after, actions, notes = pamenv.unset_keys(b(case["input"]), case["unset"])
    assert after == b(case["expect"])
    for expected in case.get("notes", []):
        assert any(expected in n for n in notes), notes
    if after == b(case["input"]):
        assert actions == []


def test_set_then_unset_restores_the_file_byte_for_byte():
    original = b'PATH="/usr/local/bin:/usr/bin"\n# keep me\nhttp_proxy=http://p:3128/\n'
    added, _ = pamenv.set_keys(original, {"JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-arm64"})
    removed, _, _ = pamenv.unset_keys(added, {"JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-arm64"})
    assert removed == original


@pytest.mark.parametrize("key,value,why", DATA["reject"], ids=lambda v: str(v)[:20])
def test_values_pam_env_would_mangle_are_refused(key, value, why):
    problem = pamenv.check_key(key) or pamenv.check_value(key, value)
    assert problem and why in problem


def test_plain_paths_are_accepted():
    assert pamenv.check_value("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64") is None
    assert pamenv.check_key("JAVA_HOME") is None


REAL = yaml.safe_load((Path(__file__).parent / "data/pamenv_real.yml").read_text())


def decode(text: str) -> bytes:
    import re

    text = re.sub(r"@LONG\((\d+)\)@", lambda m: "a" * int(m.group(1)), text)
    return re.sub(r"\\(x[0-9a-fA-F]{2}|[nrt\\])",
                  lambda m: {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}.get(m.group(1)) or
                  chr(int(m.group(1)[1:], 16)), text).encode("latin-1")


def _long(d: dict) -> dict:
    import re

    return {k: re.sub(r"@LONG\((\d+)\)@", lambda m: "a" * int(m.group(1)), v) for k, v in d.items()}


@pytest.mark.parametrize("case", REAL, ids=lambda c: c["name"])
def test_the_1_5_and_1_7_readers_follow_the_table(case):
    data = decode(case["input"])
    assert pamenv.effective(data) == _long(case["pam15"])
    assert pamenv.effective17(data) == _long(case.get("pam17", case["pam15"]))
    differs = pamenv.diagnose(data).differs17
    assert bool(differs) == ("pam17" in case), differs


def test_a_stopping_line_is_reported_with_its_reason():
    d = pamenv.diagnose(b"A=1\nB=" + b"a" * 9000 + b"\nC=3\n")
    assert (d.stop, d.stop_line) == ("a line of 8192 bytes or more", 2)
    d = pamenv.diagnose(b"A=1\nB = 2\n")
    assert d.ignored == [(2, "'B ' is not a name pam_env accepts (letters, digits, '_'; no blanks around '=')")]


def test_check_key_is_a_full_match():
    assert pamenv.check_key("JAVA_HOME\n") is not None and pamenv.check_key("JAVA_HOME") is None
