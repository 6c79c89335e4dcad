"""One CA certificate in PEM, as far as trusting it needs: strict armor (exactly one
``CERTIFICATE`` block and nothing around it but blanks: a second certificate, a private key block,
text or junk before or after it are refused, the way ``openpgp.pinned`` refuses a second key
block), one DER certificate with nothing after it, and ``basicConstraints`` with ``CA:TRUE``.

What is written to a host is the certificate re-armored from the DER that was checked, so what
``update-ca-certificates`` and keytool read is exactly that. The DER is parsed with the
``cryptography`` package (installed with paramiko, which needs it): a full X.509 parse is more
than a hand-written DER reader should attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

MAX_PEM_BYTES = 64 * 1024  # a CA certificate larger than this is not one
BEGIN = "-----BEGIN CERTIFICATE-----"
END = "-----END CERTIFICATE-----"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class CertError(ValueError):
    """Not a usable CA certificate."""


@dataclass(frozen=True)
class CaCert:
    der: bytes
    subject: str

    @property
    def sha256(self) -> str:
        """The certificate's SHA-256 fingerprint: 64 lower-case hex digits."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def alias(self) -> str:
        return alias(self.sha256)

    @property
    def body(self) -> str:
        """The base64 of the DER on one line (what a PEM block's lines join to)."""
        return base64.b64encode(self.der).decode()

    def pem(self) -> bytes:
        b = self.body
        lines = [BEGIN, *(b[i:i + 64] for i in range(0, len(b), 64)), END]
        return ("\n".join(lines) + "\n").encode()


def alias(sha256: str) -> str:
    """The keytool alias provision gives a CA: ``provision-`` and its fingerprint's first 16 hex."""
    return f"provision-{sha256[:16]}"


def normalise_sha256(text: str) -> str:
    """``AB:CD:…`` or ``abcd …`` → 64 lower-case hex digits; raises CertError when it is not one."""
    fp = re.sub(r"[\s:]+", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", fp):
        raise CertError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
    return fp


def dearmor(data: bytes) -> bytes:
    """The DER of the one PEM certificate block ``data`` holds. Strict: blanks only around the
    block, one block, no headers, base64 lines only (strictly decoded)."""
    if len(data) > MAX_PEM_BYTES:
        raise CertError(f"{len(data)} bytes: too large for a CA certificate")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise CertError("not a PEM certificate (bytes that are not ASCII)") from None
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if not lines or lines[0] != BEGIN:
        first = lines[0][:60] if lines else "nothing"
        raise CertError(f"must be exactly one PEM block starting with {BEGIN} (found {first!r})")
    try:
        end = lines.index(END)
    except ValueError:
        raise CertError(f"the block has no {END} line") from None
    if end != len(lines) - 1:
        after = next(ln for ln in lines[end + 1:] if ln)
        raise CertError(f"something follows the certificate ({after[:60]!r}): one certificate only, "
                        "nothing after it (a second certificate or a key is refused)")
    body = lines[1:end]
    bad = next((ln for ln in body if not _BASE64.fullmatch(ln)), None)
    if bad is not None or not body:
        raise CertError(f"the block holds a line that is not base64 ({(bad or '')[:60]!r})")
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error:
        raise CertError("the block's base64 does not decode") from None


def _der_length(der: bytes) -> int:
    """The total length of the DER element at the start of ``der`` (tag, length, content)."""
    if len(der) < 2:
        raise CertError("the block is too short for a certificate")
    first = der[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(der) < 2 + n:
        raise CertError("the certificate's DER length is malformed")
    return 2 + n + int.from_bytes(der[2:2 + n], "big")


def parse_ca(data: bytes) -> CaCert:
    """The one CA certificate in ``data`` (PEM), checked; raises CertError with the reason."""
    der = dearmor(data)
    if der[:1] != b"\x30" or _der_length(der) != len(der):
        raise CertError("the block is not one DER certificate (bytes after it, or not a SEQUENCE)")
    from cryptography import x509  # only when a certificate is checked

    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
    except ValueError as exc:
        raise CertError(f"not an X.509 certificate: {exc}") from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CertError(f"{subject}: not a CA certificate (it has no basicConstraints CA:TRUE)") from None
    except ValueError as exc:
        raise CertError(f"{subject}: its extensions do not parse: {exc}") from None
    if not constraints.ca:
        raise CertError(f"{subject}: not a CA certificate (basicConstraints CA:FALSE)")
    return CaCert(der, subject)
