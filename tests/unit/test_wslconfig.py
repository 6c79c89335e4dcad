"""%UserProfile%\\.wslconfig by WSL's rules (provision/formats/wslconfig.py), from data: each
tests/unit/data/wslconfig/*.ini, stored in the encodings the case names, read as expected.yml
says WSL reads it; edits keep every other byte and are read back."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from factsdata import host_from

from provision import wslconfigdoctor
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


# --------------------------------------------------------------------------- doctor's part

def doctor_findings(lines: list[str], wsl: int = 2):
    st = wslconfigdoctor.WslConfigFile().parse(lines)
    return wslconfigdoctor.examine(host_from({"wsl": {"version": wsl}}), st)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_doctor_names_each_line_with_a_fix():
    data = stored((DATA / "experimental_vs_wsl2.ini").read_bytes(), "utf-16-le-bom")
    found = doctor_findings([f"profile USERPROFILE {b64(b'/mnt/c/Users/me')}", f"content {b64(data)}"])
    text = "\n".join(f"{f.status} {f.summary} | {f.fix}" for f in found)
    assert "warn /mnt/c/Users/me/.wslconfig line 6: wsl2.autoMemoryReclaim: autoMemoryReclaim belongs in " \
           "[experimental], not [wsl2]" in text
    assert "info /mnt/c/Users/me/.wslconfig line 2: experimental.autoProxy: now wsl2.autoProxy" in text
    assert "wsl --shutdown" in text


def test_doctor_clean_file_and_no_file_and_not_wsl2():
    data = (DATA / "typical.ini").read_bytes()
    ok = doctor_findings([f"profile cmd.exe {b64(b'/mnt/c/Users/me')}", f"content {b64(data)}"])
    assert [f.status for f in ok] == ["ok"] and "wsl2.memory=8GB" in ok[0].summary
    none = doctor_findings([f"profile USERPROFILE {b64(b'/mnt/c/Users/me')}"])
    assert none[0].status == "info" and "no /mnt/c/Users/me/.wslconfig" in none[0].summary
    assert doctor_findings([f"profile USERPROFILE {b64(b'/x')}", f"content {b64(data)}"], wsl=1) == []
    unknown = doctor_findings(["profile none "])
    assert "not known here" in unknown[0].summary


def run_script(tmp_path: Path, profile: Path) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "USERPROFILE": str(profile)}
    out = subprocess.run(["sh", "-c", wslconfigdoctor.WslConfigFile().command()], env=env, cwd=tmp_path,
                         capture_output=True, timeout=60, check=True)
    return out.stdout.decode().splitlines()


def test_the_real_script_reads_the_file(tmp_path):
    (tmp_path / ".wslconfig").write_bytes(stored((DATA / "typical.ini").read_bytes(), "utf-16-le-bom"))
    st = wslconfigdoctor.WslConfigFile().parse(run_script(tmp_path, tmp_path))
    assert st.how == "USERPROFILE" and st.profile == str(tmp_path)
    assert st.content is not None and wslconfig.effective(st.content)["wsl2.memory"] == "8GB"


@pytest.mark.parametrize("trap", ["symlink", "hardlink", "fifo"])
def test_attacker_cannot_make_doctor_read_another_file(tmp_path, trap):
    """A user points .wslconfig at a file only root may read (doctor reads as root): a symbolic
    link, a hard link or a FIFO is refused, never read or quoted."""
    secret = tmp_path / "secret"
    secret.write_text("[wsl2]\nkernelCommandLine=TOPSECRET\n")
    secret.chmod(0o600)
    target = tmp_path / ".wslconfig"
    if trap == "symlink":
        target.symlink_to(secret)
    elif trap == "hardlink":
        os.link(secret, target)
    else:
        os.mkfifo(target)
    lines = run_script(tmp_path, tmp_path)
    st = wslconfigdoctor.WslConfigFile().parse(lines)
    assert st.content is None and st.refused in ("not-regular", "hard-link")
    assert "TOPSECRET" not in "\n".join(f.summary for f in doctor_findings(lines))
