"""%UserProfile%\\.wslconfig by WSL's rules (provision/formats/wslconfig.py), from data: each
tests/unit/data/wslconfig/*.ini, stored in the encodings the case names, read as expected.yml
says WSL reads it; edits keep every other byte and are read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision.formats import wslconfig

DATA = Path(__file__).parent / "data" / "wslconfig"
CASES = [(c, how) for c in yaml.safe_load((DATA / "expected.yml").read_text()) for how in c["as"]]


def stored(text: bytes, how: str) -> bytes:
    """The .ini's bytes as a Windows editor might have saved them."""
    s = text.decode("utf-8")
    return {"utf-8": text, "crlf": text.replace(b"\n", b"\r\n"), "utf-8-bom": b"\xef\xbb\xbf" + text,
            "utf-16-le-bom": b"\xff\xfe" + s.replace("\n", "\r\n").encode("utf-16-le"),
            "utf-16-be-bom": b"\xfe\xff" + s.encode("utf-16-be"), "utf-16-le": s.encode("utf-16-le")}[how]


@pytest.mark.parametrize(("case", "how"), CASES, ids=lambda x: x["file"] if isinstance(x, dict) else x)
def test_reads_like_wsl(case, how):
    data = stored((DATA / case["file"]).read_bytes(), how)
    r = wslconfig.read(data)
    assert wslconfig.effective(data) == case["reads"]
    got = sorted((n.line, str(n.severity)) for n in r.notes)
    assert got == sorted((line, sev) for line, sev, _ in case["notes"]), r.notes
    for line, _, text in case["notes"]:
        assert any(n.line == line and text in n.text for n in r.notes), (line, text, r.notes)


EDITS = [
    # (file, encoding, key, value, the record WSL must then read, what must stay)
    ("typical.ini", "crlf", "wsl2.memory", "16GB", b"memory=16GB\r\n",
     b"[experimental]\r\nautoMemoryReclaim=gradual\r\n"),
    ("typical.ini", "utf-16-le-bom", "experimental.autoMemoryReclaim", "disabled", None, None),
    ("experimental_vs_wsl2.ini", "utf-8", "wsl2.autoProxy", "true", b"[experimental]\nautoProxy=true\n", None),
    # after processors=2, which WSL reads in [wsl2] (the invalid "[wsl2 ]" kept its length)
    ("bad_headers.ini", "utf-8", "wsl2.swap", "0", b"[wsl2 ]\nprocessors=2\nswap=0\n[ab c]\nswap=0\n", None),
    ("values.ini", "crlf", "wsl2.swapFile", "C:\\temp\\swap.vhdx", b"\r\nswapFile=C:\\temp\\swap.vhdx\r\n", None),
    ("lone_cr.ini", "utf-8", "wsl2.networkingMode", "mirrored", b"processors=2\nnetworkingMode=mirrored\n", b"\r#"),
    ("memory_without_unit.ini", "utf-8", "experimental.sparseVhd", "true",
     b"memory=8192\n\n[experimental]\nsparseVhd=true\n", None),
]


@pytest.mark.parametrize(("file", "how", "key", "value", "shows", "keeps"), EDITS)
def test_edit_sets_the_key_and_keeps_the_rest(file, how, key, value, shows, keeps):
    data = stored((DATA / file).read_bytes(), how)
    new = wslconfig.set_value(data, key, value)
    assert wslconfig.effective(new)[wslconfig.lookup(key).name] == value
    before = {k: v for k, v in wslconfig.effective(data).items() if k != wslconfig.lookup(key).name}
    assert {k: v for k, v in wslconfig.effective(new).items() if k != wslconfig.lookup(key).name} == before
    assert new[:2] == data[:2]  # the BOM (or its absence) stays
    old_lines, new_lines = wslconfig.decode(data).text, wslconfig.decode(new).text
    assert len(new_lines) - len(old_lines) <= len(key) + len(value) + 20  # one key's worth of change
    if shows:
        assert shows in new, new
    if keeps:
        assert keeps in new
    assert wslconfig.set_value(new, key, value) == new  # again: nothing to change


def test_the_swapfile_edit_escapes_backslashes():
    new = wslconfig.set_value(b"[wsl2]\n", "wsl2.swapFile", "C:\\temp\\swap.vhdx")
    assert new == b'[wsl2]\nswapFile="C:\\\\temp\\\\swap.vhdx"\n'


@pytest.mark.parametrize(("key", "value", "why"), [
    ("wsl2.memory", "8gb", "not a size"), ("wsl2.memory", "8 GB", "not a size"),
    ("wsl2.networkingMode", "bridge", "not one of"), ("wsl2.autoMemoryReclaim", "gradual", "belongs in [experimental]"),
    ("boot.systemd", "true", "/etc/wsl.conf"), ("wsl2.kernelCommandLine", "a\rb", "carriage return"),
    ("wsl2.swapFile", "C:\\Users\\José", "non-ASCII"),
])
def test_edit_refuses_values_wsl_would_not_take(key, value, why):
    with pytest.raises(wslconfig.WslConfigError, match=None) as e:
        wslconfig.set_value(b"[wsl2]\nmemory=4GB\n", key, value)
    assert why in str(e.value)


def test_edit_refuses_a_file_wsl_cannot_read():
    with pytest.raises(wslconfig.WslConfigError, match="big-endian"):
        wslconfig.set_value(b"\xfe\xff" + "[wsl2]\n".encode("utf-16-be"), "wsl2.memory", "4GB")


def test_hostile_value_cannot_add_a_key():
    """A value with a newline, a quote or '#' is quoted and escaped: WSL reads it back as one
    value, and no other key appears."""
    evil = 'x" \nmemory=1GB\n# "'
    with pytest.raises(wslconfig.WslConfigError):
        wslconfig.set_value(b"[wsl2]\n", "wsl2.memory", evil)  # not a size at all
    new = wslconfig.set_value(b"[wsl2]\nmemory=4GB\n", "wsl2.kernelCommandLine", evil)
    assert wslconfig.effective(new) == {"wsl2.memory": "4GB", "wsl2.kernelCommandLine": evil}
