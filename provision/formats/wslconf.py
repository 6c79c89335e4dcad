"""/etc/wsl.conf as WSL's init reads it, and editing it without changing what WSL reads elsewhere.

The rules, from microsoft/WSL ``src/shared/configfile/configfile.cpp`` (``ParseConfigFile``, called
by ``src/linux/init/WslDistributionConfig.cpp`` with ``CFG_SKIP_UNKNOWN_VALUES`` and without
``CFG_SKIP_INVALID_LINES``; init is built against musl and reads the file byte by byte in the C
locale, so only ASCII letters and digits are letters and digits):

- A line is blank, a comment (``#`` after blanks, to the next LF), a ``[section]`` header or a
  ``key = value``. Blanks are space and tab only. A section header is ``[``, a letter, letters and
  digits, ``]`` (nothing else inside: ``[ boot ]`` is invalid), then blanks and an optional comment.
  A key is a letter then letters and digits, blanks, ``=``. Names compare case-insensitively.
- The first invalid line stops the whole parse: nothing after it is read. A UTF-8 byte-order mark
  (or UTF-16) makes line 1 invalid, so WSL ignores the whole file.
- CR ends a value or a header like LF does (CRLF and CR-only files are read), but not a comment:
  a comment runs to the next LF.
- Values: ``"`` anywhere toggles quoting (and is dropped); ``#`` outside quotes starts a comment;
  escapes are ``\\\\ \\" \\b \\n \\t``; backslash-LF continues the value on the next line;
  backslash-CR is dropped; any other escape, or a backslash at the end of the file, is invalid;
  an unclosed quote is invalid; trailing blanks are dropped unless quoted or escaped.
- A key before any section has no section: WSL does not know it and ignores it. The first
  occurrence of a key wins, even when its value is invalid (the default is used then).
- Booleans (``ParseBool``): exactly ``1``, ``0``, ``true``, ``false`` in any case. Integers:
  ``strtol`` base 0 (``0x1f``, ``022``), the whole value, within int. ``automount.cgroups``: v1, v2.
- ``boot.systemd`` takes effect only on WSL2, and only when ``/sbin/init`` is executable.

``read()`` is that reading, record by record with byte offsets; editing is in ``wslconf_edit``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
SP, TAB, LF, CR = 0x20, 0x09, 0x0A, 0x0D
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_ESCAPES = {ord("b"): "\b", ord("n"): "\n", ord("t"): "\t"}


@dataclass(frozen=True)
class KeyType:
    name: str  # canonical spelling, e.g. "boot.protectBinfmt"
    kind: str  # bool | int | string | enum
    choices: tuple[str, ...] = ()


# The keys WSL's init reads from /etc/wsl.conf (WslDistributionConfig.cpp), by lower-case name.
KEYS: dict[str, KeyType] = {k.name.lower(): k for k in (
    KeyType("automount.enabled", "bool"), KeyType("automount.root", "string"),
    KeyType("automount.options", "string"), KeyType("automount.mountFsTab", "bool"),
    KeyType("automount.ldconfig", "bool"), KeyType("automount.cgroups", "enum", ("v1", "v2")),
    KeyType("filesystem.umask", "int"),
    KeyType("interop.appendWindowsPath", "bool"), KeyType("interop.enabled", "bool"),
    KeyType("network.generateHosts", "bool"), KeyType("network.generateResolvConf", "bool"),
    KeyType("network.hostname", "string"),
    KeyType("time.useWindowsTimezone", "bool"),
    KeyType("fileServer.enabled", "bool"), KeyType("fileServer.logFile", "string"),
    KeyType("fileServer.logLevel", "int"), KeyType("fileServer.logTruncate", "bool"),
    KeyType("gpu.enabled", "bool"), KeyType("gpu.appendLibPath", "bool"),
    KeyType("user.default", "string"),
    KeyType("boot.command", "string"), KeyType("boot.systemd", "bool"), KeyType("boot.initTimeout", "int"),
    KeyType("boot.protectBinfmt", "bool"),
    KeyType("general.guiApplications", "bool"),
)}


class WslConfError(ValueError):
    """The file cannot be edited safely, or a value is not one WSL accepts."""


# --------------------------------------------------------------------------- values

def parse_bool(text: str) -> bool | None:
    """WSL's ParseBool: exactly 1, 0, true, false (the words in any case)."""
    if text == "1" or text.lower() == "true":
        return True
    if text == "0" or text.lower() == "false":
        return False
    return None


