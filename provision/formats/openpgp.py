"""OpenPGP public keys, as far as pinning one needs (RFC 4880 / RFC 9580): ASCII armor, the packet
framing, the fingerprints of the primary keys and subkeys, and who issued a subkey's binding
signature. Nothing is verified cryptographically here: apt (gpgv or sqv) checks the repository's
signatures, and the subkeys' bindings, with the key; this module makes sure the key written is the
one the playbook pinned, and only that one.

``pinned`` is the one way in: it reads one armored block or one binary key, strictly (no text
around or after the block, no second block, nothing after the checksum), walks the packets as a
transferable public key (one primary key, its user IDs, its subkeys each bound by a signature that
names the primary as its issuer) and refuses anything else; what it returns, and what is written
to the host, is those packets re-armored, so what apt reads is exactly what was checked.

Fingerprints: v4 is SHA-1 over 0x99, a two-byte length and the key packet's body; v5 and v6 are
SHA-256 over 0x9A / 0x9B, a four-byte length and the body. A v4 key's ID is its fingerprint's last
8 bytes; a v5/v6 key's its first 8.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

SIGNATURE, SECRET_KEY, PUBLIC_KEY, SECRET_SUBKEY, TRUST, USER_ID, PUBLIC_SUBKEY, USER_ATTRIBUTE = \
    2, 5, 6, 7, 12, 13, 14, 17
SUBKEY_BINDING = 0x18
MAX_KEY_BYTES = 1 << 20  # a public key file larger than this is not a key

BEGIN = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
END = b"-----END PGP PUBLIC KEY BLOCK-----"
_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+: .*")  # Comment: …, Version: …
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_CHECKSUM = re.compile(rb"=[A-Za-z0-9+/]{4}")


class KeyError_(ValueError):
    """Not a usable OpenPGP public key."""


@dataclass(frozen=True)
class Key:
    fingerprint: str  # upper-case hex, no blanks
    primary: bool
    version: int


@dataclass(frozen=True)
class Packet:
    tag: int
    body: bytes
    raw: bytes  # header and body, as framed in the file


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
    """The binary packets of one armored key block (its checksum checked when present), or
    ``data`` unchanged when it is binary. Strict: whitespace only around the block, one block,
    base64 lines only between the headers and the checksum, the checksum last."""
    if len(data) > MAX_KEY_BYTES:
        raise KeyError_(f"{len(data)} bytes: too large for a public key")
    text = data.strip(b" \t\r\n")
    if not text.startswith(b"-----"):
        if BEGIN in data:
            raise KeyError_("data before the armored block (binary or text); one key block is trusted")
        return data  # binary: packets() refuses anything that is not packets
    lines = [ln.rstrip(b" \t\r") for ln in text.split(b"\n")]
    if lines[0] != BEGIN:
        raise KeyError_("an armored block that is not a PGP PUBLIC KEY BLOCK")
    if END not in lines:
        raise KeyError_("the armored key has no END line")
    end = lines.index(END)
    if end != len(lines) - 1:
        raise KeyError_("text after the armored key's END line (a second block?); one key block is trusted")
    body = lines[1:end]
    if body and _HEADER.fullmatch(body[0]):  # armor headers end at a blank line
        if b"" not in body:
            raise KeyError_("the armored key's headers do not end with a blank line")
        headers = body[:body.index(b"")]
        if not all(_HEADER.fullmatch(h) for h in headers):
            raise KeyError_("the armored key's headers are damaged")
        body = body[len(headers) + 1:]
    elif body and body[0] == b"":
        body = body[1:]
    checksum = None
    if body and _CHECKSUM.fullmatch(body[-1]):
        checksum = body.pop()[1:]
    for n, ln in enumerate(body):
        if not _BASE64.fullmatch(ln) or (b"=" in ln and n != len(body) - 1):
            what = "a second checksum or block" if ln.startswith(b"=") or ln.startswith(b"-") else "a line"
            raise KeyError_(f"the armored key holds {what} that is not its base64 ({ln[:20]!r}…)")
    try:
        raw = binascii.a2b_base64(b"".join(body), strict_mode=True)
    except (binascii.Error, ValueError):
        raise KeyError_("the armored key's base64 is damaged") from None
    if checksum is not None and int.from_bytes(base64.b64decode(checksum), "big") != _crc24(raw):
        raise KeyError_("the armored key's checksum does not match (the file is damaged)")
    return raw


def armor(raw: bytes) -> bytes:
    """Binary packets → an ASCII-armored public key block (what apt reads from a ``.asc`` file)."""
    b64 = base64.b64encode(raw).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    crc = base64.b64encode(_crc24(raw).to_bytes(3, "big")).decode()
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(lines) + f"\n={crc}\n"
            "-----END PGP PUBLIC KEY BLOCK-----\n").encode()


def packets(raw: bytes) -> list[Packet]:
    """Each packet; raises KeyError_ on framing that does not add up."""
    out: list[Packet] = []
    i = 0
    while i < len(raw):
        start, first = i, raw[i]
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
        out.append(Packet(tag, raw[i:i + length], raw[start:i + length]))
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


def _key_id(fingerprint: str, version: int) -> str:
    return fingerprint[-16:] if version == 4 else fingerprint[:16]


def _subpackets(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        o = data[i]
        if o < 192:
            length, i = o, i + 1
        elif o < 255:
            if i + 1 >= len(data):
                raise KeyError_("a signature subpacket is cut short")
            length, i = ((o - 192) << 8) + data[i + 1] + 192, i + 2
        else:
            length, i = int.from_bytes(data[i + 1:i + 5], "big"), i + 5
        if length == 0 or i + length > len(data):
            raise KeyError_("a signature subpacket runs past its signature")
        out.append((data[i] & 0x7F, data[i + 1:i + length]))
        i += length
    return out


def _issuers(body: bytes) -> tuple[int, set[str]]:
    """A signature's type and the issuers it names (key IDs and fingerprints, upper-case hex)."""
    if len(body) < 2:
        raise KeyError_("a signature packet is cut short")
    if body[0] == 3:
        if len(body) < 15:
            raise KeyError_("a signature packet is cut short")
        return body[2], {body[7:15].hex().upper()}
    if body[0] not in (4, 5, 6):
        raise KeyError_(f"signature version {body[0]} is not supported")
    n = 2 if body[0] == 4 else 4
    hashed_len = int.from_bytes(body[4:4 + n], "big")
    hashed = body[4 + n:4 + n + hashed_len]
    at = 4 + n + hashed_len
    unhashed = body[at + n:at + n + int.from_bytes(body[at:at + n], "big")]
    if len(hashed) != hashed_len or at + n > len(body):
        raise KeyError_("a signature packet is cut short")
    names = set()
    for kind, value in _subpackets(hashed) + _subpackets(unhashed):
        if kind == 16:  # issuer key ID
            names.add(value.hex().upper())
        elif kind == 33 and value:  # issuer fingerprint (a version octet first)
            names.add(value[1:].hex().upper())
    return body[1], names


