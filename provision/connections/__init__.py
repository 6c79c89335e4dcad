"""Targets: ``local`` and ``chroot:/path`` (SSH arrives behind the same interface)."""

from __future__ import annotations

from provision.connections.base import CommandResult, Connection
from provision.errors import UsageError

__all__ = ["CommandResult", "Connection", "open_target", "check_target"]


def check_target(spec: str) -> str:
    """Validate a target string without connecting; returns it normalised."""
    if spec == "local":
        return spec
    if spec.startswith("chroot:"):
        if not spec[len("chroot:"):].startswith("/"):
            raise UsageError(f"target {spec!r}: chroot needs an absolute path, e.g. chroot:/srv/rootfs")
        return spec
    raise UsageError(f"unknown target {spec!r}: use 'local' or 'chroot:/path/to/rootfs'")


def open_target(spec: str) -> Connection:
    spec = check_target(spec)
    if spec == "local":
        from provision.connections.local import LocalConnection

        return LocalConnection()
    from provision.connections.chroot import ChrootConnection

    return ChrootConnection(spec[len("chroot:"):])
