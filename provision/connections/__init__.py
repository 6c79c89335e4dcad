"""Targets are reached through one small interface (``Connection``): local, chroot, WSL (through
wsl.exe) and SSH."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from provision.connections.base import CommandResult, Connection
from provision.connections.sshopts import SshOptions

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from provision.connections.openssh import OpenSshConnection
    from provision.connections.ssh import SshConnection
    from provision.targets import Target

__all__ = ["RESTARTED_FROM_OUTSIDE", "CommandResult", "Connection", "Connector", "SshOptions", "open_target"]

# Target kinds whose connection restarts the host from outside it (``restart_host``: wsl.exe
# terminates and starts the distro), so apply can restart them and carry on.
RESTARTED_FROM_OUTSIDE = frozenset({"wsl"})


def open_target(target: Target, ssh: SshOptions | None = None) -> Connection:
    """Connect to a target (raises ConnectError when it cannot be reached or entered)."""
    if target.kind == "local":
        from provision.connections.local import LocalConnection

        return LocalConnection()
    if target.kind == "chroot":
        from provision.connections.chroot import ChrootConnection

        return ChrootConnection(target.root)
    if target.kind == "wsl":
        from provision.connections.wsl import WslConnection

        return WslConnection(target.distro)
    options = ssh or SshOptions()
    if options.chosen_transport() == "openssh":
        from provision.connections.openssh import OpenSshConnection

        return OpenSshConnection(target, options).ready()
    from provision.connections.ssh import SshConnection

    return SshConnection(target, options).ready()


class Connector:
    """target → Connection for one command. With the OpenSSH transport, ``prestart`` starts every
    SSH host's connection at once, before the playbook is loaded, so that logging in overlaps
    with validating it; no command runs on a host until a connection is asked for."""

    def __init__(self, options: SshOptions) -> None:
        self.options = options
        self._early: dict[str, OpenSshConnection] = {}
        self._futures: dict[str, tuple[Target, Future[SshConnection]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def prestart(self, targets: list[Target]) -> None:
        ssh = [t for t in targets if t.kind == "ssh"]
        if not ssh:
            return
        if self.options.chosen_transport() == "paramiko":
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=min(len(ssh), 32))
            self._futures = {t.name: (t, self._pool.submit(_paramiko, t, self.options)) for t in ssh}
            return
        from provision.connections.openssh import OpenSshConnection

        started = OpenSshConnection.start_many(ssh, self.options)  # all at once
        self._early.update({t.name: c for t, c in zip(ssh, started, strict=True)})

    def __call__(self, target: Target) -> Connection:
        with self._lock:
            pending = self._futures.pop(target.name, None)
        if pending is not None and pending[0] == target:
            return pending[1].result().ready()
        with self._lock:
            early = self._early.pop(target.name, None)
        if early is None or early.target != target:
            if early is not None:
                early.close()
            return open_target(target, self.options)
        try:
            return early.ready()
        except BaseException:
            early.close()
            raise

    def close(self) -> None:
        """Close the connections started early and never used (e.g. the playbook was invalid)."""
        with self._lock:
            unused, self._early = list(self._early.values()), {}
            futures, self._futures = list(self._futures.values()), {}
        for conn in unused:
            conn.close()
        for _, future in futures:
            future.add_done_callback(_close_quietly)
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def _paramiko(target: Target, options: SshOptions) -> SshConnection:
    from provision.connections.ssh import SshConnection  # paramiko is imported here, off the main thread

    return SshConnection(target, options)


def _close_quietly(future: Future[SshConnection]) -> None:
    if future.exception() is None:
        future.result().close()
