"""Java ``.properties`` files (gradle.properties), read the way ``java.util.Properties.load`` reads
them and edited surgically: one key of this tool's is set or removed, every other byte is kept.

The grammar (``java.util.Properties.load(Reader)``): a natural line ends at ``\\n``, ``\\r`` or
``\\r\\n``; a line whose first non-blank character (blanks: space, tab, form feed) is ``#`` or ``!``
is a comment, and a comment never continues; any other non-blank line starts an entry, which goes
on over the next natural line while it ends in an odd number of backslashes (the next line's
leading blanks dropped). The key runs to the first unescaped ``=``, ``:`` or blank; blanks, then
one ``=`` or ``:``, then blanks separate it from the value. ``\\t \\n \\r \\f`` and ``\\uXXXX`` are
escapes, a backslash before any other character stands for that character. The last entry of a key
wins. Gradle reads the file as ISO-8859-1 (``Properties.load(InputStream)``), so bytes map to
characters one to one here and nothing is lost; what this tool writes is ASCII (``\\uXXXX`` for
anything else).

This tool's entry is the one right below its marker comment; it is kept as the last entry of its
key (so it is the one that counts), edited in place when it is, moved to the end when someone
wrote the key again below it.
"""

from __future__ import annotations

from dataclasses import dataclass

MARKER = b"# managed by provision: the JDKs Gradle may use (a JDK taken off the list goes with the playbook)"
MAX_SIZE = 1 << 20
_BLANK = b" \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class PropertiesError(ValueError):
    """The file cannot be read or edited safely (the message says why)."""


@dataclass
class Line:
    """One natural line: its bytes (terminator included) and where it starts."""

    start: int
    raw: bytes  # with its terminator

    @property
    def body(self) -> bytes:
        return self.raw.rstrip(b"\r\n") if self.raw.endswith((b"\n", b"\r")) else self.raw

    @property
    def terminated(self) -> bool:
        return self.raw.endswith((b"\n", b"\r"))


@dataclass
class Entry:
    """A logical line: a comment, a blank line, or a key and its value."""

    start: int  # byte offset of its first natural line
    end: int  # just after its last natural line's terminator
    kind: str  # "comment", "blank" or "entry"
    key: str = ""
    value: str = ""
    dangling: bool = False  # an entry whose last line asks to be continued, at the end of the file

    def text(self, data: bytes) -> bytes:
        return data[self.start:self.end]


def natural_lines(data: bytes) -> list[Line]:
    out: list[Line] = []
    i, n = 0, len(data)
    while i < n:
        j = i
        while j < n and data[j] not in (0x0A, 0x0D):
            j += 1
        if j < n:
            j += 2 if data[j] == 0x0D and j + 1 < n and data[j + 1] == 0x0A else 1
        out.append(Line(i, data[i:j]))
        i = j
    return out


def _continues(body: bytes) -> bool:
    """An odd number of backslashes at the end of a line continues it."""
    k = len(body) - len(body.rstrip(b"\\"))
    return k % 2 == 1


