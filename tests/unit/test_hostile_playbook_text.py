"""Issue 18: a playbook's own text (its description, variables, resource and check names, a
file name, a value given with -e, an argument) never drives the terminal: show, validate, export
and every error, usage errors included, print it escaped, on stdout as on stderr. JSON stays exact
(json.dumps escapes it). The real CLI on a pseudo-terminal, no host needed (plan and plan --diff
on a lab root: tests/e2e/test_hostile_playbook_text_hosts.py)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, provision

# A window title (OSC 0 … BEL), an OSC 52 clipboard write, clear-screen (CSI 2J), a C1 CSI
# (U+009B: SGR red on a UTF-8 terminal), a bidi override, DEL.
HOSTILE = "\x1b]0;pwned-title\x07\x1b]52;c;ZWNobyBwd25lZAo=\x07\x1b[2J\u009b31m\u202eevil\u202c\x7f"
SHOWN = "\\x1b]0;pwned-title\\x07\\x1b]52;c;ZWNobyBwd25lZAo=\\x07\\x1b[2J\\x9b31m\\u202eevil\\u202c\\x7f"
RAW = [b"\x1b", b"\x07", b"\x7f", "\u009b".encode(), "\u202e".encode()]


def on_pty(*args: str, cwd: Path = REPO) -> tuple[int, bytes]:
    """The real CLI with stdout and stderr on one pseudo-terminal: (exit code, what it received)."""
    master, slave = pty.openpty()
    env = {**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, "TERM": "xterm", "COLUMNS": "200"}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "provision", *args], stdin=subprocess.DEVNULL,
                                stdout=slave, stderr=slave, cwd=cwd, env=env)
    finally:
        os.close(slave)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=120), out


def assert_escaped(out: bytes, *, shown: str = SHOWN) -> None:
    """No control character of the playbook's on the terminal; its text there, escaped."""
    text = out.replace(b"\r\n", b"\n")  # the terminal's own line ends
    for raw in RAW:
        assert raw not in text, (raw, out)
    assert shown in out.decode("utf-8", "replace"), out


def hostile_book(directory: Path, name: str = "site.yml") -> Path:
    q = json.dumps(HOSTILE)  # a double-quoted YAML string with the same escapes
    book = directory / name
    book.write_text(f"""\
name: hostile
description: {q}
vars:
  greeting:
    type: str
    default: {q}
    description: {q}
  count:
    type: int
    default: 1
    description: a number
resources:
  - name: {q}
    template: {{src: motd.j2, dest: /etc/motd}}
checks:
  - name: {q}
    command: {{run: "true"}}
""")
    (directory / "motd.j2").write_text("hello {{ greeting }}\n" + HOSTILE + "\n")
    return book


def test_show_prints_a_playbook_s_text_escaped(tmp_path):
    book = hostile_book(tmp_path)
    code, out = on_pty("show", str(book), "--color", "never")
    assert code == 0, out
    assert_escaped(out)
    assert out.decode().count(SHOWN) >= 4  # description, a variable's, a resource's and a check's name


def test_show_json_stays_exact_and_json_escapes_every_control_and_bidi_character(tmp_path):
    r = provision("show", str(hostile_book(tmp_path)), "--json")
    assert r.rc == 0, r
    for raw in RAW:
        assert raw not in r.stdout.encode(), raw
    for escape in ("\\u001b", "\\u0007", "\\u009b", "\\u202e", "\\u007f"):
        assert escape in r.stdout
    assert r.json["description"] == HOSTILE  # the data itself, unchanged


def test_validate_and_errors_print_file_names_and_values_escaped(tmp_path):
    directory = tmp_path / f"d{HOSTILE}"
    directory.mkdir()
    book = hostile_book(directory, f"s{HOSTILE}.yml")
    code, out = on_pty("validate", str(book))
    assert code == 0, out
    assert_escaped(out)
    assert b": valid (" in out

    code, out = on_pty("validate", str(book), "-e", f"count={HOSTILE}")  # an invalid value is quoted
    assert code == 2, out
    assert_escaped(out)

    code, out = on_pty("plan", str(book) + ".missing", "-H", "chroot:/nonexistent")  # no such file
    assert code == 2, out
    assert_escaped(out)


def test_click_s_own_usage_errors_are_escaped_too():
    code, out = on_pty("validate", "java17", HOSTILE)  # "Got unexpected extra argument (…)"
    assert code == 2, out
    assert_escaped(out)
    assert b"Usage: provision validate" in out and b"Try 'provision validate --help'" in out

    code, out = on_pty("plan", "--forks", HOSTILE)  # click quotes the value
    assert code == 2, out
    assert b"\x1b" not in out and b"\x07" not in out, out


def test_export_writes_the_playbook_s_text_escaped_in_comments_and_exact_in_the_yaml(tmp_path):
    directory = tmp_path / f"d{HOSTILE}"  # its path is quoted in a comment
    directory.mkdir()
    book = hostile_book(directory)
    code, out = on_pty("export", "cloud-init", str(book), "--facts", "os=debian-12")
    assert code == 0, out
    text = out.replace(b"\r\n", b"\n")
    for raw in (b"\x1b", b"\x07", b"\x7f", "\u009b".encode()):  # C0/C1: escaped (comments) or by YAML
        assert raw not in text, (raw, out)
    assert f"/d{SHOWN}/site.yml)" in out.decode()  # the playbook's file, in a comment

    dest = tmp_path / "user-data"
    r = provision("export", "cloud-init", str(book), "--facts", "os=debian-12", "-o", str(dest))
    assert r.rc == 0, r
    doc = yaml.safe_load(dest.read_text())  # valid YAML: no raw control character in a comment
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    assert files["/etc/motd"] == f"hello {HOSTILE}\n{HOSTILE}\n"  # the file's content, exact
