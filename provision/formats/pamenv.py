"""/etc/environment as pam_env reads it (modules/pam_env/pam_env.c, ``_parse_env_file``).

Rules that matter here:
- leading blanks are skipped; a line whose first non-blank is ``#`` is a comment;
- a leading ``export `` is skipped;
- the value ends at the first ``#`` anywhere (no inline-comment escape) or at the newline;
- a line ending in ``\\`` continues on the next line;
- the key must be ``[A-Za-z0-9_]+``, otherwise the whole line is ignored;
- a value starting with a quote loses it and its closing quote (interior quotes vary by version);
- ``KEY`` alone unsets KEY; each line is applied in order, so a later duplicate wins;
- there is no ``$VAR`` expansion (and systemd's environment.d, which reads the same file, *does*
  expand ``${VAR}``), so values are written plainly: ``KEY="value"`` with no ``$ # " ' \\``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = b"# managed by provision"
_KEY = re.compile(r"^[A-Za-z0-9_]+$")
_VALID_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORBIDDEN = {"$": "a '$' (pam_env does not expand variables, environment.d does)",
              "#": "a '#' (pam_env cuts the value there)",
              '"': "a double quote (pam_env strips quotes)",
              "'": "a single quote (pam_env strips quotes)",
              "\\": "a backslash (pam_env treats a trailing one as a line continuation)",
              "\n": "a newline", "\r": "a carriage return", "\x00": "a NUL byte"}


@dataclass
class Entry:
    """One logical line: one physical line, or several joined by trailing backslashes."""

    start: int  # index of its first physical line
    raw: list[bytes]  # the physical lines, with their line endings
    kind: str  # blank | comment | assign | unset | invalid
    key: str | None = None
    value: str | None = None

    @property
    def line_no(self) -> int:
        return self.start + 1


def check_key(key: str) -> str | None:
    if not _VALID_KEY.match(key):
        return f"invalid variable name {key!r}: pam_env accepts letters, digits and '_' only"
    return None


def check_value(key: str, value: str) -> str | None:
    """Why pam_env (or another reader of the file) would not see ``value`` as written, or None."""
    for ch, why in _FORBIDDEN.items():
        if ch in value:
            return f"value of {key} contains {why}"
    if value != value.strip():
        return f"value of {key} has leading or trailing blanks"
    return None


def _classify(text: str) -> tuple[str, str | None, str | None]:
    body = text.lstrip(" \t\n")
    if not body.strip():
        return "blank", None, None
    if body.startswith("#"):
        return "comment", None, None
    if body.startswith("export "):
        body = body[7:]
    body = body.split("#", 1)[0].rstrip("\n")
    if body.startswith("="):
        return "invalid", None, None
    key, sep, value = body.partition("=")
    if not _KEY.match(key):
        return "invalid", None, None
    if not sep:
        return "unset", key, None
    if value[:1] in ('"', "'"):
        value = value[1:]
        if value[-1:] in ('"', "'"):
            value = value[:-1]
    return "assign", key, value


def parse(data: bytes) -> list[Entry]:
    lines = data.splitlines(keepends=True)
    entries: list[Entry] = []
    i = 0
    while i < len(lines):
        start = i
        raw = [lines[i]]
        text = lines[i].decode("utf-8", "surrogateescape")
        body = text.lstrip(" \t")
        # continuation: only for lines that are not comments and have no '#'
        while ("#" not in text and body.strip() and text.rstrip(" \t\r\n").endswith("\\")
               and i + 1 < len(lines)):
            text = text.rstrip(" \t\r\n")[:-1] + lines[i + 1].decode("utf-8", "surrogateescape")
            i += 1
            raw.append(lines[i])
        kind, key, value = _classify(text)
        entries.append(Entry(start, raw, kind, key, value))
        i += 1
    return entries


def effective(data: bytes) -> dict[str, str]:
    """The variables a PAM session gets from this file."""
    env: dict[str, str] = {}
    for e in parse(data):
        if e.kind == "assign" and e.key is not None:
            env[e.key] = e.value or ""
        elif e.kind == "unset" and e.key is not None:
            env.pop(e.key, None)
    return env


def format_line(key: str, value: str) -> bytes:
    return f'{key}="{value}"\n'.encode()


def _marked(entries: list[Entry], idx: int) -> bool:
    return idx > 0 and entries[idx - 1].kind == "comment" and b"".join(entries[idx - 1].raw).strip() == MARKER


def set_keys(data: bytes, wanted: dict[str, str]) -> tuple[bytes, list[str]]:
    """Make each key's effective value the wanted one, editing in place; returns (new data, actions).

    The last assignment of a key (the one pam_env applies) is replaced in place; a key that is not
    there is appended with a marker comment above it. Lines this tool marked earlier for the same key
    are removed when they are not the effective one. Every other line is kept byte for byte.
    """
    actions: list[str] = []
    for key, value in wanted.items():
        entries = parse(data)
        occ = [i for i, e in enumerate(entries) if e.key == key and e.kind in ("assign", "unset")]
        out: list[bytes] = [b"".join(e.raw) for e in entries]
        drop: set[int] = set()
        if occ:
            last = occ[-1]
            e = entries[last]
            for i in occ[:-1]:
                if _marked(entries, i):
                    drop |= {i - 1, i}
                    actions.append(f"removed an older managed {key} line (line {entries[i].line_no})")
            if e.kind == "assign" and e.value == value:
                if not drop:
                    continue
            else:
                was = "unset" if e.kind == "unset" else repr(e.value)
                new = format_line(key, value)
                if not _marked(entries, last):
                    new = MARKER + b"\n" + new
                out[last] = new
                actions.append(f"set {key} (was {was}) at line {e.line_no}")
        else:
            prefix = b""
            if data and not data.endswith(b"\n"):
                prefix = b"\n"  # the last line had no newline: never glue two lines together
            out.append(prefix + MARKER + b"\n" + format_line(key, value))
            actions.append(f"added {key}")
        data = b"".join(chunk for i, chunk in enumerate(out) if i not in drop)
    return data, actions


def unset_keys(data: bytes, expected: dict[str, str | None]) -> tuple[bytes, list[str], list[str]]:
    """Remove the lines this tool wrote for each key (only if still at the expected value, when given).

    Returns (new data, actions, notes); lines the tool did not write are never removed, only noted.
    """
    actions: list[str] = []
    notes: list[str] = []
    for key, value in expected.items():
        entries = parse(data)
        drop: set[int] = set()
        for i, e in enumerate(entries):
            if e.key != key or e.kind != "assign":
                continue
            if not _marked(entries, i):
                notes.append(f"{key} at line {e.line_no} was not written by provision: left alone")
            elif value is not None and e.value != value:
                notes.append(f"{key} at line {e.line_no} now points to {e.value!r}, not {value!r}: left alone")
            else:
                drop |= {i - 1, i}
                actions.append(f"removed {key} (line {e.line_no})")
        if drop:
            data = b"".join(b"".join(e.raw) for i, e in enumerate(entries) if i not in drop)
    return data, actions, notes
