"""/etc/environment as pam_env reads it, and editing it so that pam_env reads only our keys changed.

The rules, from linux-pam ``modules/pam_env/pam_env.c`` (1.5.x, Debian 12 and Ubuntu 24.04:
``_assemble_line`` and ``_parse_env_file``; 1.6/1.7, Debian 13: lines read by
``libpam_internal/pam_line.c``), checked against the real module by the test suite:

- 1.5 reads lines with ``fgets`` into an 8 KiB buffer: a line of 8192 bytes or more (newline
  included), or a NUL byte, stops the reading: that line and every line after it are ignored
  (a NUL in a last line without a newline only cuts that line). 1.7 reads with ``getline``: no
  length limit, and a NUL cuts only its line.
- A line whose last character other than space, tab and newline is ``\\`` continues onto the next
  line (``\\r`` is not a blank: a backslash before CRLF is no continuation). 1.5 skips blank and
  comment lines in between and keeps the leading blanks of the continued line; 1.7 ends the
  continuation at a blank or comment line and strips the continued line's leading blanks. A
  continuation still open at the end of the file drops that logical line.
- ``#`` as the first non-blank makes a comment; elsewhere ``#`` ends the line (and no continuation
  is looked for). Leading space, tab and newline are skipped; exactly ``export `` is stripped.
- The key is what comes before ``=``, and it must be ``[A-Za-z0-9_]+`` (blanks around ``=``, a BOM,
  anything else: the line is ignored). ``KEY`` alone unsets KEY (if it is set).
- The value is everything after ``=`` up to the newline or ``#``, trailing blanks and a CR
  included. If it starts with ``"`` or ``'``, that quote is removed, and so is any quote that is
  the very last character; nothing else (no escapes, no ``$`` expansion).
- Lines apply in order: the last one wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARKER = b"# managed by provision"
BUF_SIZE = 8192  # pam_env 1.5's line buffer
_KEY = re.compile(rb"[A-Za-z0-9_]+")
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BLANKS = b" \t\n"


@dataclass
class Entry:
    """One logical line: one physical line, or several joined by trailing backslashes."""

    start: int  # byte offsets of its physical lines in the file (blank and comment lines that
    end: int  # pam_env 1.5 skipped inside a continuation included)
    kind: str  # blank | comment | assign | unset | ignored | dropped
    line_no: int = 0  # 1-based line number of its first physical line
    lines: int = 1  # physical lines it spans
    key: str | None = None
    value: str | None = None  # as pam_env sets it (bytes as latin-1 characters)
    problem: str = ""  # ignored/dropped: why

    @property
    def continued(self) -> bool:
        return self.lines > 1


@dataclass
class Reading:
    entries: list[Entry]  # up to where pam_env stops
    env: dict[str, str]  # what a session gets (from this file alone)
    stop: str = ""  # why pam_env stops reading, "" when it reads to the end
    stop_line: int = 0  # the line it stops at
    stop_offset: int = -1  # byte offset of that line (-1: none)


def _physical(data: bytes, pos: int, cap: int) -> tuple[bytes, bool]:
    """fgets(buffer, cap + 1): up to ``cap`` bytes or through a LF. Returns (bytes, EOF was hit)."""
    j = data.find(b"\n", pos, pos + cap)
    chunk = data[pos:j + 1] if j >= 0 else data[pos:pos + cap]
    hit_eof = j < 0 and len(chunk) < cap
    return chunk, hit_eof


def _line_no(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read(data: bytes) -> Reading:
    """The file as pam_env 1.5 reads it."""
    entries: list[Entry] = []
    env: dict[str, str] = {}
    pos, n = 0, len(data)
    while True:
        start, buf, used, lines, continuing = pos, b"", 0, 0, False
        while True:  # _assemble_line
            if used >= BUF_SIZE:
                return _stopped(data, entries, env, start, "a continued line longer than 8 KiB")
            if pos >= n:
                if used:
                    entries.append(Entry(start, n, "dropped", _line_no(data, start), lines or 1,
                                         problem="a continuation (trailing backslash) runs to the end of "
                                                 "the file: pam_env drops this line"))
                return Reading(entries, env)
            chunk, hit_eof = _physical(data, pos, BUF_SIZE - used - 1)
            text = chunk.split(b"\x00", 1)[0]
            if not text:
                return _stopped(data, entries, env, pos, "a NUL byte")
            if not text.endswith(b"\n") and not hit_eof:
                why = "a NUL byte" if b"\x00" in chunk else "a line of 8192 bytes or more"
                return _stopped(data, entries, env, pos, why)
            pos += len(chunk)
            lines += 1
            ws = len(text) - len(text.lstrip(_BLANKS))
            body = text[ws:]
            if not body or body.startswith(b"#"):
                if not continuing:  # a blank or comment line of its own
                    kind = "blank" if not body else "comment"
                    entries.append(Entry(pos - len(chunk), pos, kind, _line_no(data, pos - len(chunk))))
                    start, lines = pos, 0
                continue  # inside a continuation, 1.5 skips it and joins the next line
            used += ws
            buf += text[:ws]
            if b"#" in body:
                buf += body[:body.index(b"#")]
                break
            stripped = body.rstrip(_BLANKS)
            if stripped.endswith(b"\\"):
                buf += stripped[:-1]
                used += len(stripped) - 1
                continuing = True
                continue
            buf += body
            used += len(body)
            break
        entry = _entry(buf, start, pos, _line_no(data, start), lines, env)
        entries.append(entry)


def _stopped(data: bytes, entries: list[Entry], env: dict[str, str], offset: int, why: str) -> Reading:
    return Reading(entries, env, stop=why, stop_line=_line_no(data, offset), stop_offset=offset)


def _entry(line: bytes, start: int, end: int, line_no: int, lines: int, env: dict[str, str]) -> Entry:
    """One assembled line, as _parse_env_file applies it to ``env``."""
    e = Entry(start, end, "ignored", line_no, lines)
    key = line.lstrip(_BLANKS)
    if key.startswith(b"export "):
        key = key[7:]
    key = re.split(rb"[\n#\x00]", key, maxsplit=1)[0]
    name, eq, value = key.partition(b"=")
    if not name:
        e.problem = "no variable name before '='" if eq else "an empty line"
        return e
    if not _KEY.fullmatch(name):
        e.problem = (f"{name.decode('latin-1')!r} is not a name pam_env accepts (letters, digits, '_'; "
                     "no blanks around '=')")
        return e
    e.key = name.decode("latin-1")
    if not eq:
        e.kind = "unset"
        env.pop(e.key, None)
        return e
    if value[:1] in (b'"', b"'"):
        value = value[1:]
        if value[-1:] in (b'"', b"'"):
            value = value[:-1]
    e.kind, e.value = "assign", value.decode("latin-1")
    env[e.key] = e.value
    return e


def effective(data: bytes) -> dict[str, str]:
    """The variables a PAM session gets from this file (pam_env 1.5)."""
    return read(data).env


# --------------------------------------------------------------------------- pam_env 1.7

def effective17(data: bytes) -> dict[str, str]:
    """The variables pam_env 1.7 (Debian 13) gives a session from this file."""
    env: dict[str, str] = {}
    pending: bytes | None = None
    for raw in re.findall(rb"[^\n]*\n|[^\n]+$", data):
        line = raw
        end = len(line)
        j = end
        while j > 0 and line[j - 1:j] in (b" ", b"\t", b"\n"):
            j -= 1
        cont = j > 0 and line[j - 1:j] == b"\\"
        if cont:
            line, end = line[:j - 1], j - 1
        body = line.split(b"\x00", 1)[0]
        eol = not cont or b"#" in body
        body = body.lstrip(b" \t")
        body = body.split(b"#", 1)[0]
        if eol:
            if pending is not None or body[:1] not in (b"", b"\n"):
                pending = (pending or b"") + body
            if pending:
                _entry(pending, 0, 0, 0, 1, env)
            pending = None
        else:
            pending = (pending or b"") + body
    return env


# --------------------------------------------------------------------------- values

def check_key(key: str) -> str | None:
    if not _SHELL_NAME.fullmatch(key):
        return (f"invalid variable name {key!r}: use letters, digits and '_', not starting with a digit "
                "(pam_env and a shell sourcing the file both accept that)")
    return None


def check_value(key: str, value: str) -> str | None:
    """Why ``KEY="value"`` would not give a session exactly ``value`` (pam_env 1.5 and 1.7), or why
    a shell sourcing the file (``set -a; . /etc/environment``) would read it differently; None
    when it is safe."""
    for ch, why in (("\x00", "a NUL byte (pam_env stops reading the file there)"),
                    ("\n", "a newline (pam_env ends the value there)"),
                    ("\r", "a carriage return (pam_env keeps it, a shell does not)"),
                    ("#", "a '#' (pam_env ends the value there)")):
        if ch in value:
            return f"value of {key} contains {why}"
    for ch, why in (("$", "a '$' (a shell sourcing the file would expand it)"),
                    ("`", "a backtick (a shell sourcing the file would run a command)"),
                    ("\\", "a backslash (a shell would read an escape)"),
                    ('"', "a double quote (it ends the quoted value for a shell)")):
        if ch in value:
            return f"value of {key} contains {why}"
    if len(format_line(key, value)) >= BUF_SIZE:
        return (f"value of {key} is too long: the line would be {len(format_line(key, value))} bytes, and "
                f"pam_env 1.5 stops reading the file at a line of {BUF_SIZE} bytes or more")
    return None


def format_line(key: str, value: str) -> bytes:
    return f'{key}="{value}"\n'.encode()


# --------------------------------------------------------------------------- editing

def marked(data: bytes, entries: list[Entry], i: int) -> bool:
    """Whether entry i was written by this tool (the marker comment right above it)."""
    return i > 0 and entries[i - 1].kind == "comment" and \
        data[entries[i - 1].start:entries[i - 1].end].rstrip(b"\n") == MARKER


def _block(data: bytes, at: int, key: str, value: str) -> tuple[bytes, int]:
    """Our lines to insert at ``at``: the marker and the key, ending where the file's line did."""
    line = MARKER + b"\n" + format_line(key, value)
    if at == len(data) and data and not data.endswith(b"\n"):
        return b"\n" + line[:-1], at  # keep the file's missing final newline: undone exactly
    return line, at


