"""Targets are reached through one small interface (``Connection``): local, chroot and SSH."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provision.connections.base import CommandResult, Connection

if TYPE_CHECKING:
    from provision.connections.ssh import SshOptions
    from provision.targets import Target

__all__ = ["CommandResult", "Connection", "open_target"]


def open_target(target: Target, ssh: SshOptions | None = None) -> Connection:
    """Connect to a target (raises ConnectError when it cannot be reached or entered)."""
    if target.kind == "local":
        from provision.connections.local import LocalConnection

        return LocalConnection()
    if target.kind == "chroot":
        from provision.connections.chroot import ChrootConnection

        return ChrootConnection(target.root)
    from provision.connections.ssh import SshConnection

    return SshConnection(target, ssh)
