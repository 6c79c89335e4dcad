"""%UserProfile%\\.wslconfig as WSL's Windows service reads it, and editing a key so that WSL reads
the new value and every other byte of the file stays as it was.

The rules, from microsoft/WSL (facts, not code):

- ``src/windows/common/WslCoreConfig.cpp`` (``Config::ParseConfigFile``) opens the file with
  ``_wfopen(path, L"rt,ccs=UTF-8")``: the C runtime takes a UTF-8 or a UTF-16 LE byte-order mark
  as the encoding, reads UTF-8 without one, and in text mode CRLF reaches the parser as LF. A
  UTF-16 BE file (or UTF-16 without a BOM) is read as UTF-8: every line is invalid, nothing is read.
  It parses with ``CFG_SKIP_INVALID_LINES | CFG_SKIP_UNKNOWN_VALUES``: an invalid line is skipped
  (to the next LF) and parsing goes on — unlike /etc/wsl.conf, where the first one stops it.
- ``src/shared/configfile/configfile.cpp`` (``ParseConfigFile``), the same parser as wsl.conf's:
  blanks are space and tab; ``#`` after blanks starts a comment to the next LF; ``[name]`` is a
  letter, then letters and digits, ``]``, blanks, an optional comment; a key is a letter, then
  letters and digits, blanks, ``=``; names compare case-insensitively (``strcasecmp``) as
  ``section.key``. Values: ``"`` toggles quoting; ``#`` outside quotes ends the value; escapes
  ``\\\\ \\" \\b \\n \\t`` and backslash-LF (a continuation); any other escape or an unclosed
  quote makes the line invalid; trailing blanks are dropped. Each character of a value is kept
  as its low byte only (``static_cast<char>(ch)``), then string values are read as UTF-8: a
  non-ASCII path is not the one written.
- An invalid ``[...]`` line keeps the previous section's *length*: the key buffer holds the part
  of the bad name that was read, cut or NUL-padded to that length (``key.resize(sectionLength)``),
  so ``[wsl2 ]`` after ``[wsl2]`` still reads keys as wsl2, and ``[ab c]`` after ``[wsl2]`` reads
  them as ``ab`` (unknown). A line that is invalid at the first character after ``[`` keeps the
  previous key buffer.
- The first occurrence of a key wins (``ConfigKey::Parse``), even when its value is invalid (the
  default stays); keys that moved from ``[experimental]`` to ``[wsl2]`` (networkingMode,
  dnsTunneling, firewall, autoProxy) are one key under both names, so whichever comes first wins.
- Values (``ConfigKey::ParseImpl``): booleans ``1 0 true false`` (words in any case); integers
  ``strtol`` base 0 over the whole value within an int; sizes (``ParseMemorySize`` in
  ``src/shared/inc/stringshared.h``) decimal digits then nothing (bytes) or exactly ``B``, ``K``,
  ``KB``, ``M``, ``MB``, ``G``, ``GB``, ``T``, ``TB`` (case-sensitive, powers of 1024);
  networkingMode ``None Nat Bridged Mirrored VirtioProxy`` and autoMemoryReclaim ``Gradual
  DropCache Disabled`` in any case; ignoredPorts a comma list of 1-65535; dnsTunnelingIpAddress
  an IPv4 address; macAddress 17 characters with ``-`` or ``:`` (an invalid one is an error that
  stops WSL, not a warning).
- ``Config::Initialize``: memory is raised to at least 256 MB (and cut to the machine's).

``read()`` returns every record with its offsets in the decoded text; ``set_value()`` edits.
"""

from __future__ import annotations

import bisect
import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum

from provision.formats import wslconf


class Kind(StrEnum):
    BOOL = "bool"
    INT = "int"
    SIZE = "size"
    STRING = "string"
    PATH = "path"
    ENUM = "enum"
    PORTS = "ports"
    IPV4 = "ipv4"
    MAC = "mac"


@dataclass(frozen=True)
class Key:
    names: tuple[str, ...]  # section.key; the first is today's, others old spellings WSL still reads
    kind: Kind
    choices: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.names[0]


def _k(kind: Kind, *names: str, choices: tuple[str, ...] = ()) -> Key:
    return Key(names, kind, choices)


