"""Editing /etc/wsl.conf so that WSL reads the keys asked for, and every other setting as before.

The file is repaired first where WSL cannot read it (UTF-16, a byte-order mark) and written with
LF line endings, without changing what WSL reads in any line (a backslash before a CR would become
a continuation, a CR inside a comment would end it: such lines are rewritten from what WSL read).
Every edit is read back by WSL's rules (``wslconf.read``) to prove that only the wanted keys
changed; otherwise it is refused, saying why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provision.formats.wslconf import (
    BOM,
    KEYS,
    Line,
    Reading,
    WslConfError,
    format_value,
    lookup,
    normalise_value,
    read,
    typed,
)


@dataclass
class Edit:
    data: bytes  # the new file content
    actions: list[str] = field(default_factory=list)  # what was changed, for the plan
    repairs: list[str] = field(default_factory=list)  # encoding and line-ending repairs


def _lf_comment(text: bytes) -> bytes:
    """A comment's bytes with LF endings: a CR inside it (WSL reads on to the next LF) starts a
    new comment line, so what WSL skipped stays a comment."""
    body = text[:-2] if text.endswith(b"\r\n") else text[:-1] if text.endswith(b"\n") else text
    return body.replace(b"\r", b"\n#") + (b"\n" if text.endswith(b"\n") else b"")


def _lf_eol(text: bytes) -> bytes:
    return text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _lf_record(data: bytes, ln: Line) -> bytes:
    """One record with LF line endings, read by WSL as the record was."""
    raw = data[ln.start:ln.end]
    if b"\r" not in raw:
        return raw
    if ln.kind == "comment":
        return _lf_comment(raw)
    if ln.kind == "section":
        hash_at = raw.find(b"#")
        return _lf_eol(raw) if hash_at < 0 else _lf_eol(raw[:hash_at]) + _lf_comment(raw[hash_at:])
    if ln.kind == "key" and ln.value is not None:
        # the value again, from what WSL read (a backslash-CR in it would become a continuation)
        head = data[ln.start:ln.value_start]  # indent, name, blanks, '=': no CR in them
        rest = data[ln.value_end:ln.end]  # trailing blanks, comment, line end
        hash_at = rest.find(b"#")
        tail = b"\n" if hash_at < 0 else rest[:hash_at] + _lf_comment(rest[hash_at:])
        return head + format_value(ln.value).encode("latin-1") + tail
    return _lf_eol(raw)  # blank; an invalid line is refused after the repair anyway


def repair(data: bytes) -> tuple[bytes, list[str]]:
    """UTF-16 → UTF-8, no BOM, LF line endings, without changing what WSL reads in any line
    (a BOM or UTF-16 makes WSL ignore the file: removing it is the repair). Returns (data, what
    was repaired); raises WslConfError when the line endings cannot be changed safely."""
    repairs: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16").encode("utf-8")
        repairs.append("the file was UTF-16 with a byte-order mark (as Windows PowerShell writes it), "
                       "which WSL cannot read, so it ignored the whole file: rewritten as UTF-8")
    elif len(data) >= 4 and data[1:2] == b"\x00" and data.count(b"\x00") * 2 >= len(data) - 1:
        data = data.decode("utf-16-le", "replace").encode("utf-8")
        repairs.append("the file was UTF-16LE, which WSL cannot read, so it ignored the whole file: "
                       "rewritten as UTF-8")
    if data.startswith(BOM):
        data = data[len(BOM):]
        repairs.append("removed a UTF-8 byte-order mark (BOM): WSL cannot read line 1 with it, so it "
                       "ignored the whole file")
    if b"\r" in data:
        before = read(data)
        crlf = data.count(b"\r\n")
        fixed = b"".join(_lf_record(data, ln) for ln in before.lines)
        after = read(fixed)
        if _meaning(after) != _meaning(before):
            raise WslConfError("the file's CR line endings cannot be changed to LF without changing what "
                               "WSL reads; convert them by hand (e.g. dos2unix) and check the file")
        lone = len(re.findall(rb"\r(?!\n)", data))
        data = fixed
        parts = [f"{crlf} CRLF" if crlf else "", f"{lone} CR" if lone else ""]
        repairs.append(f"converted {' and '.join(p for p in parts if p)} line ending(s) to LF, changing "
                       "no setting (today's WSL reads them; older releases ignored a CRLF wsl.conf)")
    return data, repairs


def _meaning(r: Reading) -> tuple[object, ...]:
    return (tuple(sorted((k, s.value, s.raw) for k, s in r.settings.items())),
            r.stop.problem if r.stop else None)


def _stop_error(data: bytes, stop: Line) -> WslConfError:
    text = data[stop.start:stop.end].decode("utf-8", "replace").rstrip("\r\n")
    return WslConfError(f"line {stop.no}: {stop.problem}: {text!r}; WSL stops reading the file there and "
                        "ignores every setting after it. Fix or remove that line, then run again")


def set_keys(data: bytes, wanted: dict[str, object]) -> Edit:
    """Make WSL read each ``section.key`` as the wanted value, editing the file in place.

    The first occurrence of a key gets the new value (the rest of its line kept), later duplicates
    are removed, a missing key goes after the last key of the first block of its section, and a
    missing [boot] goes before the first section header (keys above it stay outside any section),
    other sections at the end. Raises WslConfError for a value WSL would not accept, or an invalid
    line (WSL stops reading there) left after the repairs.
    """
    values = {lookup(k).name.lower(): normalise_value(k, v) for k, v in wanted.items()}
    fixed, repairs = repair(data)
    start = read(fixed)
    if start.stop is not None:
        raise _stop_error(fixed, start.stop)
    if fixed and not fixed.endswith(b"\n"):
        fixed += b"\n"
    actions: list[str] = []
    for lower, value in values.items():
        key = KEYS[lower]
        section, _, kname = key.name.partition(".")
        reading = read(fixed)
        occ = [ln for ln in reading.lines if ln.key == lower]
        if occ:
            first, chunks = occ[0], []
            now = reading.settings[lower].value
            if now != typed(key, value):
                text = format_value(value).encode()
                if fixed[first.value_end:first.value_end + 1] == b"#":
                    text += b" "  # "key=#..." had an empty value: keep the comment apart
                chunks.append((first.value_start, first.value_end, text))
                why = f" ({first.problem})" if first.problem else ""
                actions.append(f"set {key.name}={value} at line {first.no} (was {first.value!r}{why})")
            for dup in occ[1:]:
                chunks.append((dup.start, dup.end, b""))
                actions.append(f"removed the duplicate {key.name} at line {dup.no} (WSL reads only the first)")
            for begin, end, text in sorted(chunks, reverse=True):
                fixed = fixed[:begin] + text + fixed[end:]
            continue
        line = f"{kname}={format_value(value)}\n".encode()
        headers = [ln for ln in reading.lines if ln.kind == "section" and ln.section == section.lower()]
        if headers:
            head = headers[0]
            at = head.end
            for ln in reading.lines[reading.lines.index(head) + 1:]:
                if ln.kind == "section":
                    break
                if ln.kind == "key":
                    at = ln.end
            fixed = fixed[:at] + line + fixed[at:]
            lineno = fixed[:at].count(b"\n") + 1
            actions.append(f"added {key.name}={value} to [{head.name}] (line {lineno})")
            continue
        first_header = next((ln for ln in reading.lines if ln.kind == "section"), None)
        new = f"[{section}]\n".encode() + line
        if first_header is not None and section == "boot":  # first, like WSL's own docs show it
            fixed = fixed[:first_header.start] + new + b"\n" + fixed[first_header.start:]
            actions.append(f"added a [{section}] section with {key.name}={value} before [{first_header.name}]")
        else:
            sep = b"\n" if fixed and not fixed.endswith(b"\n\n") else b""
            fixed = fixed + sep + new
            actions.append(f"added a [{section}] section with {key.name}={value}")
    _check(start, read(fixed), values)
    return Edit(fixed, actions, repairs)


def _check(before: Reading, after: Reading, values: dict[str, str]) -> None:
    """The edit changed what WSL reads for the wanted keys only."""
    if after.stop is not None:
        raise WslConfError(f"internal check failed: the edit made line {after.stop.no} invalid")
    for lower, value in values.items():
        got = after.settings.get(lower)
        if got is None or got.value != typed(KEYS[lower], value):
            raise WslConfError(f"internal check failed: {KEYS[lower].name} would not read back as {value}")
    for lower, s in before.settings.items():
        if lower not in values and (after.settings.get(lower) is None or after.settings[lower].raw != s.raw):
            raise WslConfError(f"internal check failed: the edit would change {s.key.name}")
    extra = set(after.settings) - set(before.settings) - set(values)
    if extra:
        raise WslConfError(f"internal check failed: the edit would add {', '.join(sorted(extra))}")
