"""A file a resource edits in place, in a user's dot-directory (``~/.m2/toolchains.xml``,
``~/.gradle/gradle.properties``) or at a given path: the plan's payload and its apply."""

from __future__ import annotations

from dataclasses import dataclass

from provision.facts import FileContent
from provision.resource import ApplyContext


@dataclass
class UserFileWrite:
    path: str
    content: bytes | None  # None: remove the file (it held only what this tool wrote)
    uid: int
    gid: int
    make_dir: str = ""  # the user's dot-directory, created as her first
    mode: int | None = None  # None: the file's own (0644 for a new one)


def apply_user_file(ctx: ApplyContext, w: UserFileWrite, user: str | None) -> None:
    """Write or remove the file (atomically, with a backup); a missing dot-directory is made by
    the user herself, so it is hers whatever was there."""
    if w.content is None:
        ctx.remove_file(w.path)
        return
    if w.make_dir and user:
        ctx.check(["runuser", "-u", user, "--", "mkdir", "-p", "--", w.make_dir], what=f"creating {w.make_dir}")
    cur = ctx.facts.get(FileContent(w.path))
    mode = w.mode if w.mode is not None else cur.mode if cur.exists else 0o644
    ctx.write_file(w.path, w.content, mode=mode, uid=w.uid, gid=w.gid)
