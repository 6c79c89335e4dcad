"""Maven's toolchains.xml, edited surgically: this tool's ``jdk`` toolchains (an ``<id>`` of
``provision-jdk-<N>`` in ``<provides>``) are added, replaced or removed as text spans found by
expat's byte offsets; every other byte (entries written by others, comments, layout) is kept.

The file may be a user's (``~/.m2``), so it is untrusted input: a DOCTYPE (entities, external
references) is refused, as is anything expat rejects or an encoding other than UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from provision.formats.xmlspans import check_input, parse_all, strict_parser, tag_end

MAX_SIZE = 1 << 20
NAMESPACE = "http://maven.apache.org/TOOLCHAINS/1.1.0"
SKELETON = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<toolchains xmlns="' + NAMESPACE.encode() + b'">\n</toolchains>\n')
_ID = re.compile(r"provision-jdk-([0-9]+)")
_TYPE = "jdk"  # Maven's toolchain type for a JDK


class ToolchainsError(ValueError):
    """The file cannot be edited safely (the message says why)."""


@dataclass(frozen=True)
class Toolchain:
    version: int
    vendor: str
    home: str

    @property
    def id(self) -> str:
        return f"provision-jdk-{self.version}"


@dataclass
class Entry:
    start: int  # byte offset of '<toolchain'
    end: int  # byte offset just after its end tag
    ours: int | None = None  # the JDK version, when this tool wrote it
    type: str = ""
    provides: dict[str, str] = field(default_factory=dict)
    home: str = ""


@dataclass
class Parsed:
    root_start: int = -1
    root_end_tag: int = -1  # offset of '</toolchains>' (-1: the root is an empty element)
    root_empty_end: int = -1  # offset just after '<toolchains .../>'
    entries: list[Entry] = field(default_factory=list)

    def ours(self) -> dict[int, Entry]:
        return {e.ours: e for e in self.entries if e.ours is not None}



def parse(data: bytes) -> Parsed:
    """Where the root and each ``<toolchain>`` are, and what each says."""
    check_input(data, max_size=MAX_SIZE, what="toolchains", error=ToolchainsError)
    out = Parsed()
    p = strict_parser("toolchains", ToolchainsError)
    stack: list[str] = []
    text: list[str] = []
    cur: list[Entry] = []
    tag_ends: list[int] = []  # where each open element's start tag ends (an empty element's end)

    def start(name: str, attrs: dict[str, str]) -> None:
        depth = len(stack)
        stack.append(name)
        tag_ends.append(tag_end(data, p.CurrentByteIndex, ToolchainsError))
        text.clear()
        if depth == 0:
            if name != "toolchains":
                raise ToolchainsError(f"the root element is <{name}>, not <toolchains>")
            out.root_start = p.CurrentByteIndex
        elif depth == 1 and name == "toolchain":
            cur.append(Entry(p.CurrentByteIndex, -1))

    def end(name: str) -> None:
        stack.pop()
        start_end = tag_ends.pop()
        depth = len(stack)
        value = "".join(text).strip()
        text.clear()
        at = p.CurrentByteIndex
        closing = data[at:at + 2] == b"</"
        if depth == 0:
            if closing:
                out.root_end_tag = at
            else:
                out.root_empty_end = start_end
        elif depth == 1 and name == "toolchain" and cur:
            e = cur.pop()
            e.end = tag_end(data, at, ToolchainsError) if closing else start_end
            m = _ID.fullmatch(e.provides.get("id", ""))
            if m and e.type == _TYPE:
                e.ours = int(m.group(1))
            out.entries.append(e)
        elif cur and depth == 2 and name == "type":
            cur[-1].type = value
        elif cur and depth == 3 and stack[2] == "provides":
            cur[-1].provides[name] = value
        elif cur and depth == 3 and stack[2] == "configuration" and name == "jdkHome":
            cur[-1].home = value

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = text.append
    parse_all(p, data, ToolchainsError)
    if out.root_start < 0:
        raise ToolchainsError("no <toolchains> element")
    return out


def _home(home: str) -> str:
    if any(ord(c) < 0x20 or c == "\x7f" for c in home) or not home.startswith("/"):
        raise ToolchainsError(f"JDK home {home!r} is not an absolute path without control characters")
    return escape(home)


def render(t: Toolchain, indent: bytes) -> bytes:
    """Our entry, its first line not indented (the text before it is the file's)."""
    i = indent.decode()
    lines = ["<toolchain>",
             f"{i}<!-- written by provision: JDK {t.version}, changed or removed with the playbook -->",
             f"{i}<type>{_TYPE}</type>",
             f"{i}<provides>",
             f"{i}{i}<version>{t.version}</version>",
             f"{i}{i}<vendor>{escape(t.vendor)}</vendor>",
             f"{i}{i}<id>{t.id}</id>",
             f"{i}</provides>",
             f"{i}<configuration>",
             f"{i}{i}<jdkHome>{_home(t.home)}</jdkHome>",
             f"{i}</configuration>",
             "</toolchain>"]
    return "\n".join(lines[:1] + [indent.decode() + line for line in lines[1:]]).encode()


def _indent(data: bytes, parsed: Parsed) -> bytes:
    """The indentation of the file's first toolchain (two spaces without one)."""
    for e in parsed.entries:
        line = data.rfind(b"\n", 0, e.start) + 1
        if data[line:e.start].strip(b" \t") == b"":
            return data[line:e.start] or b"  "
    return b"  "


def _remove(data: bytes, e: Entry) -> bytes:
    """The entry's span, with its line's leading blanks and the newline after it when the entry
    stands on lines of its own (what an insertion added)."""
    start, end = e.start, e.end
    line = data.rfind(b"\n", 0, start) + 1
    if data[line:start].strip(b" \t") == b"" and data[end:end + 1] == b"\n":
        start, end = line, end + 1
    return data[:start] + data[end:]


def splice(data: bytes | None, wanted: list[Toolchain]) -> bytes | None:
    """The file with exactly ``wanted`` as this tool's toolchains (None: no file is needed: it
    would be the skeleton this tool creates, with nothing in it)."""
    source = SKELETON if data is None else data
    parsed = parse(source)
    want = {t.version: t for t in wanted}
    indent = _indent(source, parsed)
    out = source
    # right to left, so earlier offsets stay valid
    for e in sorted(parsed.entries, key=lambda e: e.start, reverse=True):
        if e.ours is None:
            continue
        t = want.get(e.ours)
        if t is None or e.ours in {x.ours for x in parsed.entries if x is not e and x.start < e.start}:
            out = _remove(out, e)
        else:
            new = render(t, indent)
            if out[e.start:e.end] != new:
                out = out[:e.start] + new + out[e.end:]
    have = parsed.ours()
    missing = [t for v, t in sorted(want.items()) if v not in have]
    if missing:
        out = _insert(out, missing, indent)
    check = parse(out).ours()
    if {v: (e.home, e.provides.get("version")) for v, e in check.items()} != \
            {t.version: (t.home, str(t.version)) for t in wanted}:
        raise ToolchainsError("internal check failed: the edited file does not read back as planned")
    if data is None and out == SKELETON:
        return None
    return out


def _insert(data: bytes, items: list[Toolchain], indent: bytes) -> bytes:
    parsed = parse(data)
    block = b"".join(indent + render(t, indent) + b"\n" for t in items)
    if parsed.root_end_tag < 0:  # <toolchains/>: open it
        end = parsed.root_empty_end
        tag = data[parsed.root_start:end]
        opened = tag[:-2].rstrip() + b">"
        return data[:parsed.root_start] + opened + b"\n" + block + b"</toolchains>" + data[end:]
    at = parsed.root_end_tag
    line = data.rfind(b"\n", 0, at) + 1
    if data[line:at].strip(b" \t") == b"":
        return data[:line] + block + data[line:]
    return data[:at] + b"\n" + block + data[at:]


def entries_in(data: bytes) -> dict[int, Entry]:
    """This tool's toolchains in a file (for checks)."""
    return parse(data).ours()
