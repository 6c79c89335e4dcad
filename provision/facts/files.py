"""A file's content and attributes (read whole, as base64, so any byte survives the trip)."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from typing import ClassVar

from provision.connections.base import WALK
from provision.errors import FactError, ResourceError
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
    link: str = ""  # the path is a symbolic link (not followed): where it points; content is empty
    refused: str = ""  # why provision will not write the path (a link on the way, a hard link…)

    def writable(self) -> FileState:
        """This state, or ResourceError when the path is not one provision writes (the write on
        the target refuses it too)."""
        if self.refused:
            raise ResourceError(self.refused)
        if self.link:
            raise ResourceError(f"{self.path} is a symbolic link (to {self.link}): not written (follow: "
                                "true writes through a link root owns in a directory only root can change)")
        return self

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "surrogateescape")


MAX_READ = 1 << 20  # the most of a managed file a fact reads: a larger one is refused, not read

# What a FileContent reads, walked as a write walks it (pv_walk, defined once per facts script:
# FileContent.prelude): a link is reported as a link, never read through (unless ``follow``, with
# the write's rules), nor is a hard link to a file elsewhere or anything but a regular file (a FIFO,
# a device, a socket is never opened). In a directory a non-root user can write, the content is
# read with O_NOFOLLOW|O_NONBLOCK, at most MAX_READ + 1 bytes of it (a file said to be larger is
# refused unread; one that grows while it is read is refused by parse_file), so a huge or sparse
# file planted at a managed path costs nothing, nor does a link or FIFO swapped in after the stat.
# In a directory only root can change (the walk is in it: cd -P), no one else can swap the name
# between the stat and the read, so base64 reads it itself (no dd: a process less per file).
_READ = r"""
rc=0; pv_walk "$p" "$f" "" 0 r || rc=$?
if [ "$rc" = 1 ]; then printf '~refused %s: %s not written\n' "$pv_err" "$p"; exit 0; fi
[ "$rc" = 0 ] && [ -n "$pv_st" ] || exit 0
b=./$pv_name
[ -z "$pv_link" ] || printf '~link %s\n' "$pv_link"
pv_fields "$pv_st" || exit 0
meta="$pv_a $pv_u $pv_g $pv_U $pv_G $pv_F"
if [ -z "$pv_link" ] && [ "$pv_F" != "regular file" ] && [ "$pv_F" != "regular empty file" ]; then
  printf '~refused %s is a %s, not a regular file: not written\n' "$p" "$pv_F"
elif [ -z "$pv_link" ] && [ "$pv_h" -gt 1 ] && pv_opened $pv_dir; then
  printf '~refused %s has %s hard links and a non-root user can write its directory %s\n' "$p" "$pv_h" \
    '(a link to a file elsewhere?): not written'
  printf '%s\n' "$meta"
elif [ -z "$pv_link" ] && [ "$pv_s" -gt @MAX@ ]; then
  printf '~refused %s is %s bytes, more than the @MIB@ MiB provision reads: not written\n' "$p" "$pv_s"
else
  printf '%s\n' "$meta"
  if [ -n "$pv_link" ]; then :
  elif pv_opened $pv_dir; then dd if="$b" iflag=nofollow,nonblock,fullblock bs=@CAP@ count=1 2>/dev/null | base64 -w0
  else { base64 -w0 < "$b"; } 2>/dev/null
  fi
  echo
fi
""".replace("@MAX@", str(MAX_READ)).replace("@CAP@", str(MAX_READ + 1)).replace(
    "@MIB@", str(MAX_READ >> 20))


@dataclass(frozen=True)
class FileContent(Fact[FileState]):
    """A file: content, mode, owner; ``exists`` False when there is none. A symbolic link at the
    path is reported as one (``link``), not read through, unless ``follow`` (then only links root
    owns in root-only directories are followed); a path provision will not write says why
    (``refused``). A write through the apply context updates it; nothing else invalidates it."""

    path: str
    follow: bool = False

    prelude: ClassVar[str] = WALK

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "\n" in self.path or "\x00" in self.path:
            raise FactError(f"file paths must be absolute: {self.path!r}")

    def command(self) -> str:
        return f"(p={shlex.quote(self.path)} f={1 if self.follow else 0}\n{_READ})"

    def parse(self, lines: list[str]) -> FileState:
        return parse_file(self.path, lines)

    def describe(self) -> str:
        return f"file {self.path}" + (" (links followed)" if self.follow else "")

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
    notes = {k: v for k, _, v in (line[1:].partition(" ") for line in lines if line.startswith("~"))}
    lines = [line for line in lines if not line.startswith("~")]
    if not lines:
        return FileState(path, exists=False, refused=notes.get("refused", ""))
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
    if len(content) > MAX_READ:  # it grew past the cap after its size was read
        return FileState(path, exists=False, refused=f"{path} is more than the {MAX_READ >> 20} MiB provision "
                         "reads: not written")
    return FileState(path, exists=True, content=content, mode=mode, uid=uid, gid=gid, owner=owner,
                     group=group, kind=kind, link=notes.get("link", ""), refused=notes.get("refused", ""))
