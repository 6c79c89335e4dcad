"""Gathering: every fact asked for at once becomes one POSIX sh script, so one round trip.

What the host prints cannot be forged by what the facts read (a file a local user wrote, a
program's output): each part's output is captured by the shell and printed after its length in
bytes, and the whole block is base64-encoded on one line, ``@@facts <base64>``, ending with an
``end`` record. No part can print a frame (its bytes are counted, not searched for a marker), and
nothing on the block's line can be anything but base64; no secret is needed, so none is on a
command line where ``/proc/<pid>/cmdline`` would show it. Splitting the output and parsing each
part is pure, unit-tested from captured output.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING

from provision.errors import FactError
from provision.facts.base import Fact, Section

if TYPE_CHECKING:
    from provision.connections.base import Connection

MARK = b"@@facts "  # starts the block's line; '@' and ' ' are not base64
PART_OPEN = "o=$("
PART_CLOSE = r'''); printf '%s\n%s\n' "${#o}" "$o"'''  # ${#o}: its bytes (LC_ALL=C)
TIMEOUT = 300.0


def sections(facts: Sequence[Fact[object]]) -> list[Section]:
    """The script parts for ``facts``, grouped by class (a class may read all of its at once)."""
    by_class: dict[type[Fact[object]], list[Fact[object]]] = {}
    for f in facts:
        by_class.setdefault(type(f), [])
        if f not in by_class[type(f)]:
            by_class[type(f)].append(f)
    out: list[Section] = []
    for cls, group in by_class.items():
        out += cls.sections(group)
    return out


def script(parts: Sequence[Section], end: str = "exit 0", defined: Sequence[str] = ()) -> str:
    """The script; ``end`` is its last line (the held session of an apply goes on after it).
    Each part runs in a command substitution (a subshell: a fork, no program started), which
    drops its trailing newlines: parsers never see trailing blank lines anyway. The parts'
    preludes (shell functions) come first, each once, bar those ``defined`` already."""
    preludes = [p for p in dict.fromkeys(part.prelude for part in parts) if p and p not in defined]
    lines = ["set +e", "LC_ALL=C; export LC_ALL", *(p.strip("\n") for p in preludes),
             f"printf '\\n{MARK.decode()}'", "{"]
    for part in parts:
        lines += [PART_OPEN, part.command.strip("\n"), PART_CLOSE]
    lines += ["printf 'end\\n'", "} </dev/null | base64 -w0", "printf '\\n'", end]
    return "\n".join(lines) + "\n"


def block(output: bytes) -> bytes | None:
    """The decoded block in ``output`` (what the script printed), None when there is none."""
    for line in output.split(b"\n"):
        if line.startswith(MARK):
            try:
                return base64.b64decode(line[len(MARK):].strip(), validate=True)
            except (binascii.Error, ValueError):
                raise FactError("the facts script's output is not what it prints (not base64)") from None
    return None


def split(output: bytes, count: int, errors: str = "replace") -> list[list[str]]:
    """The lines each of ``count`` parts printed (trailing blank lines dropped); raises FactError
    when the script did not run to its end or its output is not framed as it frames it."""
    data = block(output)
    if data is None:
        raise FactError("the host did not run the facts script to its end (no POSIX shell?)")
    chunks: list[list[str]] = []
    pos = 0
    for i in range(count):
        nl = data.find(b"\n", pos)
        size = data[pos:nl]
        if nl < 0 or not size.isdigit() or data[nl + 1 + int(size):nl + 2 + int(size)] != b"\n":
            raise FactError(f"the facts script's output is cut or garbled at part {i}")
        text = data[nl + 1:nl + 1 + int(size)].decode("utf-8", errors)
        pos = nl + 2 + int(size)
        lines = text.split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        chunks.append(lines)
    if data[pos:] != b"end\n":
        raise FactError("the host did not run the facts script to its end (no POSIX shell?)")
    return chunks


def parse(parts: Sequence[Section], output: bytes, errors: str = "replace") -> dict[Fact[object], object]:
    values: dict[Fact[object], object] = {}
    for part, lines in zip(parts, split(output, len(parts), errors), strict=True):
        values.update(part.parse(lines))
    return values


def gather(conn: Connection, facts: Sequence[Fact[object]]) -> dict[Fact[object], object]:
    """Read ``facts`` from the host with one command; raises FactError or ConnectError."""
    if not facts:
        return {}
    parts = sections(facts)
    result = conn.run(["sh", "-c", script(parts)], timeout=TIMEOUT)
    if result.rc != 0:
        raise FactError(f"gathering facts failed (exit {result.rc}): {result.tail() or 'no output'}")
    return parse(parts, result.stdout)