NETWORKING_MODES = ("None", "Nat", "Bridged", "Mirrored", "VirtioProxy")
MEMORY_RECLAIM_MODES = ("Gradual", "DropCache", "Disabled")

# WslCoreConfig.cpp's key table (ConfigSetting names from WslCoreConfig.h).
KEYS: tuple[Key, ...] = (
    _k(Kind.PATH, "wsl2.kernel"), _k(Kind.STRING, "wsl2.kernelCommandLine"), _k(Kind.PATH, "wsl2.kernelModules"),
    _k(Kind.SIZE, "wsl2.memory"), _k(Kind.INT, "wsl2.processors"), _k(Kind.BOOL, "wsl2.debugConsole"),
    _k(Kind.BOOL, "wsl2.earlyBootLogging"), _k(Kind.SIZE, "wsl2.swap"), _k(Kind.PATH, "wsl2.swapFile"),
    _k(Kind.BOOL, "wsl2.localhostForwarding"), _k(Kind.BOOL, "wsl2.nestedVirtualization"),
    _k(Kind.BOOL, "wsl2.virtio9p"), _k(Kind.BOOL, "wsl2.virtiofs"), _k(Kind.INT, "wsl2.kernelDebugPort"),
    _k(Kind.BOOL, "wsl2.gpuSupport"), _k(Kind.BOOL, "wsl2.guiApplications"), _k(Kind.PATH, "wsl2.systemDistro"),
    _k(Kind.BOOL, "wsl2.telemetry"), _k(Kind.INT, "wsl2.vmIdleTimeout"), _k(Kind.PATH, "wsl2.debugConsoleLogFile"),
    _k(Kind.INT, "wsl2.kernelBootTimeout"), _k(Kind.INT, "wsl2.distributionStartTimeout"),
    _k(Kind.BOOL, "wsl2.virtio"), _k(Kind.BOOL, "wsl2.hostFileSystemAccess"), _k(Kind.INT, "wsl2.mountDeviceTimeout"),
    _k(Kind.BOOL, "wsl2.hardwarePerformanceCounters"), _k(Kind.STRING, "wsl2.vmSwitch"),
    _k(Kind.MAC, "wsl2.macAddress"), _k(Kind.BOOL, "wsl2.dhcp"), _k(Kind.INT, "wsl2.dhcpTimeout"),
    _k(Kind.BOOL, "wsl2.ipv6"), _k(Kind.BOOL, "wsl2.dnsProxy"), _k(Kind.BOOL, "wsl2.safeMode"),
    _k(Kind.SIZE, "wsl2.defaultVhdSize"), _k(Kind.PATH, "wsl2.crashDumpFolder"), _k(Kind.INT, "wsl2.maxCrashDumpCount"),
    _k(Kind.PATH, "general.distributionInstallPath"), _k(Kind.INT, "general.instanceIdleTimeout"),
    _k(Kind.BOOL, "wsl2.loadDefaultKernelModules"), _k(Kind.STRING, "wsl2.loadKernelModules"),
    # previously experimental: the old [experimental] name is kept for compatibility
    _k(Kind.ENUM, "wsl2.networkingMode", "experimental.networkingMode", choices=NETWORKING_MODES),
    _k(Kind.BOOL, "wsl2.dnsTunneling", "experimental.dnsTunneling"),
    _k(Kind.BOOL, "wsl2.firewall", "experimental.firewall"),
    _k(Kind.BOOL, "wsl2.autoProxy", "experimental.autoProxy"),
    # experimental features
    _k(Kind.ENUM, "experimental.autoMemoryReclaim", choices=MEMORY_RECLAIM_MODES),
    _k(Kind.BOOL, "experimental.sparseVhd"), _k(Kind.BOOL, "experimental.bestEffortDnsParsing"),
    _k(Kind.IPV4, "experimental.dnsTunnelingIpAddress"), _k(Kind.INT, "experimental.initialAutoProxyTimeout"),
    _k(Kind.PORTS, "experimental.ignoredPorts"), _k(Kind.BOOL, "experimental.hostAddressLoopback"),
    _k(Kind.BOOL, "experimental.setVersionDebug"),
)
BY_NAME: dict[str, Key] = {n.lower(): k for k in KEYS for n in k.names}
_BY_KEY_NAME: dict[str, list[Key]] = {}
for _key in KEYS:
    for _n in _key.names:
        _BY_KEY_NAME.setdefault(_n.split(".", 1)[1].lower(), []).append(_key)