def _remove_block(data: bytes, marker: Entry, entry: Entry) -> bytes:
    start, end = marker.start, entry.end
    if end == len(data) and not data.endswith(b"\n") and start > 0 and data[start - 1:start] == b"\n":
        start -= 1  # the block added a newline before itself (see _block)
    return data[:start] + data[end:]


def set_keys(data: bytes, wanted: dict[str, str]) -> tuple[bytes, list[str]]:
    """Make pam_env give each key its wanted value; returns (new data, actions).

    Our line of a key (``# managed by provision`` above it) is changed in place; otherwise our
    lines go right after the line pam_env applies now (a line we did not write is never changed,
    so removing ours brings the file back as it was), or at the end of the file (above a dangling
    continuation, or above the line where pam_env stops reading). Lines we wrote earlier that no
    longer apply are removed. Raises ValueError when that is not safe.
    """
    actions: list[str] = []
    for key, value in wanted.items():
        problem = check_key(key) or check_value(key, value)
        if problem:
            raise ValueError(problem)
        reading = read(data)
        before17 = effective17(data)
        entries = reading.entries
        occ = [i for i, e in enumerate(entries) if e.key == key and e.kind in ("assign", "unset")]
        last = occ[-1] if occ else None
        if last is not None and entries[last].continued:
            e = entries[last]
            raise ValueError(f"line {e.line_no}: {key} continues over {e.lines} lines (trailing backslash), "
                             "which pam_env 1.5 and 1.7 join differently; edit it by hand")
        ours = [i for i in occ if marked(data, entries, i)]
        edit: tuple[int, int, bytes] | None
        if last is not None and entries[last].kind == "assign" and entries[last].value == value:
            stale, edit = [i for i in ours if i != last], None  # already so: only older lines of ours go
        elif last is not None and last in ours:  # our line applies now: change it in place
            stale = ours[:-1]
            e = entries[last]
            text = format_line(key, value)
            if e.end == len(data) and not data.endswith(b"\n"):
                text = text[:-1]
            edit = (e.start, e.end, text)
            old = "unset" if e.kind == "unset" else repr(e.value)
            actions.append(f"set {key} (was {old}) at line {e.line_no}")
        else:
            stale = ours
            if last is not None:
                at = entries[last].end
                was = f" (was {entries[last].value!r})" if entries[last].kind == "assign" else " (was unset)"
                where = f"{was} after line {entries[last].line_no}, which sets it now"
            elif entries and entries[-1].kind == "dropped":
                at = entries[-1].start
                where = f" above line {entries[-1].line_no} (a continuation that runs to the end of the file)"
            elif reading.stop:
                at = reading.stop_offset
                where = f" above line {reading.stop_line}, where pam_env stops reading ({reading.stop})"
            else:
                at, where = len(data), ""
                last_line = data[data.rfind(b"\n") + 1:]
                if last_line and b"\x00" in last_line:  # read only because no newline follows it
                    at, where = len(data) - len(last_line), " above the last line (it has a NUL byte)"
            text, at = _block(data, at, key, value)
            edit = (at, at, text)
            actions.append(f"added {key}{where}")
        # our older lines for the key (all above the edit point), then the edit itself
        spans = [(entries[i - 1].start, entries[i].end, entries[i].line_no) for i in stale]
        if edit is not None:
            data = data[:edit[0]] + edit[2] + data[edit[1]:]
        for start, end, line_no in sorted(spans, reverse=True):
            data = data[:start] + data[end:]
            actions.append(f"removed an older managed {key} line (line {line_no})")
        # the editor's own proof, for pam_env 1.5 and 1.7: this key is set, nothing else changed
        if read(data).env != {**reading.env, key: value}:
            raise ValueError(f"internal check failed: the edit of {key} would change other variables")
        if effective17(data) != {**before17, key: value}:
            raise ValueError(f"setting {key} here would change what pam_env 1.7 (Debian 13) reads from the "
                             "file's other lines; fix the file by hand")
    return data, actions


