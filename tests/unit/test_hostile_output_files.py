"""Issue 18: a file provision writes on the controller (verify --junit-xml, export -o, schema -o)
replaces whatever is at its path in one rename: a link someone who can write the directory
planted there (in /tmp, say, to /etc/passwd) is replaced, never written through. On real files."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET

import pytest
from conftest import provision

from provision.verify.output import write_junit
from provision.verify.runner import FAILED, PASSED, CheckResult, HostReport

VICTIM = "root:x:0:0:root:/root:/bin/bash\n"


@pytest.fixture
def planted(tmp_path):
    """A directory with a victim file, and a function that plants a link to it at a name."""
    victim = tmp_path / "passwd"
    victim.write_text(VICTIM)
    os.chmod(victim, 0o644)

    def plant(name: str, *, hard: bool = False) -> str:
        path = tmp_path / name
        (os.link if hard else os.symlink)(victim, path)
        return str(path)

    return victim, plant


def assert_replaced(path: str, victim) -> None:
    assert victim.read_text() == VICTIM  # the link's target is untouched
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1, st  # a file of its own, not the link


def reports() -> list[HostReport]:
    return [HostReport("web1", checks=[CheckResult("java is 17", "jdk", PASSED, "17.0.9"),
                                       CheckResult("JAVA_HOME set", "java_home", FAILED, "unset")])]


@pytest.mark.parametrize("hard", [False, True], ids=["symlink", "hard link"])
def test_verify_junit_xml_replaces_a_link_planted_at_its_path(planted, hard):
    victim, plant = planted
    path = plant("report.xml", hard=hard)
    old = os.umask(0o022)
    try:
        write_junit(path, reports())
    finally:
        os.umask(old)
    assert_replaced(path, victim)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # the umask's mode, as before
    cases = list(ET.parse(path).getroot().iter("testcase"))
    assert [c.get("name") for c in cases] == ["java is 17", "JAVA_HOME set"]


def test_verify_junit_xml_replaces_a_dangling_link_without_creating_its_target(tmp_path):
    path = tmp_path / "report.xml"
    os.symlink(tmp_path / "created-elsewhere", path)
    write_junit(str(path), reports())
    assert not (tmp_path / "created-elsewhere").exists()
    assert stat.S_ISREG(os.lstat(path).st_mode)


def test_export_and_schema_outputs_replace_a_link_too(planted):
    victim, plant = planted
    schema = plant("schema.json")
    r = provision("schema", "-o", schema)
    assert r.rc == 0, r
    assert_replaced(schema, victim)

    user_data = plant("user-data")
    r = provision("export", "cloud-init", "java17", "--facts", "os=debian-12", "-o", user_data)
    assert r.rc == 0, r
    assert_replaced(user_data, victim)
    assert stat.S_IMODE(os.stat(user_data).st_mode) == 0o600  # a host's whole configuration
