"""A block of lines this tool owns inside a line-based file (a JDK's ``conf/net.properties``),
between a BEGIN and an END comment line naming it. Every byte outside the block is kept; removing
the block gives the file back as it was before the block was added.

``java.util.Properties`` lets the last assignment of a key win, so a block appended at the end
overrides the file's own values; a line continued by a trailing backslash would swallow the next
line, so a block is never put after one (refused).
"""

from __future__ import annotations

from dataclasses import dataclass


class BlockError(ValueError):
    """The file cannot be edited safely (the message says why)."""


@dataclass(frozen=True)
class Markers:
    begin: bytes
    end: bytes


def markers(name: str, comment: bytes = b"#") -> Markers:
    return Markers(comment + b" BEGIN " + name.encode() + b" (written by provision, changed or removed "
                   b"with the playbook)", comment + b" END " + name.encode())


def _find(lines: list[bytes], m: Markers) -> tuple[int, int] | None:
    """(first, last) index of the block's lines, or None; BlockError when the markers are broken."""
    begins = [i for i, ln in enumerate(lines) if ln.rstrip(b"\r\n") == m.begin]
    ends = [i for i, ln in enumerate(lines) if ln.rstrip(b"\r\n") == m.end]
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise BlockError(f"the lines {m.begin.decode(errors='replace')!r} … {m.end.decode(errors='replace')!r} "
                         "are not one block (someone edited them): fix the file by hand")
    return begins[0], ends[0]


def _continued(line: bytes) -> bool:
    body = line.rstrip(b"\r\n")
    stripped = body.lstrip(b" \t\f")
    if stripped.startswith((b"#", b"!")):
        return False
    return (len(body) - len(body.rstrip(b"\\"))) % 2 == 1


def splice(data: bytes, m: Markers, body: list[bytes] | None) -> bytes:
    """``data`` with the block holding exactly ``body`` (lines without newlines), or without the
    block (``body`` None). A new block goes at the end."""
    lines = data.splitlines(keepends=True)
    found = _find(lines, m)
    new = [] if body is None else [m.begin + b"\n", *(ln + b"\n" for ln in body), m.end + b"\n"]
    if found is not None:
        first, last = found
        return b"".join(lines[:first] + new + lines[last + 1:])
    if body is None:
        return data
    if lines and _continued(lines[-1]):
        raise BlockError("its last line ends with a backslash (a continued line): a block after it would "
                         "be read as part of that value")
    sep = b"\n" if data and not data.endswith(b"\n") else b""
    return data + sep + b"".join(new)


def body_of(data: bytes, m: Markers) -> list[bytes] | None:
    """The block's lines (without newlines), or None when there is no block."""
    lines = data.splitlines(keepends=True)
    found = _find(lines, m)
    if found is None:
        return None
    return [ln.rstrip(b"\r\n") for ln in lines[found[0] + 1:found[1]]]
