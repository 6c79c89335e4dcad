"""Fetching a repository's signing key (or a CA certificate) on the controller (never on the
hosts), once per run.

Only https, or http to a loopback address (a test repository on this machine), on the first URL
and on every redirect (checked before the next hop is contacted; at most MAX_REDIRECTS); at most
MAX_KEY_BYTES; the result is checked against the pinned fingerprint by the caller before anything
is written anywhere.

Behind a company network (when asked: ``--fetch-ca FILE``, ``--fetch-proxy URL``, see
``configure``): the CA bundle is trusted beside the system's, and every request goes through the
proxy (https by CONNECT, so TLS is still checked end to end with the host name of each hop). A
redirect from https never goes to http, not even to a loopback address. Without
``--fetch-proxy``, urllib's own reading of ``https_proxy``/``no_proxy`` applies, as before.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import http.client
    import urllib.request

from provision.errors import ResourceError, UsageError
from provision.formats import proxy as proxyfmt
from provision.formats.openpgp import MAX_KEY_BYTES

TIMEOUT = 30.0
MAX_REDIRECTS = 5
_cache: dict[str, bytes] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Network:
    ca_file: str | None = None  # a PEM bundle trusted beside the system's
    proxy: str | None = None  # http://[user:password@]host:port, for http and https


_network = Network()


def configure(ca_file: str | None = None, proxy: str | None = None) -> None:
    """Set the CA bundle and the proxy the controller's fetches use (the CLI's --fetch-ca and
    --fetch-proxy). UsageError (never quoting the proxy's login) for a bad one."""
    global _network
    if proxy is not None:
        try:
            proxyfmt.parse_url(proxy)
        except ValueError as exc:
            raise UsageError(f"--fetch-proxy: {exc}") from None
    if ca_file is not None:
        try:
            ssl.create_default_context().load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"--fetch-ca {ca_file}: not a readable PEM bundle of CA certificates "
                             f"({getattr(exc, 'strerror', None) or exc.__class__.__name__})") from None
    _network = Network(ca_file, proxy)
    _cache.clear()


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # the system's CAs, host names checked
    if _network.ca_file:
        ctx.load_verify_locations(cafile=_network.ca_file)
    return ctx


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


def valid_url(v: str | None) -> str | None:
    """A spec field validator: ``field_validator("key_url")(valid_url)``."""
    problem = check_url(v) if v is not None else None
    if problem:
        raise ValueError(problem)
    return v


class Refused(Exception):
    """A redirect that the rules do not allow (raised before it is followed)."""


def _opener() -> urllib.request.OpenerDirector:
    """An opener whose redirect handler applies check_url to every hop, before it is contacted.
    (The stdlib's own handler only refuses schemes other than http, https and ftp.)"""
    import urllib.request

    def refuse(fp: IO[bytes], newurl: str, current: str) -> None:
        problem = check_url(newurl)
        if not problem and urllib.parse.urlsplit(current).scheme == "https" and \
                urllib.parse.urlsplit(newurl).scheme != "https":
            problem = "leaves https"
        if problem:
            fp.close()  # the redirect response: nothing more is read from it
            raise Refused(f"it redirects to {newurl[:200]}, which {problem}")

    class Redirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                           headers: http.client.HTTPMessage) -> IO[bytes] | None:
            # before the stdlib's own scheme check, which would hide the reason
            location = headers.get("location") or headers.get("uri")
            if location is not None:
                refuse(fp, urllib.parse.urljoin(req.full_url, location), req.full_url)
            return super().http_error_302(req, fp, code, msg, headers)

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

        def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                             headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
            refuse(fp, newurl, req.full_url)  # the URL exactly as it will be followed
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    handlers: list[urllib.request.BaseHandler] = [Redirects(), urllib.request.HTTPSHandler(context=_context())]
    if _network.proxy:
        handlers.append(urllib.request.ProxyHandler({"http": _network.proxy, "https": _network.proxy}))
    return urllib.request.build_opener(*handlers)


def fetch(url: str, *, what: str = "key", limit: int = MAX_KEY_BYTES) -> bytes:
    """The ``what`` (a key, a certificate) at ``url``, at most ``limit`` bytes (cached for the
    run); raises ResourceError with the reason."""
    with _lock:
        if url in _cache:
            return _cache[url]
        problem = check_url(url)
        if problem:
            raise ResourceError(f"{what} URL {url}: {problem}")
        import urllib.error  # http.client, email, ssl: only when a key is fetched
        import urllib.request

        request = urllib.request.Request(url, headers={"User-Agent": "provision"})
        try:
            with _opener().open(request, timeout=TIMEOUT) as response:
                data: bytes = response.read(limit + 1)
        except Refused as exc:
            raise ResourceError(f"{what} URL {url}: {exc}") from None
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the last response open
            if exc.code in (301, 302, 303, 307, 308):  # the handler gave up: too many, or a loop
                raise ResourceError(f"{what} URL {url}: more than {MAX_REDIRECTS} redirects (or a loop)") from None
            raise ResourceError(f"could not fetch the {what} from {url} (on this machine): HTTP {exc.code} "
                                f"{exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLCertVerificationError):
                hint = "" if _network.ca_file else ": give the company's CA with --fetch-ca FILE"
                raise ResourceError(f"could not fetch the {what} from {url} (on this machine): the TLS certificate "
                                    f"check failed: {reason.verify_message}{hint}") from None
            reason = proxyfmt.hide_logins(str(reason))
            raise ResourceError(f"could not fetch the {what} from {url} (on this machine): {reason}") from None
        if len(data) > limit:
            raise ResourceError(f"{what} URL {url}: more than {limit} bytes: not a {what}")
        _cache[url] = data
        return data
