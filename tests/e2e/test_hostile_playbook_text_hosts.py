"""Issue 18, on a lab root: a playbook's own text (a resource's name, a template's content, a -e
value, the playbook's file name) is shown escaped by plan, plan --diff and apply --check, as the
target's is (the rest, without a host: tests/unit/test_hostile_playbook_text.py)."""

from __future__ import annotations

import json

import pytest
from conftest import provision_on_pty

pytestmark = pytest.mark.lab

HOSTILE = "\x1b]0;pwned-title\x07\x1b]52;c;ZWNobyBwd25lZAo=\x07\x1b[2J\u009b31m\u202eevil\u202c\x7f"
SHOWN = "\\x1b]0;pwned-title\\x07\\x1b]52;c;ZWNobyBwd25lZAo=\\x07\\x1b[2J\\x9b31m\\u202eevil\\u202c\\x7f"
RAW = [b"\x1b", b"\x07", b"\x7f", "\u009b".encode(), "\u202e".encode()]


def assert_escaped(out: bytes, times: int) -> None:
    text = out.replace(b"\r\n", b"\n")
    for raw in RAW:
        assert raw not in text, (raw, out)
    assert out.decode("utf-8", "replace").count(SHOWN) >= times, out


def test_plan_and_its_diff_show_a_playbook_s_text_escaped(fresh_root, tmp_path):
    directory = tmp_path / f"d{HOSTILE}"
    directory.mkdir()
    book = directory / "site.yml"
    book.write_text(f"""\
vars:
  greeting: {{type: str, default: hi}}
resources:
  - name: {json.dumps(HOSTILE)}
    template: {{src: motd.j2, dest: /etc/motd}}
""")
    (directory / "motd.j2").write_text("{{ greeting }}\n" + HOSTILE + "\n")
    never = ("--color", "never")

    code, out = provision_on_pty("plan", str(book), "-H", fresh_root.target, *never)
    assert code == 0, out
    assert_escaped(out, 1)  # the resource's name

    # the name, the template's line and the -e value in the diff
    code, out = provision_on_pty("plan", str(book), "-H", fresh_root.target, "--diff", "-v",
                                 "-e", f"greeting={HOSTILE}", *never)
    assert code == 0, out
    assert_escaped(out, 3)
    assert f"+{SHOWN}" in out.decode()

    code, out = provision_on_pty("apply", str(book), "-H", fresh_root.target, "--check", "--diff", *never)
    assert code == 0, out
    assert_escaped(out, 2)
    assert HOSTILE not in fresh_root.file("/etc/motd").read_text()  # a dry run
