"""Issue 18, controller-side input: key fetching follows only https redirects (every hop checked
before it is contacted, at most keyfetch.MAX_REDIRECTS), ``export cloud-init -o`` does not make
secrets world-readable, and YAML values no loader can build (an invalid date, an int past Python's
4300 digits, …) are a one-line ``file:line`` error with exit 2 wherever YAML is read: playbook,
``-e key=value``, ``-e @file``, inventory (YAML and INI)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from provision import keyfetch
from provision.errors import ResourceError

HOST = "127.0.0.1"
KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n"


# --------------------------------------------------------------------------- key fetching: redirects

class _Redirecting(http.server.BaseHTTPRequestHandler):
    """/to?URL redirects there; /chain/N redirects to /chain/N-1; /chain/0 and /key serve KEY."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/to?"):
            return self._redirect(self.path[4:])
        if self.path.startswith("/chain/") and self.path != "/chain/0":
            return self._redirect(f"/chain/{int(self.path.rsplit('/', 1)[1]) - 1}")
        self.send_response(200)
        self.send_header("Content-Length", str(len(KEY)))
        self.end_headers()
        self.wfile.write(KEY)

    def _redirect(self, to: str) -> None:
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer((HOST, 0), _Redirecting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Every name the fetch would resolve other than loopback is recorded and refused here, so no
    query or connection leaves this machine, on the old code either."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kw):  # type: ignore[no-untyped-def]
        if host not in (HOST, "localhost"):
            seen.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "refused by the test: not loopback")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    keyfetch._cache.clear()
    return seen


def test_a_redirect_to_plain_http_elsewhere_is_refused_before_anything_is_contacted(server, lookups):
    with pytest.raises(ResourceError) as refused:
        keyfetch.fetch(f"{server}/to?http://example.invalid/key.asc")
    assert "redirects to http://example.invalid/key.asc, which must be https" in str(refused.value)
    assert lookups == []  # the hop was refused in the redirect handler, not by a failed lookup


@pytest.mark.parametrize("to", ["ftp://127.0.0.1:9/key.asc", "file:///etc/passwd"])
def test_a_redirect_to_another_scheme_is_refused(server, lookups, to):
    with pytest.raises(ResourceError) as refused:
        keyfetch.fetch(f"{server}/to?{to}")
    assert f"redirects to {to}, which must be an https URL" in str(refused.value)
    assert lookups == []


def test_redirects_are_bounded(server, lookups):
    bound = getattr(keyfetch, "MAX_REDIRECTS", 5)  # the old code followed up to urllib's 10
    assert keyfetch.fetch(f"{server}/chain/{bound}") == KEY
    with pytest.raises(ResourceError) as refused:
        keyfetch.fetch(f"{server}/chain/{bound + 1}")
    assert f"more than {bound} redirects" in str(refused.value)


def test_a_redirect_within_the_rule_is_followed(server, lookups):
    assert keyfetch.fetch(f"{server}/to?{server}/key.asc") == KEY
