"""/etc/environment against the real pam_env: the system's pam_env.so, loaded through libpam with
a private configuration directory (pam_start_confdir; tests/pamenv/harness.c), reads every input of
the table. It must give exactly what the table says and what provision's reader says; after
provision sets JAVA_HOME it must give that JAVA_HOME and every other variable as before; and
after state: absent the file must be back byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from provision.formats import pamenv

pytestmark = pytest.mark.lab

TABLE = yaml.safe_load((Path(__file__).resolve().parents[1] / "unit/data/pamenv_real.yml").read_text())
HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def decode(text: str) -> bytes:
    text = re.sub(r"@LONG\((\d+)\)@", lambda m: "a" * int(m.group(1)), text)

    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        return {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}.get(e) or chr(int(e[1:], 16))
    return re.sub(r"\\(x[0-9a-fA-F]{2}|[nrt\\])", one, text).encode("latin-1")


def expected(case: dict) -> dict[str, str]:
    return {k: re.sub(r"@LONG\((\d+)\)@", lambda m: "a" * int(m.group(1)), v) for k, v in case["pam15"].items()}


def test_the_table_is_big_enough():
    assert len(TABLE) >= 40


@pytest.fixture(scope="module")
def readings(pam_env, tmp_path_factory) -> dict[str, dict[str, str]]:
    """Every input, as the real pam_env reads it (one harness run for the whole table)."""
    files = {c["name"]: decode(c["input"]) for c in TABLE}
    return dict(zip(files, pam_env(list(files.values())), strict=True))


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c["name"])
def test_the_table_and_provision_read_like_the_real_pam_env(case, readings):
    real = readings[case["name"]]
    assert real == expected(case), "the table is wrong about pam_env"
    assert pamenv.effective(decode(case["input"])) == real, "provision's reader is wrong"


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c["name"])
def test_setting_java_home_changes_nothing_else_and_absent_undoes_it(case, readings, pam_env):
    original = decode(case["input"])
    want = case.get("edit", "ok")
    if want != "ok":
        with pytest.raises(ValueError, match=re.escape(want)):
            pamenv.set_keys(original, {"JAVA_HOME": HOME})
        return
    edited, _ = pamenv.set_keys(original, {"JAVA_HOME": HOME})
    undone, _, _ = pamenv.unset_keys(edited, {"JAVA_HOME": HOME})
    after, back = pam_env([edited, undone])
    before = readings[case["name"]]
    assert after == {**before, "JAVA_HOME": HOME}
    if before.get("JAVA_HOME") == HOME:
        assert edited == original  # already so: nothing written
    else:
        assert undone == original  # state: absent gives the file back byte for byte
    assert back == before


@pytest.fixture(scope="module")
def readings17(pam_env17) -> dict[str, dict[str, str]]:
    files = {c["name"]: decode(c["input"]) for c in TABLE}
    return dict(zip(files, pam_env17(list(files.values())), strict=True))


def expected17(case: dict) -> dict[str, str]:
    got = case.get("pam17", case["pam15"])
    return {k: re.sub(r"@LONG\((\d+)\)@", lambda m: "a" * int(m.group(1)), v) for k, v in got.items()}


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c["name"])
def test_pam_env_17_of_debian_13_reads_like_the_table_says(case, readings17):
    """Debian 13's real pam_env.so (1.7, in a lab Debian 13 root) against the table's pam17 column
    and provision's 1.7 reader (what the plan's "pam_env 1.7 reads … differently" notes rest on)."""
    real = readings17[case["name"]]
    assert real == expected17(case), "the table is wrong about pam_env 1.7"
    assert pamenv.effective17(decode(case["input"])) == real, "provision's 1.7 reader is wrong"
