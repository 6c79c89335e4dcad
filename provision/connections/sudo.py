"""Becoming root through sudo on an SSH host, for either transport, without ever handing the
password to a command.

Passwordless sudo is found with one ``sudo -n true``. Otherwise each command runs as
``sudo -k -S -p <random prompt> -- sh -c 'print <random ready line> to stderr; exec the command'``:
the password is sent only when the prompt appears on stderr, and the ready line says that sudo
let the command run (after the password, or without asking: NOPASSWD for that command), so the
command's own input starts only then.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from provision.connections.base import CommandResult
from provision.errors import BecomeError, ConnectError

ReadErr = Callable[[float], "bytes | None"]  # stderr bytes; b"" at its end; None when nothing came in time
Send = Callable[[bytes], None]

PROBE = ["sudo", "-n", "true"]


class Sudo:
    def __init__(self, user: str, password: str | None) -> None:
        self.user = user
        self.prefix: list[str] = []  # put before every command
        self.asks = False  # whether commands go through the password handshake
        self._password = None if password is None else password.encode() + b"\n"
        self.prompt = f"[provision sudo {os.urandom(8).hex()}] password: ".encode()
        self.ready = f"provision-ready-{os.urandom(8).hex()}".encode()

    def decide(self, probe: CommandResult) -> None:
        """From ``sudo -n true``'s result: passwordless sudo, or the password handshake (raises
        BecomeError when neither can work)."""
        if probe.ok:
            self.prefix = ["sudo", "-n", "--"]
            return
        if "not found" in probe.err or probe.rc == 127:
            raise BecomeError(f"{self.user} is not root and sudo is not installed")
        if self._password is None:
            raise BecomeError(f"{self.user} needs a password for sudo: run with "
                              "--ask-become-pass (or log in as root, or allow NOPASSWD sudo)")
        self.prefix = ["sudo", "-k", "-S", "-p", self.prompt.decode(), "--", "sh", "-c",
                       'printf "%s\\n" "$0" >&2; exec "$@"', self.ready.decode()]
        self.asks = True

    def refused(self) -> BecomeError:
        self.forget()
        return BecomeError(f"sudo did not accept the password for {self.user} "
                           f"(or {self.user} may not use sudo here)")

    def forget(self) -> None:
        self._password = None

    def handshake(self, read_err: ReadErr, send: Send, timeout: float) -> bytes:
        """Wait until sudo asks for the password (send it) or lets the command run (its ready
        line); returns the stderr that came after the ready line. A second prompt means the
        password was refused."""
        buf, sent = b"", False
        deadline = time.monotonic() + timeout
        while True:
            if self.ready + b"\n" in buf:
                return buf.partition(self.ready + b"\n")[2]
            if self.prompt in buf:
                if sent or self._password is None:
                    raise BecomeError(f"sudo did not accept the password for {self.user}")
                buf = buf.replace(self.prompt, b"", 1)
                send(self._password)
                sent = True
                continue
            chunk = read_err(min(1.0, max(0.0, deadline - time.monotonic())))
            if chunk is None:
                if time.monotonic() > deadline:
                    raise ConnectError("sudo neither asked for a password nor ran the command")
                continue
            if not chunk:
                raise BecomeError(f"sudo refused to run the command for {self.user}: "
                                  f"{buf.decode('utf-8', 'replace').strip()[-200:] or 'no reason given'}")
            buf += chunk
