""".properties files (provision/formats/javaprops.py), from data files: read as
java.util.Properties reads them (escapes, continuation lines, ``=``, ``:`` and blank separators,
comments), and this tool's one key set, moved and removed with every other byte kept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from provision.formats import javaprops as jp

DATA = Path(__file__).parent / "data/javaprops"
EXPECTED = yaml.safe_load((DATA / "expected.yml").read_text())
FILES = sorted(p.name for p in DATA.glob("*.properties"))
KEY = "org.gradle.java.installations.paths"
J17, J21 = "/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-21-openjdk-amd64"
READABLE = [n for n in FILES if EXPECTED[n] != "error"]


def test_every_data_file_has_an_expectation():
    assert sorted(EXPECTED) == FILES


@pytest.mark.parametrize("name", FILES)
def test_the_file_reads_as_java_util_properties_reads_it(name):
    data = (DATA / name).read_bytes()
    if EXPECTED[name] == "error":
        with pytest.raises(jp.PropertiesError):
            jp.effective(data)
    else:
        assert jp.effective(data) == EXPECTED[name]


def _dec(text: str) -> str:
    return text.encode().decode("unicode_escape")


@pytest.mark.skipif(shutil.which("java") is None, reason="no java here to compare with")
def test_the_expectations_are_what_java_itself_reads():
    """The data's expected.yml is what OpenJDK's Properties.load says (Dump.java prints it)."""
    out = subprocess.run(["java", str(DATA / "Dump.java"), *(str(DATA / n) for n in FILES)],
                         capture_output=True, check=True, text=True, timeout=120).stdout
    got: dict[str, object] = {n: {} for n in FILES}
    for line in out.splitlines():
        name, key, *value = line.split("|")
        if key == "ERROR":
            got[name] = "error"
            continue
        got[name][_dec(key)] = _dec(value[0])  # type: ignore[index]
    assert got == EXPECTED


@pytest.mark.parametrize("name", READABLE)
def test_setting_our_key_keeps_every_other_entry_and_a_second_set_changes_nothing(name):
    data = (DATA / name).read_bytes()
    after = jp.set_key(data, KEY, f"{J17},{J21}")
    assert after is not None
    got = jp.effective(after)
    assert got[KEY] == f"{J17},{J21}"
    assert {k: v for k, v in got.items() if k != KEY} == {k: v for k, v in EXPECTED[name].items() if k != KEY}
    assert jp.value_of(after, KEY) == (f"{J17},{J21}", True)
    assert jp.set_key(after, KEY, f"{J17},{J21}") == after


@pytest.mark.parametrize("name", [n for n in READABLE if not n.startswith("ours-")])
def test_removing_our_key_gives_the_file_back_byte_for_byte(name):
    data = (DATA / name).read_bytes()
    both = jp.set_key(data, KEY, f"{J17},{J21}")
    one = jp.set_key(both, KEY, J21)
    assert jp.effective(one)[KEY] == J21  # type: ignore[arg-type]
    assert jp.set_key(one, KEY, None) == data
    assert jp.set_key(both, KEY, None) == data


def test_our_entry_is_edited_in_place_with_the_files_line_ends():
    data = (DATA / "ours-in-place.properties").read_bytes()
    after = jp.set_key(data, KEY, f"{J17},{J21}")
    assert after == data.replace(f"={J17}\r".encode(), f"={J17},{J21}\r".encode())
    gone = jp.set_key(data, KEY, None)
    assert gone == b"# site settings\r\norg.gradle.daemon=false\r\norg.gradle.parallel=true\r\n"


def test_our_entry_moves_below_a_later_one_so_that_it_is_the_one_that_counts():
    data = (DATA / "ours-moved.properties").read_bytes()
    assert jp.value_of(data, KEY) == ("/opt/jdk-11", False)
    after = jp.set_key(data, KEY, J21)
    assert after == (b"# site settings\norg.gradle.daemon=false\n# someone set it again below ours\n"
                     b"org.gradle.java.installations.paths=/opt/jdk-11\norg.gradle.parallel=true\n"
                     + jp.MARKER + b"\n" + f"{KEY}={J21}\n".encode())
    assert jp.value_of(after, KEY) == (J21, True)


def test_a_marker_inside_a_continued_value_is_not_ours():
    """The marker line is part of ``trick``'s value there: the entry after it is someone else's."""
    data = (DATA / "marker-in-value.properties").read_bytes()
    assert jp.ours(data, KEY) == [] and jp.value_of(data, KEY) == ("/tmp/evil", False)
    after = jp.set_key(data, KEY, J21)
    assert after is not None and after.startswith(data) and jp.value_of(after, KEY) == (J21, True)
    assert jp.set_key(after, KEY, None) == data


def test_our_lines_go_above_an_entry_left_continued_at_the_end():
    data = (DATA / "dangling.properties").read_bytes()
    after = jp.set_key(data, KEY, J21)
    assert after == b"first=1\n" + jp.MARKER + b"\n" + f"{KEY}={J21}\n".encode() + b"last=2 \\"
    assert jp.effective(after) == {"first": "1", KEY: J21, "last": "2 "}
    with pytest.raises(jp.PropertiesError, match="continued"):
        jp.set_key(b"a=1\n" + KEY.encode() + b"=x\\", KEY, J21)


def test_a_file_without_a_final_newline_keeps_it_so_and_gets_back_its_last_byte():
    after = jp.set_key(b"a=1", KEY, J21)
    assert after == b"a=1\n" + jp.MARKER + b"\n" + f"{KEY}={J21}".encode()
    assert jp.set_key(after, KEY, J17) == after.replace(J21.encode(), J17.encode())
    assert jp.set_key(after, KEY, None) == b"a=1"


def test_no_file_gets_only_our_lines_and_nothing_wanted_needs_no_file():
    made = jp.set_key(None, KEY, J21)
    assert made == jp.MARKER + b"\n" + f"{KEY}={J21}\n".encode()
    assert jp.set_key(made, KEY, None) is None
    assert jp.set_key(None, KEY, None) is None
    assert jp.set_key(b"", KEY, None) is None


@pytest.mark.parametrize(("value", "line"), [
    ("/opt/jdk é", "/opt/jdk \\u00e9"),
    ("/opt/jdk\\x", "/opt/jdk\\\\x"),
    (" lead", "\\ lead"),
    ("/opt/a=b:c#d!e", "/opt/a=b:c#d!e"),
    ("/opt/\U0001F600", "/opt/\\ud83d\\ude00"),
])
def test_values_are_written_in_ascii_and_read_back_as_given(value, line):
    data = jp.set_key(None, KEY, value)
    assert data is not None and data.endswith(f"{KEY}={line}\n".encode())
    assert jp.effective(data)[KEY] == value


@pytest.mark.parametrize("value", ["/opt/a\nb=evil", "/opt/a\rb", "/opt/\x00", "/opt/\x7f"])
def test_a_control_character_is_refused(value):
    with pytest.raises(jp.PropertiesError, match="control character"):
        jp.set_key(None, KEY, value)


def test_a_nul_byte_or_a_huge_file_is_refused():
    with pytest.raises(jp.PropertiesError, match="NUL"):
        jp.parse(b"a=1\x00\n")
    with pytest.raises(jp.PropertiesError, match="more than"):
        jp.parse(b"#" * (jp.MAX_SIZE + 1))