MIN_MEMORY = 256 << 20
_UNITS = {"B": 1, "K": 1 << 10, "KB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "G": 1 << 30, "GB": 1 << 30,
          "T": 1 << 40, "TB": 1 << 40}


class WslConfigError(ValueError):
    """The file cannot be edited safely, or a value is not one WSL takes."""


class Severity(StrEnum):
    PROBLEM = "problem"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True)
class Note:
    line: int
    severity: Severity
    text: str


# --------------------------------------------------------------------------- bytes → text

@dataclass(frozen=True)
class Decoded:
    text: str  # as the C runtime hands it on, CR LF still in it (the scanner reads CRLF as LF)
    codec: str  # utf-8 | utf-16-le
    bom: bytes
    readable: bool  # False: WSL reads nothing of it (UTF-16 BE, UTF-16 without a BOM)
    problem: str = ""


def decode(data: bytes) -> Decoded:
    """The file as ``_wfopen(..., "rt,ccs=UTF-8")`` reads it."""
    if data.startswith(b"\xef\xbb\xbf"):
        return Decoded(data[3:].decode("utf-8", "surrogateescape"), "utf-8", data[:3], True)
    if data.startswith(b"\xff\xfe"):
        try:
            return Decoded(data[2:].decode("utf-16-le"), "utf-16-le", data[:2], True)
        except UnicodeDecodeError:
            return Decoded("", "utf-16-le", data[:2], False, "it is not valid UTF-16")
    if data.startswith(b"\xfe\xff"):
        return Decoded("", "utf-16-be", data[:2], False, "it is UTF-16 big-endian, which WSL reads as UTF-8: "
                       "no line is valid, WSL reads nothing of it")
    if b"\x00" in data[:200] and len(data) >= 2:
        return Decoded("", "utf-16", b"", False, "it has NUL bytes (UTF-16 without a byte-order mark?), which "
                       "WSL reads as UTF-8: WSL reads nothing of it")
    return Decoded(data.decode("utf-8", "surrogateescape"), "utf-8", b"", True)


def encode(d: Decoded, text: str) -> bytes:
    return d.bom + text.encode(d.codec, "surrogateescape" if d.codec == "utf-8" else "strict")


# --------------------------------------------------------------------------- values

def parse_size(text: str) -> int | None:
    """ParseMemorySize: strtoull base 10, then nothing or a unit (case-sensitive)."""
    m = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)", text)
    assert m is not None
    digits = m.group(2)
    if not digits:
        return None
    value = int(digits)
    if m.group(1) == "-":
        value = (-value) % (1 << 64)
    value = min(value, (1 << 64) - 1)
    if value == 0 and not (text[:1] == "0" and m.end() == 1):
        return None
    rest = text[m.end():]
    if rest == "":
        return value
    factor = _UNITS.get(rest)
    return None if factor is None else (value * factor) % (1 << 64)


def _mac(text: str) -> bool:
    if len(text) != 17 or text[2] not in "-:":
        return False
    sep = text[2]
    return all(re.fullmatch(r"[0-9A-Fa-f]{2}", text[i * 3:i * 3 + 2]) and (i == 5 or text[i * 3 + 2] == sep)
               for i in range(6))


def _port(text: str) -> bool:
    m = re.match(r"\s*[+-]?[0-9]+", text)  # std::stoi: leading blanks, a sign, digits, then anything
    return m is not None and 0 < int(m.group().strip()) <= 65535


