"""What the XML files edited as byte spans (Maven's toolchains.xml and settings.xml) share: input
checks (size, UTF-8 only), an expat parser that refuses a DOCTYPE and entities (the file may be a
user's: untrusted), and where a tag ends (expat gives where each one starts)."""

from __future__ import annotations

import re
import xml.parsers.expat

Error = type[ValueError]


def check_input(data: bytes, *, max_size: int, what: str, error: Error) -> None:
    """Refuse a file too big to be ``what``, or declared in an encoding other than UTF-8."""
    if len(data) > max_size:
        raise error(f"{len(data)} bytes: more than {max_size} is not a {what} file")
    head = data[:200].split(b"?>", 1)[0] if data.startswith(b"<?xml") else b""
    enc = re.search(rb"encoding\s*=\s*[\"']([^\"']+)", head)
    if enc and enc.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        raise error(f"encoding {enc.group(1).decode('ascii', 'replace')}: only UTF-8 is edited")


def strict_parser(what: str, error: Error) -> xml.parsers.expat.XMLParserType:
    """An expat parser (UTF-8) on which a DOCTYPE or an entity declaration raises ``error``."""
    p = xml.parsers.expat.ParserCreate("UTF-8")

    def refuse(*_: object) -> None:
        raise error(f"a DOCTYPE or entity declaration is refused (a {what} file needs none)")

    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    p.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    return p


def parse_all(p: xml.parsers.expat.XMLParserType, data: bytes, error: Error) -> None:
    try:
        p.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise error(f"not well-formed XML: {exc}") from None


def tag_end(data: bytes, i: int, error: Error) -> int:
    """Offset just after the tag starting at ``i`` (quotes in attribute values respected)."""
    quote = 0
    for j in range(i, len(data)):
        c = data[j]
        if quote:
            quote = 0 if c == quote else quote
        elif c in b"\"'":
            quote = c
        elif c == ord(">"):
            return j + 1
    raise error("a tag is not closed")
