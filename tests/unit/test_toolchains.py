"""Maven toolchains.xml edited surgically (provision/java/toolchains.py), from data files: others'
entries and comments byte for byte, ours added, replaced and removed, hostile files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.java import toolchains as tc

DATA = Path(__file__).parent / "data/toolchains"
J21 = tc.Toolchain(21, "openjdk", "/usr/lib/jvm/java-21-openjdk-amd64")
J25 = tc.Toolchain(25, "openjdk", "/usr/lib/jvm/java-25-openjdk-amd64")
T17 = tc.Toolchain(17, "temurin", "/usr/lib/jvm/temurin-17-jdk-amd64")
VALID = ["debian13.xml", "foreign.xml", "empty-root.xml"]


def foreign_spans(data: bytes) -> list[bytes]:
    """Everything that is not one of our entries, in order."""
    parsed = tc.parse(data)
    out, at = [], 0
    for e in sorted((e for e in parsed.entries if e.ours is not None), key=lambda e: e.start):
        out.append(data[at:e.start])
        at = e.end
    return [b"".join(out) + data[at:]]


@pytest.mark.parametrize("name", VALID)
def test_ours_are_added_and_read_back_and_a_second_splice_changes_nothing(name):
    data = (DATA / name).read_bytes()
    after = tc.splice(data, [J21, J25])
    ours = tc.entries_in(after)
    assert {v: (e.home, e.provides["vendor"], e.type) for v, e in ours.items()} == {
        21: (J21.home, "openjdk", "jdk"), 25: (J25.home, "openjdk", "jdk")}
    assert tc.splice(after, [J21, J25]) == after


@pytest.mark.parametrize("name", ["debian13.xml", "foreign.xml"])
def test_others_entries_and_comments_stay_byte_for_byte_and_removal_gives_the_file_back(name):
    data = (DATA / name).read_bytes()
    both = tc.splice(data, [J21, J25])
    assert data.count(b"\n") and both.startswith(data[:data.rindex(b"</toolchains>")].rsplit(b"\n", 1)[0])
    one = tc.splice(both, [J25])
    assert 21 not in tc.entries_in(one) and 25 in tc.entries_in(one)
    assert tc.splice(one, []) == data
    assert tc.splice(both, []) == data


def test_a_changed_home_is_replaced_in_place():
    data = (DATA / "foreign.xml").read_bytes()
    before = tc.splice(data, [J21, T17])
    moved = tc.Toolchain(21, "openjdk", "/usr/lib/jvm/java-21-openjdk-arm64")
    after = tc.splice(before, [moved, T17])
    assert tc.entries_in(after)[21].home == moved.home
    assert after.replace(b"arm64", b"amd64") == before


def test_no_file_gets_the_skeleton_and_nothing_wanted_needs_no_file():
    assert tc.splice(None, []) is None
    made = tc.splice(None, [J21])
    assert made.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<toolchains xmlns=')
    assert tc.splice(made, []) == tc.SKELETON


def test_foreign_entries_are_seen_but_never_ours():
    parsed = tc.parse((DATA / "foreign.xml").read_bytes())
    assert [(e.type, e.ours) for e in parsed.entries] == [("jdk", None), ("netbeans", None)]


def test_an_id_that_looks_like_ours_in_a_non_jdk_toolchain_is_not_ours():
    data = (b"<toolchains><toolchain><type>x</type><provides><id>provision-jdk-21</id></provides>"
            b"</toolchain></toolchains>")
    assert tc.entries_in(data) == {}


def test_a_hostile_home_is_escaped_or_refused():
    odd = tc.Toolchain(21, "a<b&c", "/opt/j&k<dk>")
    after = tc.splice(None, [odd])
    e = tc.entries_in(after)[21]
    assert (e.home, e.provides["vendor"]) == ("/opt/j&k<dk>", "a<b&c")
    with pytest.raises(tc.ToolchainsError):
        tc.splice(None, [tc.Toolchain(21, "x", "/opt/jdk\n</jdkHome>")])


@pytest.mark.parametrize("name,why", [("doctype.xml", "DOCTYPE"), ("latin1.xml", "UTF-8"),
                                      ("broken.xml", "well-formed"), ("not-toolchains.xml", "root element")])
def test_files_that_cannot_be_edited_safely_are_refused(name, why):
    with pytest.raises(tc.ToolchainsError, match=why):
        tc.splice((DATA / name).read_bytes(), [J21])


def test_a_billion_laughs_is_refused_before_any_expansion():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(b'<!ENTITY %c "%s">' % (ord("b") + i, (b"&%c;" % (ord("a") + i)) * 10) for i in range(8))
            + b"]><toolchains>&i;</toolchains>")
    with pytest.raises(tc.ToolchainsError, match="DOCTYPE"):
        tc.parse(bomb)