def unset_keys(data: bytes, expected: dict[str, str | None]) -> tuple[bytes, list[str], list[str]]:
    """Remove the lines this tool wrote for each key (only while they hold the expected value,
    when given). Returns (new data, actions, notes); lines the tool did not write are only noted."""
    actions: list[str] = []
    notes: list[str] = []
    for key, value in expected.items():
        entries = read(data).entries
        remove: list[int] = []
        for i, e in enumerate(entries):
            if e.key != key or e.kind != "assign":
                continue
            if not marked(data, entries, i):
                notes.append(f"{key} at line {e.line_no} was not written by provision: left alone")
            elif value is not None and e.value != value:
                notes.append(f"{key} at line {e.line_no} now points to {e.value!r}, not {value!r}: left alone")
            else:
                remove.append(i)
        for i in reversed(remove):
            actions.insert(0, f"removed {key} (line {entries[i].line_no})")
            data = _remove_block(data, entries[i - 1], entries[i])
    return data, actions, notes


@dataclass
class Diagnosis:
    """What pam_env makes of a file beyond its values: where it stops, lines it ignores or drops,
    and where pam_env 1.7 reads it differently."""

    stop: str = ""
    stop_line: int = 0
    ignored: list[tuple[int, str]] = field(default_factory=list)
    differs17: list[str] = field(default_factory=list)


def diagnose(data: bytes) -> Diagnosis:
    r = read(data)
    d = Diagnosis(r.stop, r.stop_line,
                  [(e.line_no, e.problem) for e in r.entries if e.kind in ("ignored", "dropped") and e.problem])
    new = effective17(data)
    for key in sorted(set(r.env) | set(new)):
        if r.env.get(key) != new.get(key):
            d.differs17.append(f"{key}: {r.env.get(key)!r} (pam_env 1.5) vs {new.get(key)!r} (1.7)")
    return d