def check_value(key: Key, value: str) -> tuple[Severity, str] | None:
    """Why WSL does not take ``value`` for ``key`` as meant (None: it does)."""
    if key.kind == Kind.BOOL and wslconf.parse_bool(value) is None:
        return Severity.WARN, f"{value!r} is not a boolean WSL accepts (true, false, 1, 0): WSL keeps the default"
    if key.kind == Kind.INT and (value == "" or wslconf.parse_int(value) is None):
        return Severity.WARN, f"{value!r} is not an integer WSL accepts: WSL keeps the default"
    if key.kind == Kind.SIZE:
        size = parse_size(value)
        if size is None:
            return Severity.WARN, (f"{value!r} is not a size WSL accepts (digits, then B, KB, MB, GB or TB, "
                                   "upper case, no blank, no fraction; e.g. 8GB): WSL keeps the default")
        if key.name == "wsl2.memory" and 0 < size < MIN_MEMORY:
            return Severity.WARN, (f"{value!r} is {size} bytes (no unit means bytes): WSL raises it to 256MB; "
                                   f"did you mean {value}MB or {value}GB?")
    if key.kind == Kind.ENUM and value.lower() not in (c.lower() for c in key.choices):
        return Severity.WARN, f"{value!r} is not one of {', '.join(key.choices)}: WSL keeps the default"
    if key.kind == Kind.PORTS:
        bad = [p for p in value.split(",") if not _port(p)]
        if bad:
            return Severity.WARN, f"{', '.join(map(repr, bad))}: not a port (1-65535), WSL skips it"
    if key.kind == Kind.IPV4:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return Severity.WARN, f"{value!r} is not an IPv4 address: WSL turns DNS tunneling off"
    if key.kind == Kind.MAC and not _mac(value):
        return Severity.PROBLEM, (f"{value!r} is not a MAC address (aa:bb:cc:dd:ee:ff): WSL fails with an "
                                  "error instead of starting")
    if key.kind in (Kind.STRING, Kind.PATH) and any(ord(c) > 0x7F for c in value):
        return Severity.WARN, ("non-ASCII characters: WSL keeps only the low byte of each one, so the value "
                               "it uses is not the one written")
    return None


# --------------------------------------------------------------------------- reading

@dataclass
class Record:
    line: int  # 1-based line where it starts
    start: int  # offsets in the decoded text, the line ending(s) included
    end: int
    kind: str  # blank | comment | section | key | invalid
    name: str = ""  # section.key as WSL compares it (a key); a header: its name
    value: str = ""  # a key's value as WSL reads it
    value_start: int = 0
    value_end: int = 0
    problem: str = ""


@dataclass
class Setting:
    key: Key
    spelled: str  # the name as written, section.key
    value: str
    line: int
    record: Record


@dataclass
class Reading:
    decoded: Decoded
    records: list[Record] = field(default_factory=list)
    settings: dict[str, Setting] = field(default_factory=dict)  # by the key's current name, lower case
    notes: list[Note] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        s = self.settings.get(name.lower())
        return None if s is None else s.value