def parse_int(text: str) -> int | None:
    """strtol(text, &end, 0) over the whole text, within a C int."""
    m = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if not m:
        return None
    digits = m.group(2)
    number = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 8) if digits.startswith("0") \
        else int(digits)
    number = -number if m.group(1) == "-" else number
    return number if -2**31 <= number < 2**31 else None


def typed(key: KeyType, text: str) -> str | None:
    """The value as WSL takes it, in a canonical spelling (booleans true/false, integers in
    decimal); None when WSL rejects it (and uses the default)."""
    text = text.split("\x00", 1)[0]  # WSL hands the value on as a C string
    if key.kind == "bool":
        b = parse_bool(text)
        return None if b is None else "true" if b else "false"
    if key.kind == "int":
        n = parse_int(text)
        return None if n is None else str(n)
    if key.kind == "enum":
        return next((c for c in key.choices if c.lower() == text.lower()), None)
    return text


def lookup(name: str) -> KeyType:
    """The key ``section.key`` in WSL's table; raises WslConfError naming the nearest known key."""
    section, dot, key = name.partition(".")
    if not dot or not _NAME.fullmatch(section) or not _NAME.fullmatch(key):
        raise WslConfError(f"{name!r}: keys are written section.key, each a letter followed by letters "
                           "and digits (e.g. boot.systemd)")
    found = KEYS.get(name.lower())
    if found is None:
        near = difflib.get_close_matches(name.lower(), list(KEYS), n=1, cutoff=0.6)
        known = ", ".join(sorted(k.name for k in KEYS.values()))
        hint = f" (did you mean {KEYS[near[0]].name}?)" if near else f" (known: {known})"
        raise WslConfError(f"{name}: WSL does not read such a key{hint}")
    return found


def normalise_value(name: str, value: object) -> str:
    """The value to write for ``section.key``; raises WslConfError when WSL would not take it."""
    key = lookup(name)
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if key.kind == "bool":
        b = parse_bool(text.strip())
        if b is None:
            raise WslConfError(f"{key.name}: {text!r} is not a boolean WSL accepts (true, false, 1, 0)")
        return "true" if b else "false"
    if key.kind == "int":
        if parse_int(text.strip()) is None:
            raise WslConfError(f"{key.name}: {text!r} is not an integer WSL accepts (decimal, 0x hex or "
                               "0 octal, within a C int)")
        return text.strip()
    if key.kind == "enum":
        choice = typed(key, text.strip())
        if choice is None:
            raise WslConfError(f"{key.name}: {text!r} is not one of {', '.join(key.choices)}")
        return choice
    for ch, why in (("\r", "a carriage return"), ("\x00", "a NUL byte")):
        if ch in text:
            raise WslConfError(f"{key.name}: the value contains {why}, which wsl.conf cannot hold")
    return text


def format_value(value: str) -> str:
    """The value as written in the file: plain when WSL reads it back as it is, else quoted with
    WSL's escapes."""
    plain = value != "" and value == value.strip(" \t") and not re.search(r'["\\#\x00-\x1f]', value)
    if plain:
        return value
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
               .replace("\b", "\\b"))
    return f'"{escaped}"'


# --------------------------------------------------------------------------- reading

@dataclass
class Line:
    """One record of the file as WSL reads it (a key may span lines through continuations)."""

    no: int  # 1-based line number where it starts (LF, CRLF and CR each end a line, as editors show)
    start: int  # byte offsets of the record in the file, terminator(s) included
    end: int
    kind: str  # blank | comment | section | key | invalid
    section: str = ""  # lower-case section in effect ("" before any); a header: its own name
    name: str = ""  # key or section name as written
    value: str | None = None  # a key's value as WSL reads it (bytes as latin-1 characters)
    value_start: int = 0  # byte offsets of the value as written (quotes and escapes included,
    value_end: int = 0  # trailing blanks and comment excluded)
    problem: str = ""  # invalid: why WSL stops here; key: why WSL ignores the value

    @property
    def key(self) -> str:
        """``section.key`` in lower case (key records only; "" for a key before any section)."""
        return f"{self.section}.{self.name.lower()}" if self.kind == "key" and self.section else ""


