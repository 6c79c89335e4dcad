"""OpenPGP public keys, as far as pinning one needs (RFC 4880 / RFC 9580): ASCII armor, the packet
framing, and the fingerprints of the primary keys and subkeys. Nothing is verified cryptographically
here: apt (gpgv or sqv) checks the repository's signatures with the key; this module only makes
sure the key written is the one the playbook pinned, and only that one.

Fingerprints: v4 is SHA-1 over 0x99, a two-byte length and the key packet's body; v5 and v6 are
SHA-256 over 0x9A / 0x9B, a four-byte length and the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

PUBLIC_KEY, PUBLIC_SUBKEY = 6, 14
MAX_KEY_BYTES = 1 << 20  # a public key file larger than this is not a key

_ARMOR = re.compile(rb"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY BLOCK-----",
                    re.S)


class KeyError_(ValueError):
    """Not a usable OpenPGP public key."""


@dataclass(frozen=True)
class Key:
    fingerprint: str  # upper-case hex, no blanks
    primary: bool
    version: int


def normalise_fingerprint(text: str) -> str:
    """``3B04 D753 …`` or ``0x3b04d753…`` → ``3B04D753…``; raises KeyError_ when it is not one."""
    fp = re.sub(r"\s+", "", text).upper().removeprefix("0X")
    if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", fp):
        raise KeyError_(f"{text!r} is not a key fingerprint (40 or 64 hex digits)")
    return fp


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def dearmor(data: bytes) -> bytes:
    """The binary packets of an armored key (its checksum checked when present), or ``data``
    unchanged when it is binary already."""
    if len(data) > MAX_KEY_BYTES:
        raise KeyError_(f"{len(data)} bytes: too large for a public key")
    m = _ARMOR.search(data)
    if m is None:
        if data.lstrip().startswith(b"-----BEGIN"):
            raise KeyError_("an armored block that is not a PGP PUBLIC KEY BLOCK")
        return data
    lines = [ln.strip() for ln in m.group(1).replace(b"\r", b"").split(b"\n")]
    if b"" in lines:  # armor headers (Comment: …) end at the first blank line
        lines = lines[lines.index(b"") + 1:]
    text = [ln for ln in lines if ln and b": " not in ln]
    checksum = None
    if text and text[-1].startswith(b"="):
        checksum = text.pop()[1:]
    try:
        raw = base64.b64decode(b"".join(text), validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_("the armored key's base64 is damaged") from None
    if checksum is not None:
        try:
            want = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            raise KeyError_("the armored key's checksum line is damaged") from None
        if want != _crc24(raw):
            raise KeyError_("the armored key's checksum does not match (the file is damaged)")
    return raw


def armor(raw: bytes) -> bytes:
    """Binary packets → an ASCII-armored public key block (what apt reads from a ``.asc`` file)."""
    b64 = base64.b64encode(raw).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    crc = base64.b64encode(_crc24(raw).to_bytes(3, "big")).decode()
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(lines) + f"\n={crc}\n"
            "-----END PGP PUBLIC KEY BLOCK-----\n").encode()


def packets(raw: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each packet; raises KeyError_ on framing that does not add up."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(raw):
        first = raw[i]
        if not first & 0x80:
            raise KeyError_(f"byte {i}: not an OpenPGP packet")
        if first & 0x40:  # new format
            tag = first & 0x3F
            if i + 1 >= len(raw):
                raise KeyError_("a packet header is cut short")
            o = raw[i + 1]
            if o < 192:
                length, i = o, i + 2
            elif o < 224:
                if i + 2 >= len(raw):
                    raise KeyError_("a packet header is cut short")
                length, i = ((o - 192) << 8) + raw[i + 2] + 192, i + 3
            elif o == 255:
                length, i = int.from_bytes(raw[i + 2:i + 6], "big"), i + 6
            else:
                raise KeyError_("partial-length packets do not belong in a key")
        else:  # old format
            tag, kind = (first >> 2) & 0x0F, first & 0x03
            if kind == 3:
                raise KeyError_("indeterminate-length packets do not belong in a key")
            size = 1 << kind
            length, i = int.from_bytes(raw[i + 1:i + 1 + size], "big"), i + 1 + size
        if i + length > len(raw):
            raise KeyError_("a packet runs past the end of the key")
        out.append((tag, raw[i:i + length]))
        i += length
    return out


def fingerprint_of(body: bytes) -> tuple[str, int]:
    if not body:
        raise KeyError_("an empty key packet")
    version = body[0]
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper(), 4
    if version in (5, 6):
        prefix = b"\x9a" if version == 5 else b"\x9b"
        return hashlib.sha256(prefix + len(body).to_bytes(4, "big") + body).hexdigest().upper(), version
    raise KeyError_(f"key packet version {version} is not supported (v4, v5 or v6)")


def keys(data: bytes) -> list[Key]:
    """The primary keys and subkeys of a key file (armored or binary)."""
    found: list[Key] = []
    for tag, body in packets(dearmor(data)):
        if tag in (PUBLIC_KEY, PUBLIC_SUBKEY):
            fp, version = fingerprint_of(body)
            found.append(Key(fp, tag == PUBLIC_KEY, version))
        elif tag == 5:
            raise KeyError_("this is a secret key: give the public key")
    if not found:
        raise KeyError_("no public key in it")
    return found


def check_pinned(data: bytes, fingerprint: str | None) -> str | None:
    """Why ``data`` is not exactly one public key, the one pinned by ``fingerprint`` when given
    (its only primary key; a subkey's fingerprint is not accepted as the pin), or None."""
    try:
        found = keys(data)
    except KeyError_ as exc:
        return f"not an OpenPGP public key: {exc}"
    primaries = [k.fingerprint for k in found if k.primary]
    if len(primaries) != 1:
        return f"it holds {len(primaries)} primary keys ({', '.join(primaries)}); exactly one is trusted"
    if fingerprint is None:
        return None
    want = normalise_fingerprint(fingerprint)
    if primaries[0] != want:
        return f"its fingerprint is {primaries[0]}, not the pinned {want}"
    return None
