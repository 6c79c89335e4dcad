"""The example plugin's own unit tests, written against provision.testing alone (no host)."""

from __future__ import annotations

import pytest
from provision_timezone import LocalTime, Timezone, Zone

from provision import testing
from provision.errors import FactError, ResourceError

BERLIN = "/usr/share/zoneinfo/Europe/Berlin"


def test_a_host_on_another_zone_gets_both_changes_and_a_diff() -> None:
    facts = testing.facts(files={"/etc/timezone": "Etc/UTC\n"},
                          values={LocalTime("Europe/Berlin"): Zone("/usr/share/zoneinfo/Etc/UTC", True)})
    plan = testing.plan(Timezone, {"name": "Europe/Berlin"}, facts)
    assert [c.summary for c in plan.changes] == ["point /etc/localtime at Europe/Berlin",
                                                 "write Europe/Berlin to /etc/timezone"]
    assert [c.as_done for c in plan.changes] == ["pointed /etc/localtime at Europe/Berlin",
                                                 "wrote Europe/Berlin to /etc/timezone"]
    diff = plan.changes[1].diff or ""
    assert "-Etc/UTC" in diff and "+Europe/Berlin" in diff


def test_a_host_on_the_zone_has_nothing_to_do() -> None:
    facts = testing.facts(files={"/etc/timezone": "Europe/Berlin\n"},
                          values={LocalTime("Europe/Berlin"): Zone(BERLIN, True)})
    plan = testing.plan(Timezone, {"name": "Europe/Berlin"}, facts)
    assert plan.changes == [] and plan.reason == "the time zone is Europe/Berlin"
    names = [c.name for c in testing.checks(Timezone, {"name": "Europe/Berlin"}, facts, rid="tz")]
    assert names == ["tz: /etc/localtime is Europe/Berlin", "tz: /etc/timezone names Europe/Berlin"]


def test_a_zone_the_host_lacks_and_a_copied_localtime_are_refused() -> None:
    lacks = testing.facts(values={LocalTime("Mars/Olympus"): Zone("", False)})
    with pytest.raises(ResourceError, match="not a time zone here"):
        testing.plan(Timezone, {"name": "Mars/Olympus"}, lacks)
    copied = testing.facts(values={LocalTime("Europe/Berlin"): Zone("", True, other=True)})
    with pytest.raises(ResourceError, match="not a symbolic link"):
        testing.plan(Timezone, {"name": "Europe/Berlin"}, copied)


def test_a_fact_the_data_does_not_answer_is_named() -> None:
    with pytest.raises(FactError, match="fact local_time Europe/Berlin is not in the test's data"):
        testing.plan(Timezone, {"name": "Europe/Berlin"}, testing.facts())


def test_a_name_that_is_not_a_zone_is_refused_by_the_spec() -> None:
    with pytest.raises(ValueError, match="a zone name like Europe/Berlin"):
        testing.make(Timezone, {"name": "../../etc/shadow"})
