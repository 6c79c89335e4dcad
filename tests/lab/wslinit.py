"""What WSL's init reads from /etc/wsl.conf, for the lab's WSL personas: an independent reading,
character by character, following the states of WSL's ParseConfigFile (configfile.cpp) in parse
mode, without CFG_SKIP_INVALID_LINES, over bytes as musl's C locale reads them (ASCII letters only).

It is deliberately not provision's own reader (provision/formats/wslconf.py): the lab decides
whether a persona boots systemd by this one, and both are checked against the same data table of
inputs and WSL's reading of them (tests/unit/data/wslconf_wsl.yml).
"""

from __future__ import annotations

EOF = -1


def _alpha(c: int) -> bool:
    return 65 <= c <= 90 or 97 <= c <= 122


def _alnum(c: int) -> bool:
    return _alpha(c) or 48 <= c <= 57


def _blank(c: int) -> bool:
    return c in (32, 9)


class _File:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def get(self) -> int:
        if self.pos >= len(self.data):
            self.pos = len(self.data) + 1  # read past the end: feof
            return EOF
        c = self.data[self.pos]
        self.pos += 1
        return c

    def unget(self) -> None:
        self.pos -= 1

    def eof(self) -> bool:
        return self.pos > len(self.data)


def read_settings(data: bytes) -> tuple[dict[str, str], bool]:
    """(first value of every ``section.key`` read, lower-case keys; True when an invalid line stopped
    the parse). Keys before any section come out without a dot (WSL knows no such key)."""
    f = _File(data)
    settings: dict[str, str] = {}
    ch = 0
    section = ""
    while True:  # NewLine: the top of the line loop
        if ch == ord("#"):  # a pending comment (line start, or after a header or a value)
            while True:
                ch = f.get()
                if ch == 13:
                    ch = f.get()
                if ch in (10, EOF):
                    break
        if f.eof():
            return settings, False
        ch = f.get()
        while _blank(ch):
            ch = f.get()
        if ch == EOF or ch == 10 or ch == ord("#"):
            continue
        if ch == 13:
            if f.get() != 10:
                f.unget()
            continue
        if ch == ord("["):  # a section header
            ch = f.get()
            if not _alpha(ch):
                return settings, True
            name = ""
            while _alnum(ch):
                name += chr(ch)
                ch = f.get()
            if ch != ord("]"):
                return settings, True
            ch = f.get()
            while _blank(ch):
                ch = f.get()
            if ch not in (EOF, 10, 13, ord("#")):
                return settings, True
            section = name
            continue
        if not _alpha(ch):
            return settings, True
        key = section + "." if section else ""
        while _alnum(ch):
            key += chr(ch)
            ch = f.get()
        while _blank(ch):
            ch = f.get()
        if ch != ord("="):
            return settings, True
        ch = f.get()
        while _blank(ch):
            ch = f.get()
        value, kept, quoted = "", 0, False
        while ch not in (EOF, 10, 13):
            if ch == ord('"'):
                quoted = not quoted
            elif ch == ord("\\"):
                c2 = f.get()
                if c2 in (ord("\\"), ord('"')):
                    value += chr(c2)
                elif c2 in (ord("b"), ord("n"), ord("t")):
                    value += {ord("b"): "\b", ord("n"): "\n", ord("t"): "\t"}[c2]
                elif c2 not in (13, 10):
                    return settings, True
            elif ch == ord("#") and not quoted:
                break
            else:
                value += chr(ch)
            if not _blank(ch):
                kept = len(value)
            ch = f.get()
        if quoted:
            return settings, True
        settings.setdefault(key.lower(), value[:kept])


def wsl_bool(text: str) -> bool | None:
    text = text.split("\x00", 1)[0]
    if text == "1" or text.lower() == "true":
        return True
    if text == "0" or text.lower() == "false":
        return False
    return None


def boots_systemd(data: bytes, *, wsl2: bool = True, sbin_init: bool = True) -> bool:
    """WSL's decision at distro start: boot.systemd read as true, on WSL2, with /sbin/init."""
    settings, _ = read_settings(data)
    return bool(wsl_bool(settings.get("boot.systemd", "false"))) and wsl2 and sbin_init
