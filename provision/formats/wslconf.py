"""/etc/wsl.conf as WSL's own parser reads it (src/shared/configfile/configfile.cpp).

Rules that matter here:
- a line is blank, a comment (``#`` to the end of the line), a ``[section]`` header, or
  ``key = value``; blanks (space, tab) around names and ``=`` are allowed;
- section and key names start with a letter and go on with letters and digits only (``_`` or
  ``-`` make the line invalid); they are compared case-insensitively (``[Boot]``, ``SystemD=``);
- values may be quoted (``"..."``); ``#`` starts a comment unless inside quotes;
- booleans are only ``true``/``false`` (any case) or ``1``/``0``; ``yes``/``on`` are rejected
  with a warning and the value is ignored;
- the FIRST occurrence of a key wins (later ones only warn); repeated sections are merged;
- one invalid line stops WSL reading the file: everything after it is ignored;
- a carriage return is not a blank to WSL, so a CRLF file has invalid lines (``[boot]\\r``) and a
  UTF-8 BOM or UTF-16 makes the first line invalid: the file is, in effect, ignored.

``parse()`` is that reading, line by line; ``effective()`` is what WSL takes from the file;
``set_keys()`` edits keys in place (first occurrence; later duplicates removed), repairs CRLF and
BOM/UTF-16, and keeps every other line byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_BLANK = " \t"

# Keys WSL reads as booleans (WslDistributionConfig.cpp), "section.key" in lower case.
BOOLEAN_KEYS = frozenset({
    "boot.systemd", "boot.protectbinfmt", "automount.enabled", "automount.mountfstab",
    "automount.ldconfig", "network.generatehosts", "network.generateresolvconf", "interop.enabled",
    "interop.appendwindowspath", "gpu.enabled", "time.usewindowstimezone", "general.guiapplications",
})
_TRUE, _FALSE = ("true", "1"), ("false", "0")


@dataclass
class Line:
    no: int  # 1-based line number
    raw: bytes  # the physical line, with its line ending
    kind: str  # blank | comment | section | key | invalid
    section: str = ""  # lower-case section this line is in (a section line: its own name)
    name: str = ""  # the key (or section) name as written
    value: str | None = None  # the value, quotes removed
    comment: str = ""  # a trailing "# ..." comment on a key line, as written
    problem: str = ""  # why the line is invalid, or why WSL ignores its value

    @property
    def key(self) -> str:
        """``section.key`` in lower case (key lines only)."""
        return f"{self.section}.{self.name.lower()}" if self.kind == "key" else ""


@dataclass
class Edit:
    data: bytes  # the new file content
    actions: list[str] = field(default_factory=list)  # what was changed, for the plan
    repairs: list[str] = field(default_factory=list)  # encoding/line-ending repairs made


class WslConfError(ValueError):
    """The file cannot be edited safely (an invalid line WSL would stop at, a bad value)."""


def check_bool(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


def check_name(name: str) -> str | None:
    if not _NAME.fullmatch(name):
        return f"invalid name {name!r}: WSL accepts a letter followed by letters and digits only"
    return None


def normalise_value(key: str, value: object) -> str:
    """The value to write for ``section.key``; raises WslConfError when WSL would not accept it."""
    section, dot, name = key.partition(".")
    if not dot or check_name(section) or check_name(name):
        raise WslConfError(f"{key!r}: keys are written section.key, each a letter followed by letters "
                           "and digits (e.g. boot.systemd)")
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    if key.lower() in BOOLEAN_KEYS:
        b = check_bool(text)
        if b is None:
            raise WslConfError(f"{key}: {text!r} is not a boolean WSL accepts (true, false, 1, 0)")
        return "true" if b else "false"
    for ch, why in (('"', "a double quote"), ("\\", "a backslash"), ("\n", "a newline"),
                    ("\r", "a carriage return"), ("\x00", "a NUL byte")):
        if ch in text:
            raise WslConfError(f"{key}: the value contains {why}, which wsl.conf cannot hold")
    return text


def format_value(value: str) -> str:
    if value == "" or "#" in value or value != value.strip(_BLANK):
        return f'"{value}"'
    return value


def _split_value(rest: str) -> tuple[str | None, str, str]:
    """(value, trailing comment, problem) from the text after '='."""
    rest = rest.lstrip(_BLANK)
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            return None, "", "a quoted value has no closing quote"
        value, tail = rest[1:end], rest[end + 1:]
        tail = tail.strip(_BLANK)
        if tail and not tail.startswith("#"):
            return None, "", "text after a quoted value"
        return value, tail, ""
    value, hash_, comment = rest.partition("#")
    return value.rstrip(_BLANK), (hash_ + comment) if hash_ else "", ""


def _classify(text: str, section: str) -> Line:
    line = Line(0, b"", "blank", section)
    body = text.lstrip(_BLANK)
    if body == "":
        return line
    if body.startswith("#"):
        line.kind = "comment"
        return line
    if body.startswith("["):
        inner = body[1:].lstrip(_BLANK)
        m = _NAME.match(inner)
        if not m:
            line.kind, line.problem = "invalid", "a section name must start with a letter"
            return line
        after = inner[m.end():].lstrip(_BLANK)
        if not after.startswith("]"):
            line.kind, line.problem = "invalid", "expected ']' after the section name (letters and digits only)"
            return line
        tail = after[1:].lstrip(_BLANK)
        if tail and not tail.startswith("#"):
            what = "a carriage return (CRLF line ending)" if tail.startswith("\r") else repr(tail[:10])
            line.kind, line.problem = "invalid", f"unexpected {what} after ']'"
            return line
        line.kind, line.name, line.section = "section", m.group(0), m.group(0).lower()
        return line
    m = _NAME.match(body)
    if not m:
        line.kind = "invalid"
        line.problem = "a key name must start with a letter"
        if body.startswith("\ufeff"):
            line.problem = "a byte-order mark (BOM) before the first line"
        elif body.startswith("\r"):
            line.problem = "a carriage return (CRLF line ending)"
        return line
    after = body[m.end():].lstrip(_BLANK)
    if not after.startswith("="):
        line.kind = "invalid"
        line.problem = ("expected '=' after the key name (key names are letters and digits only)"
                        if after else "a key without '=' and a value")
        if after.startswith("\r"):
            line.problem = "a carriage return (CRLF line ending)"
        return line
    value, comment, problem = _split_value(after[1:])
    if problem:
        line.kind, line.problem = "invalid", problem
        return line
    line.kind, line.name, line.value, line.comment = "key", m.group(0), value, comment
    if not section:
        line.problem = "a key before any [section]: WSL ignores it"
    elif line.key in BOOLEAN_KEYS and check_bool(value or "") is None:
        line.problem = f"{value!r} is not a boolean WSL accepts (true, false, 1, 0): the value is ignored"
    return line


def parse(data: bytes) -> list[Line]:
    """Every physical line, classified the way WSL reads the bytes as they are (no repairs)."""
    out: list[Line] = []
    section = ""
    for i, chunk in enumerate(re.findall(rb"[^\n]*\n|[^\n]+$", data)):
        text = chunk.rstrip(b"\n").decode("utf-8", "surrogateescape")
        line = _classify(text, section)
        line.no, line.raw = i + 1, chunk
        if line.kind == "section":
            section = line.section
        out.append(line)
    return out


def problems(lines: list[Line]) -> list[Line]:
    """Lines whose value WSL ignores, up to the invalid line it stops at (included)."""
    out = []
    for ln in lines:
        if ln.kind == "invalid" or ln.problem:
            out.append(ln)
        if ln.kind == "invalid":
            break
    return out


def effective(data: bytes) -> dict[str, str]:
    """What WSL takes from the file: the first valid value of each key, up to the first invalid line."""
    out: dict[str, str] = {}
    for ln in parse(data):
        if ln.kind == "invalid":
            break
        if ln.kind != "key" or not ln.section or ln.key in out:
            continue
        if ln.key in BOOLEAN_KEYS:
            b = check_bool(ln.value or "")
            if b is None:
                continue
            out[ln.key] = "true" if b else "false"
        else:
            out[ln.key] = ln.value or ""
    return out


def first_invalid(data: bytes) -> Line | None:
    return next((ln for ln in parse(data) if ln.kind == "invalid"), None)


def repair(data: bytes) -> tuple[bytes, list[str]]:
    """UTF-16 → UTF-8, no BOM, LF line endings; returns (data, what was repaired)."""
    repairs: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16").encode("utf-8")
        repairs.append("the file was UTF-16 with a byte-order mark (as Windows PowerShell writes it), "
                       "which WSL cannot read: rewritten as UTF-8")
    elif len(data) >= 2 and data.count(b"\x00") * 2 >= len(data) - 1 and data[1:2] == b"\x00":
        data = data.decode("utf-16-le", "replace").encode("utf-8")
        repairs.append("the file was UTF-16LE, which WSL cannot read: rewritten as UTF-8")
    if data.startswith(BOM):
        data = data[len(BOM):]
        repairs.append("removed a UTF-8 byte-order mark (BOM), which makes WSL reject the first line")
    if b"\r" in data:
        n = data.count(b"\r\n")
        data = data.replace(b"\r\n", b"\n")
        if n:
            repairs.append(f"converted {n} CRLF line ending(s) to LF (WSL ignores a CRLF wsl.conf)")
        if b"\r" in data:
            data = data.replace(b"\r", b"\n")
            repairs.append("converted stray carriage returns to LF")
    return data, repairs


def _key_line(ln: Line | None, name: str, value: str) -> bytes:
    if ln is None:
        return f"{name}={format_value(value)}\n".encode()
    text = ln.raw.decode("utf-8", "surrogateescape")
    indent = text[: len(text) - len(text.lstrip(_BLANK))]
    comment = f" {ln.comment}" if ln.comment else ""
    return f"{indent}{ln.name}={format_value(value)}{comment}\n".encode("utf-8", "surrogateescape")


def set_keys(data: bytes, wanted: dict[str, object]) -> Edit:
    """Make WSL read each ``section.key`` as the wanted value, editing the file in place.

    The first occurrence of a key is rewritten (its comment and the name's spelling kept), later
    duplicates are removed, a missing key goes at the end of the first ``[section]`` block of its
    section, and a missing section is added (a new ``[boot]`` first in the file, so no invalid line
    can hide it; others at the end). CRLF, BOM and UTF-16 are repaired. Raises WslConfError for a
    value WSL would not accept or an invalid line (WSL stops reading there) that is still there
    after the repairs.
    """
    values = {k.lower(): normalise_value(k, v) for k, v in wanted.items()}
    names = {k.lower(): k.partition(".")[2] for k in wanted}
    fixed, repairs = repair(data)
    bad = first_invalid(fixed)
    if bad is not None:
        raise WslConfError(f"line {bad.no}: {bad.problem}: "
                           f"{bad.raw.decode('utf-8', 'replace').rstrip()!r}; WSL stops reading the file "
                           "there and ignores every setting after it. Fix or remove that line, then run again")
    actions: list[str] = []
    if fixed and not fixed.endswith(b"\n"):
        fixed += b"\n"
    for key, value in values.items():
        section, _, kname = key.partition(".")
        lines = parse(fixed)
        chunks = [ln.raw for ln in lines]
        occ = [ln for ln in lines if ln.kind == "key" and ln.key == key]
        if occ:
            first = occ[0]
            changed = False
            same = (check_bool(first.value or "") == check_bool(value) if key in BOOLEAN_KEYS
                    else first.value == value)
            if not same:
                was = first.value
                chunks[first.no - 1] = _key_line(first, first.name, value)
                why = f" ({first.problem})" if first.problem else ""
                actions.append(f"set {key}={value} at line {first.no} (was {was!r}{why})")
                changed = True
            for dup in occ[1:]:
                chunks[dup.no - 1] = b""
                actions.append(f"removed the duplicate {key} at line {dup.no} (WSL reads only the first)")
                changed = True
            if changed:
                fixed = b"".join(chunks)
            continue
        headers = [ln for ln in lines if ln.kind == "section" and ln.section == section]
        if headers:
            head = headers[0]
            at = head.no  # index after the header
            for ln in lines[head.no:]:
                if ln.kind == "section":
                    break
                if ln.kind == "key":
                    at = ln.no
            chunks.insert(at, _key_line(None, names[key], value))
            fixed = b"".join(chunks)
            actions.append(f"added {key}={value} to [{head.name}] (line {at + 1})")
            continue
        block = f"[{section}]\n{names[key]}={format_value(value)}\n".encode()
        if section == "boot":
            fixed = block + (b"\n" if fixed else b"") + fixed
            actions.append(f"added a [boot] section with {key}={value} at the top of the file")
        else:
            sep = b"\n" if fixed and not fixed.endswith(b"\n\n") else b""
            fixed = fixed + sep + block
            actions.append(f"added a [{section}] section with {key}={value}")
    after = effective(fixed)
    wrong = [k for k, v in values.items() if after.get(k) != v]
    if wrong or first_invalid(fixed):
        raise WslConfError(f"internal check failed: {', '.join(wrong) or 'an invalid line'} would not read back")
    return Edit(fixed, actions, repairs)
