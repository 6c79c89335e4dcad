"""Fetching a repository's signing key on the controller (never on the hosts), once per run.

Only https, or http to a loopback address (a test repository on this machine); at most
MAX_KEY_BYTES; the result is checked against the pinned fingerprint by the caller before anything
is written anywhere.
"""

from __future__ import annotations

import ipaddress
import threading
import urllib.parse

from provision.errors import ResourceError
from provision.formats.openpgp import MAX_KEY_BYTES

TIMEOUT = 30.0
_cache: dict[str, bytes] = {}
_lock = threading.Lock()


def check_url(url: str) -> str | None:
    """Why ``url`` may not be used to fetch a key, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname:
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return None
        except ValueError:
            if parts.hostname == "localhost":
                return None
        return "must be https (http only to a loopback address)"
    return "must be an https URL"


def fetch(url: str) -> bytes:
    """The key at ``url`` (cached for the run); raises ResourceError with the reason."""
    with _lock:
        if url in _cache:
            return _cache[url]
        problem = check_url(url)
        if problem:
            raise ResourceError(f"key URL {url}: {problem}")
        import urllib.error  # http.client, email, ssl: only when a key is fetched
        import urllib.request

        request = urllib.request.Request(url, headers={"User-Agent": "provision"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - checked above
                data: bytes = response.read(MAX_KEY_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ResourceError(f"could not fetch the key from {url} (on this machine): {reason}") from None
        if len(data) > MAX_KEY_BYTES:
            raise ResourceError(f"key URL {url}: more than {MAX_KEY_BYTES} bytes: not a public key")
        _cache[url] = data
        return data
