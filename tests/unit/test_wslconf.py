"""wsl.conf as WSL's init reads it (configfile.cpp), from a data table of inputs and WSL's reading of
them: provision's reader and the lab's independent one must both agree with the table, and after
provision sets boot.systemd=true, WSL boots systemd and reads every other key as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from lab import wslinit

from provision.formats import wslconf, wslconf_edit

DATA = Path(__file__).parent / "data"
TABLE = yaml.safe_load((DATA / "wslconf_wsl.yml").read_text())
EDITS = yaml.safe_load((DATA / "wslconf.yml").read_text())
LONG = "a" * 10000


def decode(text: str) -> bytes:
    """Only \\n \\r \\t \\xHH and \\\\ are escapes; any other backslash is kept as it is."""
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        return {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}.get(e) or chr(int(e[1:], 16))
    return re.sub(r"\\(x[0-9a-fA-F]{2}|[nrt\\])", one, text.replace("@LONG@", LONG)).encode("latin-1")


def source(case: dict) -> bytes:
    if "input_utf16" in case:
        return decode(case["input_utf16"]).decode("latin-1").encode("utf-16")  # a BOM, like PowerShell
    return decode(case["input"])


def product_reads(data: bytes) -> tuple[dict[str, str], int | None]:
    """Every key provision's reader says WSL reads (first occurrence), as in the table."""
    r = wslconf.read(data)
    reads: dict[str, str] = {}
    for ln in r.lines:
        if ln is r.stop:
            break
        if ln.kind == "key":
            reads.setdefault(ln.key or ln.name.lower(), ln.value or "")
    return reads, (r.stop.no if r.stop else None)


def expected(case: dict) -> dict[str, str]:
    return {k: v.replace("@LONG@", LONG) for k, v in case["reads"].items()}


def test_the_table_is_big_enough():
    assert len(TABLE) >= 50


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c["name"])
def test_provision_reads_like_wsl(case):
    data = source(case)
    reads, stop = product_reads(data)
    assert reads == expected(case)
    assert stop == case.get("stops")
    setting = wslconf.read(data).settings.get("boot.systemd")
    assert (setting is not None and setting.value == "true") == case["systemd"]


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c["name"])
def test_the_lab_reads_like_wsl(case):
    data = source(case)
    reads, stopped = wslinit.read_settings(data)
    assert reads == expected(case) and stopped == ("stops" in case)
    assert wslinit.boots_systemd(data) == case["systemd"]


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c["name"])
def test_setting_systemd_changes_nothing_else_that_wsl_reads(case):
    data = source(case)
    want = case.get("edit", "ok")
    if want != "ok":
        with pytest.raises(wslconf.WslConfError) as err:
            wslconf_edit.set_keys(data, {"boot.systemd": True})
        assert want in str(err.value)
        return
    edit = wslconf_edit.set_keys(data, {"boot.systemd": True})
    for reader in (lambda d: wslinit.read_settings(d), lambda d: (product_reads(d)[0], product_reads(d)[1])):
        before, _ = reader(data)
        after, stop = reader(edit.data)
        assert not stop
        assert wslinit.wsl_bool(after["boot.systemd"]) is True
        if "stops" not in case:  # what WSL read before is read the same way (systemd aside)
            assert {k: v for k, v in after.items() if k != "boot.systemd"} == \
                {k: v for k, v in before.items() if k != "boot.systemd"}
    assert wslinit.boots_systemd(edit.data)
    assert b"\r" not in edit.data and not edit.data.startswith((wslconf.BOM, b"\xff\xfe"))
    again = wslconf_edit.set_keys(edit.data, {"boot.systemd": True})
    assert again.data == edit.data and again.actions == [] and again.repairs == []


@pytest.mark.parametrize("case", EDITS["set"], ids=lambda c: c["name"])
def test_edits_in_place(case):
    edit = wslconf_edit.set_keys(source(case), case["set"])
    assert edit.data == decode(case["expect"]), edit.data
    if "actions" in case:
        assert edit.actions == case["actions"]
    for text in case.get("repairs", []):
        assert any(text in r for r in edit.repairs), edit.repairs
    if not case.get("repairs"):
        assert edit.repairs == []


@pytest.mark.parametrize("case", EDITS["refuse"], ids=lambda c: c["name"])
def test_refusals(case):
    with pytest.raises(wslconf.WslConfError) as err:
        wslconf_edit.set_keys(source(case), case["set"])
    assert case["error"] in str(err.value)


def test_every_other_byte_survives():
    original = b"# my settings\n[user]\ndefault = dev   # me\n\n[automount]\nenabled=true\noptions=\"metadata\"\n"
    edit = wslconf_edit.set_keys(original, {"boot.systemd": True})
    assert edit.data == b"# my settings\n[boot]\nsystemd=true\n\n" + original[len(b"# my settings\n"):]


@pytest.mark.parametrize("key, value, error", [
    ("boot.sytemd", True, "did you mean boot.systemd?"),
    ("automount.cgroups", "v3", "not one of v1, v2"),
    ("boot.initTimeout", "ten", "not an integer"),
    ("boot.systemd", "yes", "not a boolean WSL accepts"),
    ("user.default", "a\rb", "carriage return"),
    ("boot", True, "keys are written section.key"),
])
def test_values_are_checked_by_wsls_key_table(key, value, error):
    with pytest.raises(wslconf.WslConfError, match=re.escape(error)):
        wslconf.normalise_value(key, value)


@pytest.mark.parametrize("key, value, written", [
    ("boot.systemd", 1, "true"), ("boot.initTimeout", "0x10", "0x10"), ("automount.cgroups", "V2", "v2"),
    ("filesystem.umask", "022", "022"), ("boot.command", "echo a # b", '"echo a # b"'),
    ("boot.command", 'say "hi"', '"say \\"hi\\""'), ("user.default", "", '""'),
])
def test_values_are_written_so_wsl_reads_them_back(key, value, written):
    text = wslconf.normalise_value(key, value)
    assert wslconf.format_value(text) == written
    section, _, name = key.partition(".")
    back = wslconf.read(f"[{section}]\n{name}={written}\n".encode()).settings[key.lower()]
    assert back.value == wslconf.typed(wslconf.KEYS[key.lower()], text)


def test_doctor_style_reading_names_what_hides_behind_a_stop():
    r = wslconf.read(b"[network]\nhostname=box\n[ boot ]\nsystemd=true\n[boot]\nsystemd=true\n")
    assert r.stop is not None and r.stop.no == 3 and "blanks inside a section header" in r.stop.problem
    assert r.hidden["boot.systemd"].line == 6 and "boot.systemd" not in r.settings
