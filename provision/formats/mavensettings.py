"""Maven's settings.xml ``<proxies>``, edited surgically: this tool's ``<proxy>`` entries (an
``<id>`` of ``provision-<name>-http`` / ``-https``) are added, replaced or removed as byte spans
found by expat's offsets; every other byte (others' proxies, servers, mirrors, comments) is kept.

Maven uses the first active proxy for a protocol, so ours go first in ``<proxies>``. Without a
``<proxies>`` element one is added (with a comment saying so) before ``</settings>``, and removed
again with our last entry. A DOCTYPE (entities, external references), anything expat rejects and
encodings other than UTF-8 are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from provision.formats.xmlspans import check_input, parse_all, strict_parser, tag_end

MAX_SIZE = 1 << 20
ADDED = b"<!-- added by provision: removed with its last proxy -->"


class SettingsError(ValueError):
    """The file cannot be edited safely (the message says why)."""


@dataclass(frozen=True)
class MavenProxy:
    id: str
    protocol: str
    host: str
    port: int
    non_proxy_hosts: str = ""
    username: str = ""  # decoded
    password: str = ""


@dataclass
class Entry:
    start: int
    end: int
    id: str = ""
    active: str = ""
    protocol: str = ""


@dataclass
class Parsed:
    root_start: int = -1
    root_end_tag: int = -1  # '</settings>' (-1: an empty root element)
    root_empty_end: int = -1
    proxies_start: int = -1  # '<proxies'
    proxies_tag_end: int = -1  # just after '<proxies>' (or after '<proxies/>')
    proxies_end_tag: int = -1  # '</proxies>' (-1: '<proxies/>')
    proxies_end: int = -1  # just after the element
    entries: list[Entry] = field(default_factory=list)



def parse(data: bytes) -> Parsed:
    check_input(data, max_size=MAX_SIZE, what="settings", error=SettingsError)
    out = Parsed()
    p = strict_parser("settings", SettingsError)
    stack: list[str] = []
    text: list[str] = []
    tag_ends: list[int] = []
    cur: list[Entry] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        depth = len(stack)
        stack.append(name)
        at = p.CurrentByteIndex
        tag_ends.append(tag_end(data, at, SettingsError))
        text.clear()
        if depth == 0:
            if name != "settings":
                raise SettingsError(f"the root element is <{name}>, not <settings>")
            out.root_start = at
        elif depth == 1 and name == "proxies":
            if out.proxies_start >= 0:
                raise SettingsError("two <proxies> elements")
            out.proxies_start, out.proxies_tag_end = at, tag_ends[-1]
        elif depth == 2 and stack[1] == "proxies" and name == "proxy":
            cur.append(Entry(at, -1))

    def end(name: str) -> None:
        stack.pop()
        start_end = tag_ends.pop()
        depth = len(stack)
        value = "".join(text).strip()
        text.clear()
        at = p.CurrentByteIndex
        closing = data[at:at + 2] == b"</"
        end_at = tag_end(data, at, SettingsError) if closing else start_end
        if depth == 0:
            if closing:
                out.root_end_tag = at
            else:
                out.root_empty_end = start_end
        elif depth == 1 and name == "proxies":
            out.proxies_end_tag = at if closing else -1
            out.proxies_end = end_at
        elif depth == 2 and name == "proxy" and cur:
            e = cur.pop()
            e.end = end_at
            out.entries.append(e)
        elif depth == 3 and cur and name in ("id", "active", "protocol"):
            setattr(cur[-1], name, value)

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = text.append
    parse_all(p, data, SettingsError)
    if out.root_start < 0:
        raise SettingsError("no <settings> element")
    return out


def render(x: MavenProxy, indent: bytes, step: bytes = b"  ") -> bytes:
    """Our entry at ``indent``, its first line not indented (the text before it is the file's)."""
    i = step.decode()
    lines = ["<proxy>",
             f"{i}<!-- written by provision, changed or removed with the playbook -->",
             f"{i}<id>{escape(x.id)}</id>",
             f"{i}<active>true</active>",
             f"{i}<protocol>{escape(x.protocol)}</protocol>",
             f"{i}<host>{escape(x.host)}</host>",
             f"{i}<port>{x.port}</port>"]
    if x.username:
        lines += [f"{i}<username>{escape(x.username)}</username>", f"{i}<password>{escape(x.password)}</password>"]
    if x.non_proxy_hosts:
        lines.append(f"{i}<nonProxyHosts>{escape(x.non_proxy_hosts)}</nonProxyHosts>")
    lines.append("</proxy>")
    return "\n".join(lines[:1] + [indent.decode() + ln for ln in lines[1:]]).encode()


def _line_indent(data: bytes, at: int) -> bytes | None:
    line = data.rfind(b"\n", 0, at) + 1
    lead = data[line:at]
    return lead if lead.strip(b" \t") == b"" else None


def _cut(data: bytes, start: int, end: int) -> bytes:
    """Remove [start, end) with its line's leading blanks and the newline after it when the span
    stands on lines of its own."""
    line = data.rfind(b"\n", 0, start) + 1
    if data[line:start].strip(b" \t") == b"" and data[end:end + 1] == b"\n":
        start, end = line, end + 1
    return data[:start] + data[end:]


def ours(parsed: Parsed, prefix: str) -> list[Entry]:
    return [e for e in parsed.entries if e.id.startswith(prefix)]


def splice(data: bytes, prefix: str, wanted: list[MavenProxy]) -> bytes:
    """``data`` with exactly ``wanted`` as this tool's proxies (ids starting with ``prefix``)."""
    parsed = parse(data)
    out = data
    for e in sorted(ours(parsed, prefix), key=lambda e: e.start, reverse=True):
        out = _cut(out, e.start, e.end)
    parsed = parse(out)
    if wanted:
        out = _insert(out, parsed, wanted)
    elif parsed.proxies_start >= 0 and parsed.proxies_end_tag >= 0:
        inner = out[parsed.proxies_tag_end:parsed.proxies_end_tag]
        if inner.strip() == ADDED:  # the element this tool added, now empty
            out = _cut(out, parsed.proxies_start, parsed.proxies_end)
    check = {e.id: e.protocol for e in ours(parse(out), prefix)}
    if check != {x.id: x.protocol for x in wanted}:
        raise SettingsError("internal check failed: the edited file does not read back as planned")
    return out


def _insert(data: bytes, parsed: Parsed, items: list[MavenProxy]) -> bytes:
    base = _line_indent(data, parsed.proxies_start) if parsed.proxies_start >= 0 else None
    step = base if base else b"  "
    if base is None:
        base = step = b"  "
    inner = base + step
    block = b"".join(inner + render(x, inner, step) + b"\n" for x in items)
    if parsed.proxies_start >= 0:
        if parsed.proxies_end_tag < 0:  # <proxies/>: open it
            tag = data[parsed.proxies_start:parsed.proxies_tag_end]
            opened = tag[:-2].rstrip() + b">"
            return (data[:parsed.proxies_start] + opened + b"\n" + block + base + b"</proxies>"
                    + data[parsed.proxies_end:])
        at = parsed.proxies_tag_end
        rest = data[at:]
        if rest.lstrip().startswith(ADDED):  # ours go after the comment saying this tool added <proxies>
            at += len(rest) - len(rest.lstrip()) + len(ADDED)
        return data[:at] + b"\n" + block.rstrip(b"\n") + data[at:]
    element = b"<proxies>\n" + inner + ADDED + b"\n" + block + base + b"</proxies>"
    if parsed.root_end_tag < 0:
        end = parsed.root_empty_end
        tag = data[parsed.root_start:end]
        return data[:parsed.root_start] + tag[:-2].rstrip() + b">\n" + base + element + b"\n</settings>" + data[end:]
    at = parsed.root_end_tag
    line = data.rfind(b"\n", 0, at) + 1
    if data[line:at].strip(b" \t") == b"":
        return data[:line] + base + element + b"\n" + data[line:]
    return data[:at] + b"\n" + base + element + b"\n" + data[at:]


def active_others(data: bytes, prefix: str) -> list[str]:
    """Active proxies of others (Maven takes the first active one per protocol: ours come first)."""
    return [e.id or "(no id)" for e in parse(data).entries
            if not e.id.startswith(prefix) and e.active.lower() != "false"]