def _walk(raw: bytes) -> tuple[Key, list[Key], list[Packet]]:
    """A transferable public key: the primary, its subkeys and the packets to keep (trust
    packets, local to one keyring, are dropped). Raises KeyError_ on anything else."""
    found = [p for p in packets(raw) if p.tag != TRUST]
    if any(p.tag in (SECRET_KEY, SECRET_SUBKEY) for p in found):
        raise KeyError_("this is a secret key: give the public key")
    if not found:
        raise KeyError_("no public key in it")
    primaries = [fingerprint_of(p.body)[0] for p in found if p.tag == PUBLIC_KEY]
    if len(primaries) != 1:
        raise KeyError_(f"it holds {len(primaries)} primary keys ({', '.join(primaries)}); exactly one is "
                        "trusted")
    if found[0].tag != PUBLIC_KEY:
        raise KeyError_(f"a packet of type {found[0].tag} before the primary key")
    fp, version = fingerprint_of(found[0].body)
    primary = Key(fp, True, version)
    mine = {fp, _key_id(fp, version)}
    subkeys: list[Key] = []
    i = 1
    while i < len(found):
        p = found[i]
        if p.tag not in (SIGNATURE, USER_ID, USER_ATTRIBUTE, PUBLIC_SUBKEY):
            raise KeyError_(f"a packet of type {p.tag} does not belong in a public key")
        i += 1
        if p.tag != PUBLIC_SUBKEY:
            continue
        sub_fp, sub_version = fingerprint_of(p.body)
        bound = False
        while i < len(found) and found[i].tag == SIGNATURE:
            kind, issuers = _issuers(found[i].body)
            bound = bound or (kind == SUBKEY_BINDING and bool(issuers) and issuers <= mine)
            i += 1
        if not bound:
            raise KeyError_(f"subkey {sub_fp} is not bound to the primary key {fp} (no binding signature "
                            "it issued): a key from elsewhere")
        subkeys.append(Key(sub_fp, False, sub_version))
    return primary, subkeys, found


def keys(data: bytes) -> list[Key]:
    """The primary key and subkeys of a key file (armored or binary); raises KeyError_ unless it
    is exactly one transferable public key."""
    primary, subkeys, _ = _walk(dearmor(data))
    return [primary, *subkeys]


def pinned(data: bytes, fingerprint: str | None) -> bytes:
    """The key file to write: exactly the one public key in ``data`` (the one pinned by
    ``fingerprint`` when given: its primary key; a subkey's fingerprint is not accepted as the
    pin) with its own subkeys, re-armored from the checked packets. Raises KeyError_ saying why
    not."""
    try:
        primary, _, kept = _walk(dearmor(data))
    except KeyError_ as exc:
        message = str(exc)
        raise KeyError_(message if message.startswith("it holds") else
                        f"not an OpenPGP public key: {message}") from None
    if fingerprint is not None:
        want = normalise_fingerprint(fingerprint)
        if primary.fingerprint != want:
            raise KeyError_(f"its fingerprint is {primary.fingerprint}, not the pinned {want}")
    return armor(b"".join(p.raw for p in kept))


def check_pinned(data: bytes, fingerprint: str | None) -> str | None:
    """Why ``data`` is not exactly one public key (see ``pinned``), or None."""
    try:
        pinned(data, fingerprint)
    except KeyError_ as exc:
        return str(exc)
    return None
