"""Gathering: every fact asked for at once becomes one POSIX sh script, so one round trip.

Each part of the script prints a marker line ``@@<token>:<n>`` and then its output; the token is
random per script, so nothing a part prints (a file's lines, a package's description) can pass for
a marker. Splitting the output and parsing each part is pure, unit-tested from captured output.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from provision.errors import FactError
from provision.facts.base import Fact, Section

if TYPE_CHECKING:
    from provision.connections.base import Connection

MARK = "@@"
TIMEOUT = 300.0


def sections(facts: Sequence[Fact[Any]]) -> list[Section]:
    """The script parts for ``facts``, grouped by class (a class may read all of its at once)."""
    by_class: dict[type[Fact[Any]], list[Fact[Any]]] = {}
    for f in facts:
        by_class.setdefault(type(f), [])
        if f not in by_class[type(f)]:
            by_class[type(f)].append(f)
    out: list[Section] = []
    for cls, group in by_class.items():
        out += cls.sections(group)
    return out


def script(parts: Sequence[Section], token: str, end: str = "exit 0") -> str:
    """The script; ``end`` is its last line (the held session of an apply goes on after it)."""
    lines = ["set +e", "LC_ALL=C; export LC_ALL"]
    for i, part in enumerate(parts):
        lines.append(f"printf '\\n{MARK}{token}:{i}\\n'")
        lines.append(part.command.strip("\n"))
    lines.append(f"printf '\\n{MARK}{token}:end\\n'")
    lines.append(end)
    return "\n".join(lines) + "\n"


def split(output: str, token: str, count: int) -> list[list[str]]:
    """The lines each part printed (trailing blank lines dropped); raises FactError when the
    script did not run to its end."""
    chunks: list[list[str]] = [[] for _ in range(count)]
    current: list[str] | None = None
    ended = False
    prefix = f"{MARK}{token}:"
    for line in output.split("\n"):
        if line.startswith(prefix):
            tag = line[len(prefix):]
            if tag == "end":
                ended = True
                current = None
            elif tag.isdigit() and int(tag) < count:
                current = chunks[int(tag)]
            continue
        if current is not None:
            current.append(line)
    if not ended:
        raise FactError("the host did not run the facts script to its end (no POSIX shell?)")
    for lines in chunks:
        while lines and lines[-1] == "":
            lines.pop()
    return chunks


def parse(parts: Sequence[Section], output: str, token: str) -> dict[Fact[Any], object]:
    values: dict[Fact[Any], object] = {}
    for part, lines in zip(parts, split(output, token, len(parts)), strict=True):
        values.update(part.parse(lines))
    return values


def gather(conn: Connection, facts: Sequence[Fact[Any]]) -> dict[Fact[Any], object]:
    """Read ``facts`` from the host with one command; raises FactError or ConnectError."""
    if not facts:
        return {}
    parts = sections(facts)
    token = secrets.token_hex(4)
    result = conn.run(["sh", "-c", script(parts, token)], timeout=TIMEOUT)
    if result.rc != 0:
        raise FactError(f"gathering facts failed (exit {result.rc}): {result.tail() or 'no output'}")
    return parse(parts, result.out, token)
