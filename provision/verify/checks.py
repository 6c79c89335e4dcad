"""Checks: testinfra assertions of a desired state, and the building blocks resource types make
their checks from (``Resource.checks``).

A ``Check`` has a stable name (``<resource id>: <what>``), the resource it comes from, and a test:
a function of the ``Probe`` (testinfra host + connection) returning ``(passed, one-line message)``.
Making checks is pure (no host is touched until a test runs), so it is unit-tested from data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from provision.connections.base import Connection
from provision.facts import HOST, Facts, HostFacts
from provision.formats import pamenv

Test = Callable[["Probe"], tuple[bool, str]]


@dataclass
class Check:
    name: str  # stable across runs and hosts: "<resource id>: <what>"
    resource: str  # where it comes from: a resource's label, "checks", "tests"
    test: Test = field(repr=False)


@dataclass
class CheckEnv:
    """What making checks may look at besides the resource: the host's facts and its kind."""

    facts: Facts
    kind: str = "local"  # the connection's kind: local | chroot | ssh

    @property
    def host(self) -> HostFacts:
        return self.facts.get(HOST)


class Probe:
    """What a check's test runs against: a testinfra host and the connection beneath it."""

    def __init__(self, host: Any, conn: Connection, user: str | None = None) -> None:
        self.host = host  # testinfra's Host (untyped)
        self.conn = conn
        self._user = user

    def run(self, command: str, *args: str) -> Any:
        return self.host.run(command, *args)

    @cached_property
    def user(self) -> str:
        """The user whose login shell is checked: --user, else the first regular user, else root."""
        if self._user:
            return self._user
        out = self.host.run("getent passwd || cat /etc/passwd").stdout
        return default_user(out)


def default_user(passwd: str) -> str:
    """The first user with uid >= 1000 (not nobody) and a login shell, else root."""
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) < 7 or not f[2].isdigit():
            continue
        uid, shell = int(f[2]), f[6].strip()
        if 1000 <= uid < 65534 and shell and not shell.endswith(("nologin", "/false", "/sync")):
            return f[0]
    return "root"


def failing(name: str, resource: str, message: str) -> Check:
    """A check that fails with ``message`` (e.g. the desired state cannot be worked out here)."""
    return Check(name, resource, lambda probe: (False, message))


# --------------------------------------------------------------------------- building blocks

def first_line(text: str, limit: int = 160) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit] + "…"


def dpkg_status(probe: Probe, name: str) -> tuple[str, str]:
    r = probe.run("dpkg-query -W -f='${db:Status-Abbrev}\t${Version}' %s", name)
    if r.rc != 0:
        return "", ""
    status, _, version = r.stdout.partition("\t")
    return status.strip(), version.strip()


def package_installed(name: str) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        pkg = probe.host.package(name)
        if pkg.is_installed:
            return True, f"{name} {pkg.version} is installed"
        status, _ = dpkg_status(probe, name)
        why = {"": "not known to dpkg", "un": "not installed", "rc": "removed (config files remain)"}
        return False, f"{name} is not installed ({why.get(status, f'dpkg status {status!r}')})"
    return test


def package_absent(name: str) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        pkg = probe.host.package(name)
        if pkg.is_installed:
            return False, f"{name} {pkg.version} is installed"
        return True, f"{name} is not installed"
    return test


def resolved(probe: Probe, path: str) -> str:
    return str(probe.run("readlink -f -- %s", path).stdout).strip()


def default_tool(probe: Probe, tool: str) -> str:
    r = probe.run("command -v %s", tool)
    return resolved(probe, r.stdout.strip()) if r.rc == 0 and r.stdout.strip() else ""


def read_file(probe: Probe, path: str) -> bytes | None:
    f = probe.host.file(path)
    if not f.exists:
        return None
    return bytes(f.content)


def env_value(data: bytes | None, key: str) -> str | None:
    return None if data is None else pamenv.effective(data).get(key)


def whole_file(path: str, content: bytes | None, mode: int | None = None,
                owner: str | None = None, group: str | None = None) -> Test:
    def test(probe: Probe) -> tuple[bool, str]:
        f = probe.host.file(path)
        if content is None:
            return (False, f"{path} exists") if f.exists else (True, f"{path} does not exist")
        if not f.exists:
            return False, f"{path} does not exist"
        problems = []
        if f.content != content:
            problems.append("its content differs from the template")
        if mode is not None and f.mode != mode:
            problems.append(f"mode {f.mode:04o}, expected {mode:04o}")
        if owner and owner not in (f.user, str(f.uid)):
            problems.append(f"owner {f.user}, expected {owner}")
        if group and group not in (f.group, str(f.gid)):
            problems.append(f"group {f.group}, expected {group}")
        if problems:
            return False, f"{path}: {'; '.join(problems)}"
        return True, f"{path} is as rendered ({len(content)} bytes)"
    return test


