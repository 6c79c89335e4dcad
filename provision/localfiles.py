"""Files written on the controller (a schema, a JUnit report, user data): atomic, never through a
link someone planted, never wider than the umask."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from provision.errors import UsageError


def write_atomically(path: str, data: bytes, *, private: bool = False, option: str = "-o",
                     hint: str = "give a file name") -> None:
    """Write a new file or replace one in a single rename: a symlink (or hard link) at ``path`` is
    replaced, never written through. The mode is the umask's (0666 less the umask), or 0600 when
    ``private`` (the file may carry secrets): never wider than the umask allows. ``option`` names
    the option that gave ``path`` and ``hint`` what to give instead, in errors."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a directory ({hint})")
    if not target.parent.is_dir():
        raise UsageError(f"{option} {path}: no such directory: {target.parent}")
    umask = os.umask(0o077)
    os.umask(umask)
    mode = 0o600 & ~umask if private else 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