def _alpha(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


class _Scan:
    """ParseConfigFile's reading, one character at a time (CRLF read as LF, as in text mode)."""

    def __init__(self, text: str) -> None:
        self.t, self.i, self.n = text, 0, len(text)
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def get(self) -> str:
        """The next character ('' at the end)."""
        if self.i >= self.n:
            return ""
        if self.t.startswith("\r\n", self.i):
            self.i += 2
            return "\n"
        c = self.t[self.i]
        self.i += 1
        return c

    def peek(self) -> str:
        save = self.i
        c = self.get()
        self.i = save
        return c

    def to_lf(self) -> None:
        """Skip to just after the next LF (or the end)."""
        while self.get() not in ("", "\n"):
            pass

    def line_of(self, offset: int) -> int:
        """1-based line of ``offset`` as an editor shows it (LF, CRLF and CR each end a line)."""
        return bisect.bisect_right(self.starts, offset)


def read(data: bytes) -> Reading:
    """The file as WSL's service reads it: every record, the settings it takes, notes on the rest."""
    d = decode(data)
    reading = Reading(d)
    if not d.readable:
        reading.notes.append(Note(1, Severity.PROBLEM, d.problem))
        return reading
    s = _Scan(d.text)
    key_buf, section_len = "", 0
    while s.i < s.n:
        start = s.i
        line = s.line_of(start)
        while s.peek() in (" ", "\t"):
            s.get()
        c = s.get()
        if c in ("", "\n", "\r"):
            reading.records.append(Record(line, start, s.i, "blank"))
            continue
        if c == "#":
            s.to_lf()
            reading.records.append(Record(line, start, s.i, "comment"))
            continue
        if c == "[":
            rec, key_buf, section_len = _section(s, start, line, key_buf, section_len)
            reading.records.append(rec)
            continue
        if not _alpha(c):
            s.to_lf()
            reading.records.append(Record(line, start, s.i, "invalid", problem=f"a line must start with a "
                                          f"letter, '[' or '#', not {c!r}: WSL skips it"))
            continue
        rec, key_buf = _key_value(s, start, line, c, key_buf, section_len)
        reading.records.append(rec)
    for rec in reading.records:
        _take(reading, rec)
    return reading


def _section(s: _Scan, start: int, line: int, key_buf: str, section_len: int) -> tuple[Record, str, int]:
    c = s.get()
    if not _alpha(c):
        if c != "\n":
            s.to_lf()
        return Record(line, start, s.i, "invalid", problem="a section name must start with a letter: WSL "
                      "skips the line (and reads the keys after it in the section before)"), key_buf, section_len
    name = c
    while _alnum(c := s.get()):
        name += c
    if c != "]":
        if c != "\n":
            s.to_lf()
        return Record(line, start, s.i, "invalid", name, problem=f"'[{name}' is not a section header (letters "
                      "and digits, then ']'): WSL skips it"), name, section_len
    while (c := s.get()) in (" ", "\t"):
        pass
    if c == "#":
        s.to_lf()
    elif c not in ("", "\n", "\r"):
        s.to_lf()
        return Record(line, start, s.i, "invalid", name, problem=f"text after '[{name}]': WSL skips the line"), \
            name, section_len
    return Record(line, start, s.i, "section", name), name, len(name)


def _key_value(s: _Scan, start: int, line: int, c: str, key_buf: str, section_len: int) -> tuple[Record, str]:
    key = (key_buf[:section_len] + "\0" * max(0, section_len - len(key_buf))) + ("." if section_len else "")
    key += c
    while _alnum(c := s.get()):
        key += c
    while c in (" ", "\t"):
        c = s.get()
    if c != "=":
        if c != "\n":
            s.to_lf()
        return Record(line, start, s.i, "invalid", problem="expected '=' after the key name: WSL skips the "
                      "line"), key
    while s.peek() in (" ", "\t"):
        s.get()
    value_start = s.i
    value, trimmed, quoted, last = "", 0, False, s.i
    while (c := s.peek()) not in ("", "\n", "\r"):
        s.get()
        if c == '"':
            quoted = not quoted
        elif c == "\\":
            c2 = s.get()
            if c2 in ("\\", '"'):
                value += c2
            elif c2 in ("b", "n", "t"):
                value += {"b": "\b", "n": "\n", "t": "\t"}[c2]
            elif c2 != "\n":  # backslash-LF continues the value
                if c2 != "":
                    s.to_lf()
                return Record(line, start, s.i, "invalid", key, problem=f"an escape WSL does not know "
                              f"(\\{c2}; a Windows path needs \\\\ or /): WSL skips the line"), key
        elif c == "#" and not quoted:
            s.i -= 1
            break
        else:
            value += c
        if c not in (" ", "\t"):
            trimmed, last = len(value), s.i
    if quoted:
        if s.peek() == "\r":
            s.get()
        s.to_lf()
        return Record(line, start, s.i, "invalid", key, problem="a quote is not closed: WSL skips the line"), key
    end_value = last
    c = s.peek()
    if c == "#":
        s.to_lf()
    elif c in ("\n", "\r"):
        s.get()
    return Record(line, start, s.i, "key", key, value[:trimmed], value_start, end_value), key


def _c_name(key: str) -> str:
    return key.split("\0", 1)[0]  # WSL compares C strings: a NUL ends the name


def _take(reading: Reading, rec: Record) -> None:
    if rec.kind == "invalid":
        reading.notes.append(Note(rec.line, Severity.WARN, rec.problem))
        return
    if rec.kind != "key":
        return
    name = _c_name(rec.name)
    key = BY_NAME.get(name.lower())
    if key is None:
        rec.problem = _unknown(name) if "\0" not in rec.name else (
            f"after an invalid [...] line, WSL reads this key as {name!r} (it keeps the earlier section's "
            "length, not its name) and ignores it")
        reading.notes.append(Note(rec.line, Severity.WARN, rec.problem))
        return
    if key.name.lower() in reading.settings:
        first = reading.settings[key.name.lower()]
        same = "" if first.spelled.lower() == name.lower() else f" (as {first.spelled})"
        rec.problem = f"{name} is set again: WSL reads only the first one, line {first.line}{same}"
        reading.notes.append(Note(rec.line, Severity.WARN, rec.problem))
        return
    reading.settings[key.name.lower()] = Setting(key, name, rec.value, rec.line, rec)
    if name.lower() != key.name.lower():
        reading.notes.append(Note(rec.line, Severity.INFO, f"{name}: now {key.name} ([{key.name.split('.')[0]}]); "
                                  "WSL still reads the old [experimental] name"))
    bad = check_value(key, rec.value)
    if bad is not None:
        rec.problem = f"{key.name}={rec.value!r}: {bad[1]}"
        reading.notes.append(Note(rec.line, bad[0], f"{name}: {bad[1]}"))


def _unknown(name: str) -> str:
    section, dot, short = name.partition(".")
    if not dot:
        return f"{name}: a key before any [section]: WSL does not know it and ignores it"
    homes = _BY_KEY_NAME.get(short.lower(), [])
    if homes:
        where = " or ".join(f"[{n.split('.')[0]}]" for k in homes for n in k.names
                            if n.split(".", 1)[1].lower() == short.lower())
        return f"{name}: {short} belongs in {where}, not [{section}]: WSL ignores it here"
    if name.lower() in wslconf.KEYS:
        return (f"{name}: a key of /etc/wsl.conf (inside the distro), not of .wslconfig: WSL ignores it here")
    near = difflib.get_close_matches(name.lower(), list(BY_NAME), n=1, cutoff=0.75)
    hint = f" (did you mean {BY_NAME[near[0]].name}?)" if near else ""
    return f"{name}: WSL does not know this key and ignores it{hint}"


def effective(data: bytes) -> dict[str, str]:
    """Every key WSL takes from the file, by its current name, with the value as written."""
    return {s.key.name: s.value for s in read(data).settings.values()}


# --------------------------------------------------------------------------- editing

def lookup(name: str) -> Key:
    key = BY_NAME.get(name.lower())
    if key is None:
        raise WslConfigError(_unknown(name))
    return key


def set_value(data: bytes, name: str, value: str) -> bytes:
    """``data`` with ``name`` set to ``value`` where WSL reads it: the record WSL takes is given
    the new value, else the key is added to its section (or a new one at the end). Encoding, BOM,
    line endings and every other byte stay; the result is read back to prove that only that key
    changed."""
    key = lookup(name)
    bad = check_value(key, value)
    if bad is not None:
        raise WslConfigError(f"{key.name}: {bad[1]}")
    if "\r" in value or "\x00" in value:
        raise WslConfigError(f"{key.name}: a value cannot hold a carriage return or a NUL byte")
    before = read(data)
    d = before.decoded
    if not d.readable:
        raise WslConfigError(f".wslconfig: {d.problem}; convert it to UTF-8 first")
    text, shown = d.text, wslconf.format_value(value)
    nl = "\r\n" if "\r\n" in text else "\n"
    setting = before.settings.get(key.name.lower())
    if setting is not None:
        r = setting.record
        if text[r.value_end:r.value_end + 1] == "#":
            shown += " "
        text = text[:r.value_start] + shown + text[r.value_end:]
    else:
        section, short = key.name.split(".", 1)
        # after the last key WSL reads in that section (where the next one is read in it too),
        # else after its last header
        inside = [r for r in before.records if (r.kind == "key" and _c_name(r.name).lower().startswith(
            section.lower() + ".")) or (r.kind == "section" and r.name.lower() == section.lower())]
        if inside:
            at = inside[-1].end
            lead = "" if at == 0 or text[at - 1] in "\r\n" else nl
            text = text[:at] + lead + f"{short}={shown}{nl}" + text[at:]
        else:
            lead = "" if not text or text.endswith(("\n", "\r")) else nl
            sep = nl if text.strip() else ""
            text = text + lead + sep + f"[{section}]{nl}{short}={shown}{nl}"
    out = encode(d, text)
    _prove(data, out, key, value)
    return out


def _prove(old: bytes, new: bytes, key: Key, value: str) -> None:
    was, now = effective(old), effective(new)
    if now.get(key.name) != value:
        raise WslConfigError(f"{key.name}: the edit would not be read as {value!r} (read: {now.get(key.name)!r})")
    if {k: v for k, v in was.items() if k != key.name} != {k: v for k, v in now.items() if k != key.name}:
        raise WslConfigError(f"{key.name}: the edit would change how WSL reads other keys: refused")
