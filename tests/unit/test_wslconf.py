"""wsl.conf grammar (WSL's configfile.cpp): parsing, what WSL reads, editing in place — from data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision.formats import wslconf

DATA = yaml.safe_load((Path(__file__).parent / "data/wslconf.yml").read_text())


def b(text: str) -> bytes:
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1")


def source(case: dict) -> bytes:
    if "input_utf16" in case:
        return b(case["input_utf16"]).decode("latin-1").encode("utf-16")  # with a BOM, like PowerShell
    return b(case["input"])


@pytest.mark.parametrize("case", DATA["parse"], ids=lambda c: c["name"])
def test_parse(case):
    data = source(case)
    assert wslconf.effective(data) == case["effective"]
    found = {ln.no: ln.problem for ln in wslconf.problems(wslconf.parse(data))}
    assert set(found) == set(case.get("problems", {})), found
    for no, text in case.get("problems", {}).items():
        assert text in found[no], found[no]
    assert b"".join(ln.raw for ln in wslconf.parse(data)) == data  # lossless


@pytest.mark.parametrize("case", DATA["set"], ids=lambda c: c["name"])
def test_set(case):
    edit = wslconf.set_keys(source(case), case["set"])
    assert edit.data == b(case["expect"]), edit.data
    if "actions" in case:
        assert edit.actions == case["actions"]
    for expected in case.get("repairs", []):
        assert any(expected in r for r in edit.repairs), edit.repairs
    if not case.get("repairs"):
        assert edit.repairs == []
    eff = wslconf.effective(edit.data)
    for key, value in case["set"].items():
        assert eff[key.lower()] == wslconf.normalise_value(key, value)
    assert wslconf.first_invalid(edit.data) is None
    assert b"\r" not in edit.data and not edit.data.startswith(wslconf.BOM)
    again = wslconf.set_keys(edit.data, case["set"])
    assert again.data == edit.data and again.actions == [] and again.repairs == []


@pytest.mark.parametrize("case", DATA["refuse"], ids=lambda c: c["name"])
def test_refuse(case):
    with pytest.raises(wslconf.WslConfError) as err:
        wslconf.set_keys(source(case), case["set"])
    assert case["error"] in str(err.value)


def test_every_other_byte_survives():
    original = b"# my settings\n[user]\ndefault = dev   # me\n\n[automount]\nenabled=true\noptions=\"metadata\"\n"
    edit = wslconf.set_keys(original, {"boot.systemd": True})
    assert edit.data.endswith(original)
    assert edit.data.count(b"[boot]") == 1