@dataclass
class Setting:
    key: KeyType
    raw: str  # the value as WSL read it
    value: str | None  # as WSL takes it (canonical), None when it rejected the value
    line: int


@dataclass
class Reading:
    lines: list[Line]  # every record of the file (after a stop too: what WSL would have read)
    stop: Line | None  # the invalid record where WSL stops reading
    settings: dict[str, Setting] = field(default_factory=dict)  # by lower-case key, first wins
    warnings: list[tuple[int, str]] = field(default_factory=list)  # values WSL reads and ignores
    hidden: dict[str, Setting] = field(default_factory=dict)  # settings after the stop (never read)

    def effective(self) -> dict[str, str]:
        """What WSL takes from the file: the accepted value of every key it read."""
        return {k: s.value for k, s in self.settings.items() if s.value is not None}


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == CR and i + 1 < n and data[i + 1] == LF:
            i += 1
        if c in (CR, LF):
            starts.append(i + 1)
        i += 1
    return starts


def _alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _alnum(c: int) -> bool:
    return _alpha(c) or 0x30 <= c <= 0x39


def _show(c: int | None) -> str:
    if c is None:
        return "the end of the file"
    names = {SP: "a blank", TAB: "a tab", CR: "a carriage return", LF: "the end of the line"}
    return names.get(c, repr(chr(c)) if 0x20 < c < 0x7F else f"byte 0x{c:02x}")


