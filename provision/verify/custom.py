"""The playbook's own ``checks:`` items (command, file, package) as checks."""

from __future__ import annotations

import re
import shlex

from provision.playbook.checks import CheckSpec, CommandCheck, FileCheck, PackageCheck
from provision.verify.checks import (
    Check,
    Probe,
    Test,
    dpkg_status,
    first_line,
    package_absent,
    package_installed,
    read_file,
)


def playbook_check(name: str, spec: CheckSpec) -> Check:
    """A ``checks:`` item of the playbook (rendered and validated) as a Check named ``name``."""
    if isinstance(spec, CommandCheck):
        return Check(name, "checks", _command_test(spec))
    if isinstance(spec, FileCheck):
        return Check(name, "checks", _file_test(spec))
    return Check(name, "checks", _package_test(spec))


def _command_test(c: CommandCheck) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.conn.run(["sh", "-c", c.run], timeout=c.timeout)
        out, err = r.out, r.err
        problems = []
        if c.rc is not None and r.rc != c.rc:
            problems.append(f"exit {r.rc}, expected {c.rc}")
        for what, text, contains, matches in (("stdout", out, c.stdout_contains, c.stdout_matches),
                                              ("stderr", err, c.stderr_contains, c.stderr_matches)):
            if contains is not None and contains not in text:
                problems.append(f"{what} does not contain {contains!r}")
            if matches is not None and not re.search(matches, text, re.M):
                problems.append(f"{what} does not match {matches!r}")
        shown = shlex.quote(c.run) if len(c.run) < 60 else shlex.quote(c.run[:57] + "…")
        if problems:
            tail = first_line(err) or first_line(out)
            return False, f"{shown}: {'; '.join(problems)}" + (f" (output: {tail})" if tail else "")
        return True, f"{shown}: exit {r.rc}"
    return test


def _file_test(c: FileCheck) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        data = read_file(probe, c.path)
        if not c.exists:
            return (False, f"{c.path} exists") if data is not None else (True, f"{c.path} does not exist")
        if data is None:
            return False, f"{c.path} does not exist"
        text = data.decode("utf-8", "replace")
        if c.contains is not None and c.contains not in text:
            return False, f"{c.path} does not contain {c.contains!r}"
        if c.matches is not None and not re.search(c.matches, text, re.M):
            return False, f"{c.path} does not match {c.matches!r}"
        return True, f"{c.path} exists" + (" and matches" if c.contains or c.matches else "")
    return test


def version_matches(version: str, want: str) -> bool:
    """A prefix of the version ('17.0'), or a regular expression for all of it."""
    if version.startswith(want):
        return True
    try:
        return re.fullmatch(want, version) is not None
    except re.error:
        return False


def _package_test(c: PackageCheck) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        if not c.installed:
            return package_absent(c.name)(probe)
        ok, msg = package_installed(c.name)(probe)
        if not ok or c.version is None:
            return ok, msg
        _, version = dpkg_status(probe, c.name)
        if not version_matches(version, c.version):
            return False, f"{c.name} is {version}, expected {c.version}"
        return True, msg
    return test
