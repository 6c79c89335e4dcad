"""A file's content and attributes (read whole, as base64, so any byte survives the trip)."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from provision.errors import FactError
from provision.facts.base import Fact, JsonValue, to_json
from provision.plan import redact, world_readable


@dataclass
class FileState:
    path: str
    exists: bool
    content: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    owner: str = "root"
    group: str = "root"
    kind: str = "regular file"

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class FileContent(Fact[FileState]):
    """A file (symlinks followed): content, mode, owner; ``exists`` False when there is none.
    A write through the apply context updates it; nothing else invalidates it."""

    path: str

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "\n" in self.path or "\x00" in self.path:
            raise FactError(f"file paths must be absolute: {self.path!r}")

    def command(self) -> str:
        q = shlex.quote(self.path)
        return (f"if [ -e {q} ] || [ -L {q} ]; then stat -L -c '%a %u %g %U %G %F' {q} 2>/dev/null; "
                f"base64 -w0 {q} 2>/dev/null; echo; fi")

    def parse(self, lines: list[str]) -> FileState:
        return parse_file(self.path, lines)

    def describe(self) -> str:
        return f"file {self.path}"

    def to_json(self, value: FileState) -> JsonValue:
        """Its JSON; a file that is not world-readable has every line redacted (it may hold
        secrets: facts output never carries them)."""
        shown = to_json(value)
        if value.exists and not world_readable(value.mode):
            shown["content"] = redact(value.content).decode("utf-8", "replace")
            shown["redacted"] = True
        return shown

    def summarize(self, value: FileState) -> str:
        if not value.exists:
            return "absent"
        return f"{len(value.content)} bytes, mode {value.mode:04o}, {value.owner}:{value.group}"


def parse_file(path: str, lines: list[str]) -> FileState:
    if not lines:
        return FileState(path, exists=False)
    meta = lines[0].split(" ", 5)
    try:
        mode, uid, gid = int(meta[0], 8), int(meta[1]), int(meta[2])
        owner, group = meta[3], meta[4]
    except (ValueError, IndexError):
        raise FactError(f"cannot read {path}: {' '.join(lines)[:200]}") from None
    kind = meta[5] if len(meta) > 5 else "regular file"
    data = "".join(lines[1:]).strip()
    try:
        content = base64.b64decode(data, validate=True) if data else b""
    except ValueError:
        raise FactError(f"cannot read {path}: unexpected output") from None
    return FileState(path, exists=True, content=content, mode=mode, uid=uid, gid=gid, owner=owner,
                     group=group, kind=kind)