class _Scanner:
    """Reads one record at a time, the way ParseConfigFile's state machine does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)
        self.starts = _line_starts(data)

    def peek(self, i: int) -> int | None:
        return self.data[i] if i < self.n else None

    def line_no(self, offset: int) -> int:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    def comment_end(self, i: int) -> int:
        """A comment runs to the next LF (a CR does not end it) or the end of the file."""
        j = self.data.find(b"\n", i)
        return self.n if j < 0 else j + 1

    def eol_end(self, i: int) -> int:
        """After a value or a header ended at ``i`` (LF, CR, CRLF or the end)."""
        c = self.peek(i)
        if c == LF:
            return i + 1
        if c == CR:
            return i + 2 if self.peek(i + 1) == LF else i + 1
        return i

    def invalid(self, start: int, at: int, problem: str, section: str) -> Line:
        end = self.comment_end(at)  # WSL (skipping invalid lines) would go on after the next LF
        return Line(self.line_no(start), start, end, "invalid", section, problem=problem)

    def record(self, start: int, section: str) -> Line:
        i = start
        while self.peek(i) in (SP, TAB):
            i += 1
        c = self.peek(i)
        no = self.line_no(start)
        if c is None or c in (LF, CR):
            return Line(no, start, self.eol_end(i) if c is not None else i, "blank", section)
        if c == ord("#"):
            return Line(no, start, self.comment_end(i), "comment", section)
        if c == ord("["):
            return self.header(start, i + 1, section)
        if not _alpha(c):
            why = ("a byte-order mark (BOM) before line 1, which WSL cannot read"
                   if start == 0 and self.data.startswith((BOM, b"\xff\xfe", b"\xfe\xff"))
                   else f"a line must start with a letter, '[' or '#', not {_show(c)}")
            return self.invalid(start, i, why, section)
        return self.key_value(start, i, section)

    def header(self, start: int, i: int, section: str) -> Line:
        c = self.peek(i)
        if c is None or not _alpha(c):
            why = "blanks inside a section header" if c in (SP, TAB) else \
                f"a section name must start with a letter, not {_show(c)}"
            return self.invalid(start, i, why, section)
        j = i
        while (c := self.peek(j)) is not None and _alnum(c):
            j += 1
        name = self.data[i:j].decode("latin-1")
        if c != ord("]"):
            why = ("blanks inside a section header" if c in (SP, TAB)
                   else f"a section name has letters and digits only, then ']' (found {_show(c)})")
            return self.invalid(start, j, why, section)
        k = j + 1
        while self.peek(k) in (SP, TAB):
            k += 1
        c = self.peek(k)
        if c == ord("#"):
            end = self.comment_end(k)
        elif c is None or c in (LF, CR):
            end = self.eol_end(k)
        else:
            return self.invalid(start, k, f"text after ']' ({_show(c)})", section)
        return Line(self.line_no(start), start, end, "section", name.lower(), name)

    def key_value(self, start: int, i: int, section: str) -> Line:
        j = i
        while (c := self.peek(j)) is not None and _alnum(c):
            j += 1
        name = self.data[i:j].decode("latin-1")
        while self.peek(j) in (SP, TAB):
            j += 1
        if self.peek(j) != ord("="):
            c, after = self.peek(j), self.peek(i + len(name))
            why = (f"a key name has letters and digits only (found {_show(after)})"
                   if after is not None and after not in (LF, CR, SP, TAB)
                   else f"expected '=' after the key name, found {_show(c)}")
            return self.invalid(start, j, why, section)
        j += 1
        while self.peek(j) in (SP, TAB):
            j += 1
        value_start = j
        value: list[str] = []
        trimmed, quoted, last_text = 0, False, j
        while (c := self.peek(j)) is not None and c not in (LF, CR):
            if c == ord('"'):
                quoted = not quoted
            elif c == ord("\\"):
                c2 = self.peek(j + 1)
                if c2 is None:
                    return self.invalid(start, j, "a backslash at the end of the file", section)
                if c2 in (ord("\\"), ord('"')):
                    value.append(chr(c2))
                elif c2 in _ESCAPES:
                    value.append(_ESCAPES[c2])
                elif c2 not in (CR, LF):  # backslash-CR is dropped; backslash-LF continues the value
                    why = f"an escape WSL does not know: '\\{chr(c2)}' (only \\\\ \\\" \\b \\n \\t)"
                    return self.invalid(start, j, why, section)
                j += 1
            elif c == ord("#") and not quoted:
                break
            else:
                value.append(chr(c))
            if c not in (SP, TAB):
                trimmed, last_text = len(value), j + 1
            j += 1
        if quoted:
            return self.invalid(start, j, "a quote is not closed", section)
        end = self.comment_end(j) if self.peek(j) == ord("#") else self.eol_end(j)
        return Line(self.line_no(start), start, end, "key", section, name, "".join(value)[:trimmed],
                    value_start, last_text)


def read(data: bytes) -> Reading:
    """The file as WSL reads it: every record, where it stops, what it takes and ignores."""
    scan = _Scanner(data)
    lines: list[Line] = []
    section, pos = "", 0
    while pos < len(data):
        line = scan.record(pos, section)
        if line.kind == "section":
            section = line.section
        lines.append(line)
        pos = line.end
    reading = Reading(lines, next((ln for ln in lines if ln.kind == "invalid"), None))
    for ln in lines:
        if ln is reading.stop:
            break
        _take(reading.settings, reading.warnings, ln)
    if reading.stop is not None:
        hidden: dict[str, Setting] = {}
        for ln in lines[lines.index(reading.stop) + 1:]:
            _take(hidden, [], ln)
        reading.hidden = {k: v for k, v in hidden.items() if k not in reading.settings}
    return reading


def _take(settings: dict[str, Setting], warnings: list[tuple[int, str]], ln: Line) -> None:
    if ln.kind != "key":
        return
    if not ln.section:
        ln.problem = f"{ln.name}: a key before any [section]: WSL does not know it and ignores it"
        warnings.append((ln.no, ln.problem))
        return
    key = KEYS.get(ln.key)
    if key is None:
        ln.problem = f"{ln.section}.{ln.name}: WSL does not know this key and ignores it"
        warnings.append((ln.no, ln.problem))
        return
    if ln.key in settings:
        first = settings[ln.key]
        ln.problem = f"{key.name} is set again: WSL reads only the first one (line {first.line})"
        warnings.append((ln.no, ln.problem))
        return
    value = typed(key, ln.value or "")
    settings[ln.key] = Setting(key, ln.value or "", value, ln.no)
    if value is None:
        kind = {"bool": "a boolean (true, false, 1, 0)", "int": "an integer",
                "enum": f"one of {', '.join(key.choices)}"}.get(key.kind, "a value")
        ln.problem = f"{key.name}={ln.value!r} is not {kind}: WSL ignores it and uses the default"
        warnings.append((ln.no, ln.problem))


def effective(data: bytes) -> dict[str, str]:
    return read(data).effective()
