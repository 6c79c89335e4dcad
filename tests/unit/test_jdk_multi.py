"""Several JDKs (issue 21), from data: the jdk spec's rules for versions/default, and env_file's
prune, which removes only JAVA_<N>_HOME lines this tool wrote."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from provision.facts import HOST, Facts, FileContent, FileState, HostFacts, OsRelease
from provision.java.resolve import setup_java_arch
from provision.resources.env_file import EnvFile, EnvFileSpec
from provision.resources.jdk import Jdk, JdkSpec, read_record, record_bytes, temurin_repo

MARK = "# managed by provision\n"
BEFORE = ("# site\n" + MARK + 'JAVA_HOME="/j17"\n' + MARK + 'JAVA_17_HOME="/j17"\n'
          + MARK + 'JAVA_21_HOME="/j21"\n' + 'JAVA_8_HOME="/opt/theirs"\n')


def plan_env(data: str, wanted: dict[str, str], prune: list[str]):
    res = EnvFile(EnvFileSpec(set=wanted, prune=prune))
    facts = Facts()
    facts.set(HOST, HostFacts())
    facts.set(FileContent("/etc/environment"), FileState("/etc/environment", True, data.encode()))
    return res.plan(facts)


def test_prune_removes_our_line_for_a_jdk_taken_off_the_list_and_leaves_theirs():
    plan = plan_env(BEFORE, {"JAVA_HOME": "/j17", "JAVA_17_HOME": "/j17"}, ["JAVA_*_HOME"])
    assert plan.changes and "remove JAVA_21_HOME" in plan.changes[0].summary
    assert plan.payload().decode() == "# site\n" + MARK + 'JAVA_HOME="/j17"\n' + MARK + \
        'JAVA_17_HOME="/j17"\n' + 'JAVA_8_HOME="/opt/theirs"\n'


def test_prune_removes_setup_javas_spelling_of_the_removed_jdk_too():
    before = BEFORE + MARK + 'JAVA_HOME_17_X64="/j17"\n' + MARK + 'JAVA_HOME_21_X64="/j21"\n' + \
        'JAVA_HOME_8_X64="/opt/theirs"\n'
    plan = plan_env(before, {"JAVA_HOME": "/j17", "JAVA_17_HOME": "/j17", "JAVA_HOME_17_X64": "/j17"},
                    ["JAVA_*_HOME", "JAVA_HOME_*_*"])
    after = plan.payload().decode()
    assert "JAVA_21_HOME" not in after and "JAVA_HOME_21_X64" not in after
    assert 'JAVA_HOME_17_X64="/j17"' in after and after.endswith('JAVA_8_HOME="/opt/theirs"\n' + MARK
                                                                  + 'JAVA_HOME_17_X64="/j17"\n'
                                                                  + 'JAVA_HOME_8_X64="/opt/theirs"\n')


@pytest.mark.parametrize(("dpkg", "arch"), [("amd64", "X64"), ("arm64", "ARM64"), ("i386", "IA32"),
                                            ("armhf", "ARM"), ("ppc64el", "PPC64"), ("s390x", "S390X"),
                                            ("riscv64", "RISCV64"), ("mips64el", "MIPS64EL")])
def test_setup_javas_architecture_names(dpkg, arch):
    assert setup_java_arch(dpkg) == arch


def test_without_prune_nothing_is_removed():
    plan = plan_env(BEFORE, {"JAVA_HOME": "/j17", "JAVA_17_HOME": "/j17"}, [])
    assert not plan.changes


def test_prune_with_nothing_stale_changes_nothing():
    plan = plan_env(BEFORE, {"JAVA_HOME": "/j17", "JAVA_17_HOME": "/j17", "JAVA_21_HOME": "/j21"},
                    ["JAVA_*_HOME"])
    assert not plan.changes


@pytest.mark.parametrize("spec,why", [
    ({"version": 17, "versions": [17, 21]}, "not both"),
    ({"versions": [17, 17]}, "distinct"),
    ({"versions": [17, 21], "default": 11}, "not one of the versions"),
    ({"version": 17, "default": 21}, "not the version"),
    ({"versions": []}, "at least 1"),
])
def test_ambiguous_or_wrong_lists_are_refused(spec, why):
    with pytest.raises(ValidationError, match=why):
        JdkSpec(**spec)


def test_the_default_and_the_apply_order():
    s = JdkSpec(versions=[21, 17, 25], default=17)
    assert s.default_version() == 17
    jdk = Jdk(s)
    assert [one.spec.version for one in jdk._listed()] == [21, 25, 17]  # the default last
    assert [one.beside for one in jdk._listed()] == [True, True, False]
    assert JdkSpec(versions=[21, 17]).default_version() == 21
    assert JdkSpec(versions=[21, 17], default=False).default_version() is None
    assert Jdk(JdkSpec(version=17)).label() == "jdk 17 (headless)"


@pytest.mark.parametrize("data,expected", [
    (b'{"17": "distro", "21": "temurin"}\n', {17: "distro", 21: "temurin"}),
    (b'{"17": "rm -rf", "x": "distro", "123": "distro"}', {}),
    (b"[1, 2]", {}), (b"\xff", {}), (b"", {}),
])
def test_the_record_reads_only_what_it_wrote(data, expected):
    assert read_record(data) == expected


def test_the_record_round_trips():
    assert read_record(record_bytes({21: "temurin", 17: "distro"})) == {17: "distro", 21: "temurin"}


def test_two_temurin_jdks_declare_the_one_repository_alike():
    """Debian 12 with [17, 21, 25]: 21 and 25 are Temurin's, from one source file. (Its label
    named the version: each JDK rewrote the file, so a second apply was never 0 changed.)"""
    host = HostFacts(os=OsRelease(id="debian", version_id="12", codename="bookworm"))
    jdk = Jdk(JdkSpec(versions=[17, 21, 25], default=17))
    temurins = [temurin_repo(one.spec, host) for one in jdk._listed() if one.spec.version != 17]
    assert len(temurins) == 2 and temurins[0].sources() == temurins[1].sources()
    assert b"Suites: bookworm\n" in temurins[0].sources()
