"""testinfra over our own connections.

testinfra's modules (``host.package``, ``host.file``, ``host.run``…) only need a backend whose
``run()`` returns testinfra's ``CommandResult``. This one sends every command through the
``Connection`` apply uses, so local, chroot and SSH hosts are checked the same way, with our
host-key policy (known_hosts checked, never testinfra's accept-any-key ``WarningPolicy``) and our
sudo handling (password on stdin, never on a command line).
"""

from __future__ import annotations

import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from provision.connections.base import Connection
from provision.verify.shell import Shells

COMMAND_TIMEOUT = 300.0


class ConnectionBackend(BaseBackend):
    """A testinfra backend whose commands run through a provision ``Connection`` (as root)."""

    NAME = "provision"

    def __init__(self, conn: Connection, name: str | None = None, shells: Shells | None = None) -> None:
        # sudo stays off: the connection already runs commands as root (sudo, if needed, is its job)
        super().__init__(name or conn.label)
        self.conn = conn
        self.shells = shells  # run the commands in long-running shells (see shell.py)

    def get_pytest_id(self) -> str:
        return str(self.hostname)

    def get_encoding(self) -> str:
        # testinfra asks the host's python3; a minimal host has none, and ours are UTF-8.
        return "UTF-8"

    def run(self, command: str, *args: str, **kwargs: object) -> CommandResult:
        cmd = self.get_command(command, *args)  # testinfra's quoting: every argument shlex-quoted
        given = kwargs.get("timeout", COMMAND_TIMEOUT)
        timeout = float(given) if isinstance(given, (int, float)) else COMMAND_TIMEOUT
        r = self.shells.run(cmd, timeout) if self.shells else self.conn.run(["sh", "-c", cmd], timeout=timeout)
        return self.result(r.rc, self.encode(cmd), r.stdout, r.stderr)


def make_host(conn: Connection, name: str | None = None, shells: Shells | None = None) -> testinfra.host.Host:
    """A testinfra ``Host`` for ``conn`` (not cached: testinfra's class-level cache is not used)."""
    backend = ConnectionBackend(conn, name, shells)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host
