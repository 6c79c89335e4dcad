"""Planning and writing a whole file (content, mode, owner), for resource types that own one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from provision.errors import ResourceError
from provision.facts import Facts, FileContent
from provision.plan import Change, unified_diff, world_readable
from provision.resource import ApplyContext

_MODE = re.compile(r"^0?[0-7]{3,4}$")


def parse_mode(value: str | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = str(value)  # YAML 0644 is the int 420; "644" means octal 644
        if int(value) > 0o7777 or not _MODE.match(value):
            raise ValueError(f"mode {value!r}: write it as a quoted octal string, e.g. '0644'")
    if not _MODE.match(value):
        raise ValueError(f"mode {value!r}: write it as an octal string, e.g. '0644'")
    return int(value, 8)


@dataclass
class FileWrite:
    path: str
    content: bytes | None  # None = remove
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    follow: bool = False  # write through a link (root's, in a root-only directory)


def plan_whole_file(path: str, content: bytes | None, facts: Facts, *, mode: int | None,
                    owner: str | None, group: str | None,
                    follow: bool = False) -> tuple[list[Change], str, FileWrite | None]:
    """Pure: changes to make ``path`` hold ``content`` (None: not exist) with mode/owner/group.
    Raises ResourceError when ``path`` is not one to write (a link on the way: FileState.writable)."""
    cur = facts.get(FileContent(path, follow))
    if content is None:
        if cur.refused and not cur.exists:
            raise ResourceError(cur.refused.replace(" not written", " not removed"))
        if cur.link:  # the link itself goes (what it points to is not touched)
            return ([Change(f"remove {path}", f"state: absent (a symbolic link to {cur.link})",
                            done=f"removed {path}")], "",
                    FileWrite(path, None, follow=follow))
        if not cur.exists:
            return [], f"{path} does not exist", None
        secret = not world_readable(cur.mode)
        return ([Change(f"remove {path}", "state: absent", unified_diff(path, cur.content, None, secret=secret),
                        done=f"removed {path}")],
                "", FileWrite(path, None, follow=follow))
    cur.writable()
    want_mode = mode if mode is not None else (cur.mode if cur.exists else 0o644)
    secret = not world_readable(want_mode) or (cur.exists and not world_readable(cur.mode))
    want_owner = owner or (cur.owner if cur.exists else "root")
    want_group = group or (cur.group if cur.exists else "root")
    write = FileWrite(path, content, want_mode, want_owner, want_group, follow)
    if not cur.exists:
        return [Change(f"create {path}", f"it does not exist (mode {want_mode:04o}, {want_owner}:{want_group})",
                       unified_diff(path, None, content, secret=secret), done=f"created {path}")], "", write
    changes = []
    if cur.content != content:
        changes.append(Change(f"update {path}", "its content differs from the template",
                              unified_diff(path, cur.content, content, secret=secret), done=f"updated {path}"))
    attrs = []
    if cur.mode != want_mode:
        attrs.append(f"mode {cur.mode:04o} → {want_mode:04o}")
    if (owner and owner not in (cur.owner, str(cur.uid))) or (group and group not in (cur.group, str(cur.gid))):
        attrs.append(f"owner {cur.owner}:{cur.group} → {want_owner}:{want_group}")
    if attrs:
        what = f"{', '.join(a.split(' ')[0] for a in attrs)} of {path}"
        changes.append(Change(f"set {what}", "; ".join(attrs), done=f"set {what}"))
    if not changes:
        return [], f"{path} is up to date ({len(content)} bytes, mode {cur.mode:04o})", None
    return changes, "", write


def apply_whole_file(ctx: ApplyContext, write: FileWrite | None) -> None:
    if write is None:
        return
    if write.content is None:
        ctx.remove_file(write.path, follow=write.follow)
    else:
        ctx.write_file(write.path, write.content, mode=write.mode, uid=write.owner, gid=write.group,
                       follow=write.follow)
