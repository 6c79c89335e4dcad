"""Text from a target, made safe to show: every line provision prints for people passes through
``echo`` (or ``render``), which shows control characters escaped.

A target's bytes (os-release, error tails, apt's lines, a journal, a check's output) can hold
escape sequences that a terminal obeys: a window title, OSC 52 (write the controller's
clipboard), cursor moves that overwrite lines already printed, colours that hide text, and bidi
overrides that show text in another order than it is ("Trojan source"). Here they become visible
escapes: ESC is shown as ``\\x1b``, U+202E as ``\\u202e``; newlines are kept where text has lines,
tabs too. Nothing from a target is ever interpreted as rich markup: rich only gets ``Text``.

provision's own colour is added after escaping (``Styled`` pieces of a ``Line``), so the only
escape sequences on a terminal are its own SGR colour codes, and none with colour off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import click

# C0 controls and DEL, C1 controls, lone surrogates (undecodable bytes kept by surrogateescape),
# bidi embeddings, overrides, isolates and marks, and the Unicode line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_NAMED = {"\r": "\\r", "\t": "\\t", "\n": "\\n"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    n = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= n <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{n - 0xDC00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def shown(text: str, *, lines: bool = True, tabs: bool = True) -> str:
    """``text`` with every character a terminal could act on escaped; ``lines``: keep newlines
    (a message of several lines), ``tabs``: keep tabs."""
    keep = ("\n" if lines else "") + ("\t" if tabs else "")

    def escape(m: re.Match[str]) -> str:
        return m.group() if m.group() in keep else _escape(m)

    return _UNSAFE.sub(escape, text)


@dataclass(frozen=True)
class Styled:
    """A piece of a line in provision's own colour (applied after the text is escaped)."""

    text: str
    fg: str | None = None
    bold: bool = False


Piece = str | Styled
Line = str | Sequence[Piece]  # a line of text, or its pieces (some in colour)


def render(line: Line, colour: bool) -> str:
    """One line as it goes to a terminal: every piece escaped (newlines too), styled pieces
    coloured when ``colour``."""
    pieces = [line] if isinstance(line, str) else line
    out = []
    for p in pieces:
        if isinstance(p, Styled):
            text = shown(p.text, lines=False)
            out.append(click.style(text, fg=p.fg, bold=p.bold or None) if colour and (p.fg or p.bold) else text)
        else:
            out.append(shown(p, lines=False))
    return "".join(out)


def render_lines(text: str | Sequence[Line], colour: bool) -> list[str]:
    """``text`` (a string of lines, or lines) as the lines that go to a terminal."""
    lines: Sequence[Line] = (text.split("\n") if text else [""]) if isinstance(text, str) else text
    return [render(line, colour) for line in lines]


def echo(text: str | Sequence[Line], *, err: bool = True, file: TextIO | None = None,
         colour: bool = False) -> None:
    """Print human output (on stderr unless ``file``/``err`` say otherwise), escaped."""
    click.echo("\n".join(render_lines(text, colour)), file=file, err=err and file is None, color=colour)


# XML 1.0 allows neither C0 controls (but tab, newline, CR) nor surrogates nor U+FFFE/U+FFFF.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` for an XML 1.0 document (JUnit reports): escaped as on a terminal, and nothing
    that XML forbids."""
    return _XML_BAD.sub(_escape, shown(text))