def _unescape(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= n:
            break  # a lone backslash at the very end of the value stands for nothing
        c = text[i]
        if c == "u":
            digits = text[i + 1:i + 5]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise PropertiesError(f"malformed \\uXXXX escape: \\u{digits}")
            out.append(chr(int(digits, 16)))
            i += 5
            continue
        out.append(_ESCAPES.get(c, c))
        i += 1
    # Java's strings are UTF-16: a pair of \\u escapes may be one character
    return "".join(out).encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


def _split(logical: str) -> tuple[str, str]:
    """(key, value) of a logical line whose leading blanks are gone, escapes not yet decoded."""
    i, n = 0, len(logical)
    while i < n:
        c = logical[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t\f":
            break
        i += 1
    key = logical[:min(i, n)]
    j = i
    while j < n and logical[j] in " \t\f":
        j += 1
    if j < n and logical[j] in "=:":
        j += 1
        while j < n and logical[j] in " \t\f":
            j += 1
    return _unescape(key), _unescape(logical[j:])


def parse(data: bytes) -> list[Entry]:
    """The file's logical lines, in order, covering every byte."""
    if len(data) > MAX_SIZE:
        raise PropertiesError(f"{len(data)} bytes: more than {MAX_SIZE} is not a gradle.properties")
    if b"\x00" in data:
        raise PropertiesError("a NUL byte: not a properties file")
    lines = natural_lines(data)
    out: list[Entry] = []
    k = 0
    while k < len(lines):
        first = lines[k]
        stripped = first.body.lstrip(_BLANK)
        if not stripped:
            out.append(Entry(first.start, first.start + len(first.raw), "blank"))
            k += 1
            continue
        if stripped[:1] in (b"#", b"!"):
            out.append(Entry(first.start, first.start + len(first.raw), "comment"))
            k += 1
            continue
        parts = [stripped]
        last = first
        dangling = False
        while _continues(last.body):
            parts[-1] = parts[-1][:-1]
            if k + 1 >= len(lines):
                dangling = True
                break
            k += 1
            last = lines[k]
            parts.append(last.body.lstrip(_BLANK))
        key, value = _split(b"".join(parts).decode("latin-1"))
        out.append(Entry(first.start, last.start + len(last.raw), "entry", key, value, dangling))
        k += 1
    return out


def effective(data: bytes) -> dict[str, str]:
    """What Properties.load makes of the file: every key's last value."""
    return {e.key: e.value for e in parse(data) if e.kind == "entry"}


def escape_key(key: str) -> str:
    return _ascii("".join("\\" + c if c in "=: \t\f#!\\" else c for c in key))


def escape_value(value: str) -> str:
    out = _ascii(value.replace("\\", "\\\\"))
    return ("\\" + out) if out[:1] in (" ", "\t", "\f") else out


def _ascii(text: str) -> str:
    bad = [c for c in text if ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        raise PropertiesError(f"a control character ({ord(bad[0]):#04x}) cannot be written to a properties file")
    return "".join(c if ord(c) < 0x80 else "".join(f"\\u{u:04x}" for u in _utf16(c)) for c in text)


def _utf16(c: str) -> list[int]:
    b = c.encode("utf-16-be")
    return [int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)]


def render(key: str, value: str, marker: bytes = MARKER) -> bytes:
    return marker + b"\n" + f"{escape_key(key)}={escape_value(value)}".encode("ascii") + b"\n"


def ours(data: bytes, key: str, marker: bytes = MARKER) -> list[tuple[Entry, Entry]]:
    """This tool's entries for ``key`` (each with the marker comment right above it)."""
    entries = parse(data)
    return [(prev, e) for prev, e in zip(entries, entries[1:], strict=False)
            if e.kind == "entry" and e.key == key and prev.kind == "comment"
            and prev.text(data).rstrip(b"\r\n").strip(_BLANK) == marker]


def _terminator(raw: bytes) -> bytes:
    return raw[len(raw.rstrip(b"\r\n")):]


def set_key(data: bytes | None, key: str, value: str | None, marker: bytes = MARKER) -> bytes | None:
    """The file with this tool's entry for ``key`` (below ``marker``) set to ``value`` (None:
    removed); every other line byte for byte. None back: no file is needed (it would be empty)."""
    source = data or b""
    entries = parse(source)
    mine = ours(source, key, marker)
    last = next((e for e in reversed(entries) if e.kind == "entry" and e.key == key), None)
    keep = mine[-1][1] if value is not None and mine and last is not None and mine[-1][1].start == last.start else None
    out = source
    for above, e in reversed(mine):  # right to left: earlier offsets stay valid
        if e is keep:
            assert value is not None
            line = f"{escape_key(key)}={escape_value(value)}".encode("ascii")
            out = out[:e.start] + line + _terminator(e.text(source)) + out[e.end:]
        else:
            start = above.start
            if e.end == len(source) and not _terminator(e.text(source)):  # the newline _append added
                start -= 2 if source[:start].endswith(b"\r\n") else 1 if source[:start].endswith((b"\n", b"\r")) else 0
            out = out[:start] + out[e.end:]
    if value is not None and keep is None:
        out = _append(out, render(key, value, marker), key)
    mine_after = ours(out, key, marker)
    if value is None:
        if mine_after:
            raise PropertiesError("internal check failed: this tool's entry is still there")
    else:
        last_after = [e for e in parse(out) if e.kind == "entry" and e.key == key][-1]
        if effective(out).get(key) != value or not mine_after or mine_after[-1][1].start != last_after.start:
            raise PropertiesError("internal check failed: the edited file does not read back as planned")
    if out == b"" and value is None:
        return None
    return out


def value_of(data: bytes, key: str, marker: bytes = MARKER) -> tuple[str | None, bool]:
    """(the value that counts for ``key``, whether this tool's entry is the one that counts)."""
    entries = [e for e in parse(data) if e.kind == "entry" and e.key == key]
    if not entries:
        return None, False
    mine = ours(data, key, marker)
    return entries[-1].value, bool(mine) and mine[-1][1].start == entries[-1].start


def _append(data: bytes, block: bytes, key: str) -> bytes:
    """``block`` at the end of the file, or above an entry left continued at the end (what
    follows such an entry would become part of its value). A file whose last line has no line
    end keeps it so: the line end goes before the block (and goes with it when it is removed)."""
    entries = parse(data)
    tail = entries[-1] if entries else None
    if tail is not None and tail.dangling:
        if tail.key == key:
            raise PropertiesError(f"the file ends in an entry for {key} that asks to be continued (a "
                                  "trailing backslash): fix that line first")
        return data[:tail.start] + block + data[tail.start:]
    if data and not data.endswith((b"\n", b"\r")):  # the file's last line stays unterminated
        return data + b"\n" + block.rstrip(b"\n")
    return data + block
