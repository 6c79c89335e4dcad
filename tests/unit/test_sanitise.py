"""Issue 18 (items 13, 15) without a host: the sanitiser, every output edge that uses it, and
framing that output cannot forge (facts blocks, verify's answers)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
from fakehost import encode

from provision import sanitise
from provision.connections.local import LocalConnection
from provision.engine import HostResult, ResourceResult
from provision.facts import FileContent, batch
from provision.plan import Change, Mode, Status
from provision.report import ConsoleReporter, print_json
from provision.verify.output import junit, summary
from provision.verify.runner import FAILED, CheckResult, HostReport
from provision.verify.shell import Shell


@pytest.mark.parametrize("text, shown", [
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # window title
    ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),  # clipboard write
    ("\x1b[2J\x1b[8m", "\\x1b[2J\\x1b[8m"),  # clear screen, conceal
    ("a\rb", "a\\rb"), ("\x00\x08\x7f", "\\x00\\x08\\x7f"),
    ("\x9b31m\x85", "\\x9b31m\\x85"),  # C1 controls: CSI, NEL
    ("\u202eevil\u202c", "\\u202eevil\\u202c"), ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
    ("\u200f\u061c", "\\u200f\\u061c"), ("x\u2028y", "x\\u2028y"),
    ("bad \udcff byte", "bad \\xff byte"),  # a byte that was not UTF-8 (surrogateescape)
    ("two\nlines\tand a tab", "two\nlines\tand a tab"),  # kept where text has lines
    ("[red]x[/red] [link=file:///]y[/link] C:\\Users", "[red]x[/red] [link=file:///]y[/link] C:\\Users"),
    ("Grüße, 日本, é", "Grüße, 日本, é"),
])
def test_what_a_terminal_could_act_on_is_shown_escaped(text, shown):
    assert sanitise.shown(text) == shown
    assert "\n" not in sanitise.shown(text, lines=False)


def test_provision_colours_after_escaping_and_never_without_colour():
    line = ["  ", sanitise.Styled("FAILED", "red", True), " \x1b[32mok\x1b[0m"]
    assert sanitise.render(line, True) == "  \x1b[31m\x1b[1mFAILED\x1b[0m \\x1b[32mok\\x1b[0m"
    assert sanitise.render(line, False) == "  FAILED \\x1b[32mok\\x1b[0m"


def _reporter(colour: bool) -> tuple[ConsoleReporter, io.StringIO]:
    out = io.StringIO()
    reporter = ConsoleReporter(stream=out, diff=True, verbose=1)
    reporter.colour = colour
    return reporter, out


HOSTILE = "\x1b]0;t\x07 \u202e [bold]b[/bold]"


@pytest.mark.parametrize("colour", [True, False])
def test_the_reporter_escapes_every_line_it_prints(colour):
    reporter, out = _reporter(colour)
    r = ResourceResult("x", "template", "template: /etc/x", Status.CHANGED,
                       changes=[Change(f"update /etc/x {HOSTILE}", reason=HOSTILE, diff=f"-{HOSTILE}\n+new\n")],
                       notes=[HOSTILE])
    reporter.resource_done("h", r, Mode.PLAN)
    reporter.output("h", HOSTILE)
    reporter.progress("h", HOSTILE)
    reporter.host_done("h", HostResult("h", failed=True, error=HOSTILE), Mode.APPLY)
    text = out.getvalue()
    escapes = text.count("\x1b")
    assert escapes == (text.count("\x1b[0m") * 2 + text.count("\x1b[1m") if colour else 0), text
    assert "\u202e" not in text and text.count("\\x1b]0;t\\x07") == 7 and "[bold]b[/bold]" in text


def test_verify_summary_and_junit_are_escaped_and_valid_whatever_a_check_printed():
    report = HostReport("h", checks=[CheckResult(f"check {HOSTILE}", "checks", FAILED, f"saw {HOSTILE}\x00\x0b")])
    out = io.StringIO()
    summary([report], stream=out)
    assert "\x1b" not in out.getvalue() and "\\x1b]0;t\\x07" in out.getvalue()
    xml = ET.tostring(junit([report]).getroot(), encoding="unicode")
    case = ET.fromstring(xml).find(".//testcase")  # parses: nothing XML 1.0 forbids
    assert case is not None and case.get("name") == "check \\x1b]0;t\\x07 \\u202e [bold]b[/bold]"
    assert case.find("failure").get("message").endswith("\\x00\\x0b")


def test_json_documents_escape_controls_and_every_non_ascii_character(capsys):
    print_json({"os": HOSTILE})
    raw = capsys.readouterr().out
    assert "\x1b" not in raw and "\u202e" not in raw and json.loads(raw) == {"os": HOSTILE}


# A part that prints what would be frames of the old protocol and of the new one (a file a local
# user wrote) is still one part's output: the block is length-prefixed inside, base64 outside.
FORGED = ["\n@@feed:0\nforged\n@@feed:end\n", "0\n\nend\n", "7\nforged!\n", "@@facts QUJD\n"]


@pytest.mark.parametrize("forged", FORGED)
def test_a_part_cannot_forge_another_part_or_the_end(forged):
    out = encode([f"mine\n{forged}", "", "theirs"]).encode()
    assert batch.split(out, 3) == [["mine", *forged.rstrip("\n").split("\n")], [], ["theirs"]]


@pytest.mark.parametrize("garbled", [b"\n@@facts QUJD\n", b"\n@@facts not base64!\n",
                                     encode(["x"]).encode().replace(b"@@facts ", b"")])
def test_a_garbled_block_is_an_error_not_data(garbled):
    from provision.errors import FactError

    with pytest.raises(FactError):
        batch.parse(batch.sections([FileContent("/a")]), garbled)


def test_the_facts_script_and_the_verify_shell_carry_no_token_on_their_command_line():
    script = batch.script(batch.sections([FileContent("/a")]))
    assert "@@" not in script.replace(batch.MARK.decode(), "")
    from provision.verify import shell

    assert "@@" not in shell._LOOP


def test_a_command_cannot_print_the_verify_shell_s_answer():
    sh = Shell(LocalConnection())
    try:
        first = sh.run("printf '0  \\n0  \\n'; printf '\\n@@x:err\\n\\n@@x:rc 0\\n' >&2; exit 4", 10)
        assert first.rc == 4 and first.stdout == b"0  \n0  \n" and b"@@x:rc 0" in first.stderr
        assert sh.run("exit 7", 10).rc == 7  # the next answer is its own
        # a process left behind with the command's stdout cannot write into a later answer
        sh.run("(sleep 0.3; printf '0  \\n') >&1 2>&1 &", 10)
        later = sh.run("sleep 0.6; echo later; exit 5", 10)
        assert (later.rc, later.stdout) == (5, b"later\n")
    finally:
        sh.close()
