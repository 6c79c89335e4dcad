"""Which packages a rollback purges: only those apt's own history log says the run installed
(issue 18, item 5), read from the lines provision.rollback.RunState gathers on the target."""

from __future__ import annotations

import pytest

from provision.rollback import HostNow, Run, installed_by

RUN = "20261201T220000-abc123"
TAG = f"Commandline: apt-get -y -q -o provision::run={RUN} install openjdk-17-jdk-headless"
JOURNAL = [{"event": "start", "run": RUN, "time": "2026-12-01T22:00:00+0000"},
           {"event": "install", "packages": ["openjdk-17-jdk-headless"]}]
INSTALL = "Install: openjdk-17-jdk-headless:amd64 (17.0.13), java-common:amd64 (0.74, automatic)"


def dpkg(time: str, package: str, before: str = "<none>") -> str:
    return f"2026-12-01 {time} install {package}:amd64 {before} 1.0"


CASES = {
    "complete stanza: its Install line": (
        ["Start-Date: 2026-12-01  22:00:05", TAG, INSTALL, "End-Date: 2026-12-01  22:00:40"],
        [], "", ["java-common", "openjdk-17-jdk-headless"], ""),
    # the old code fell back to every first install in dpkg.log since the run began
    "no stanza, the run installed: cannot tell, nothing": (
        [], [dpkg("22:00:10", "java-common"), dpkg("23:00:00", "admin-tool")], "2026-12-01 23:00:00", [],
        f"cannot tell which packages run {RUN} installed"),
    # apt killed mid-install, then the admin's own apt run: the old code dropped the cut stanza
    "cut short, then another apt: dpkg's first installs before it": (
        ["Start-Date: 2026-12-01  22:00:05", TAG, INSTALL, "Next-Start-Date: 2026-12-01  22:30:00"],
        [dpkg("22:00:10", "java-common"), dpkg("22:30:01", "openjdk-17-jdk-headless"),
         dpkg("22:31:00", "admin-tool")], "2026-12-01 22:31:00", ["java-common"], ""),
    "cut short, an upgrade in its window is not an install": (
        ["Start-Date: 2026-12-01  22:00:05", TAG, INSTALL],
        [dpkg("22:00:10", "java-common", "0.73")], "2026-12-01 22:00:10", [], ""),
    "cut short, a package off its list is not the run's": (
        ["Start-Date: 2026-12-01  22:00:05", TAG, INSTALL],
        [dpkg("22:00:10", "admin-tool")], "2026-12-01 22:00:10", [], ""),
    "cut short, dpkg's log ends before it: cannot tell": (
        ["Start-Date: 2026-12-01  22:00:05", TAG, INSTALL], [], "2026-11-30 10:00:00", [],
        "was cut short and dpkg's log does not cover it"),
    "failed apt (Error, End-Date): only what dpkg installed": (
        ["Start-Date: 2026-12-01  22:00:05", TAG, INSTALL, "Error: Sub-process /usr/bin/dpkg returned an error",
         "End-Date: 2026-12-01  22:00:20"],
        [dpkg("22:00:10", "java-common"), dpkg("22:40:00", "openjdk-17-jdk-headless")],
        "2026-12-01 22:40:00", ["java-common"], ""),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_packages_come_only_from_the_runs_own_apt_record(case):
    apt, dpkg_lines, last, expected, problem = CASES[case]
    names, why = installed_by(Run(RUN, JOURNAL), HostNow(apt=apt, dpkg=dpkg_lines, dpkg_last=last))
    assert names == expected
    assert (problem in why) if problem else why == ""
    if why:
        assert RUN in why and "no package is purged" in why


def test_a_run_that_installed_nothing_has_nothing_to_say():
    assert installed_by(Run(RUN, JOURNAL[:1]), HostNow()) == ([], "")


def test_the_packages_a_run_removed_are_package_names_only():
    """Rollback installs again what the run removed (a JDK taken off java-multi's list). What
    reaches apt-get's command line is a package name: an option or a path in the journal is not."""
    run = Run(RUN, [*JOURNAL,
                    {"event": "remove-packages", "packages": ["openjdk-25-jdk-headless"], "purge": True},
                    {"event": "remove-packages", "packages": ["--allow-unauthenticated", "-oAPT::X=1",
                                                               "/tmp/evil.deb", "a b", 7, "temurin-21-jdk:amd64",
                                                               "openjdk-25-jdk-headless"]},
                    {"event": "remove-packages", "packages": "openjdk-21-jdk-headless"}])
    assert run.removed_packages() == ["openjdk-25-jdk-headless", "temurin-21-jdk:amd64"]
    assert Run(RUN, JOURNAL).removed_packages() == []
