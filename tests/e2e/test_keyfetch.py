"""Issue 20: the controller's own fetch of an apt_repository key behind a company network, when
asked (``--fetch-ca FILE``, ``--fetch-proxy URL``): an HTTPS server on a loopback address with
the test's own CA (openssl), which answers only connections from the proxy's address, and a small
CONNECT proxy with a login written here (it logs each tunnel it opens). With both, apply fetches
the key through the proxy and the repository works; without the CA: one line naming the
certificate problem, exit 1, the host unchanged; an https→http redirect or one to another host
is refused (TLS is checked on every hop, through the tunnel)."""

from __future__ import annotations

import base64
import http.server
import random
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest
from conftest import provision
from lab import aptrepo
from lab import pki as certs

pytestmark = pytest.mark.lab

SECRET = "Pw-" + "".join(random.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(10))
LOGIN = "fetcher:" + SECRET
KEYRING = "/etc/apt/keyrings/corp.asc"
NO_ENV_PROXY = {"no_proxy": "", "NO_PROXY": "", "https_proxy": "", "HTTPS_PROXY": "", "http_proxy": "",
                "HTTP_PROXY": "", "PROVISION_FETCH_CA": "", "PROVISION_FETCH_PROXY": ""}


def _ip() -> str:
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path | str]:
    """A root CA and a server certificate for one loopback address (the other server, at another
    address, shows the same certificate: a redirect there must fail the host check)."""
    d = tmp_path_factory.mktemp("fetchpki")
    ip = _ip()
    certs.root_ca(d, "Corp Fetch Root")
    certs.server_cert(d, ip, f"IP:{ip}")
    return {"dir": d, "ip": ip}


@pytest.fixture(scope="module")
def repo() -> Iterator[aptrepo.AptRepo]:
    with aptrepo.AptRepo([], suite="bookworm") as r:
        yield r


class Proxy:
    """A CONNECT proxy on a loopback address of its own, with a login; it connects out from that
    address (the HTTPS servers answer nothing else) and records every tunnel it opens."""

    def __init__(self) -> None:
        self.ip = _ip()
        self.seen: list[str] = []
        self.server = socket.create_server((self.ip, 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            self._tunnel(conn)
        except OSError:  # a client that gave up on the certificate resets the tunnel
            pass

    def _tunnel(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
            auth = [v for k, _, v in (ln.partition(": ") for ln in lines[1:]) if k.lower() == "proxy-authorization"]
            if auth != ["Basic " + base64.b64encode(LOGIN.encode()).decode()]:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"lab\"\r\nContent-Length: 0\r\n\r\n")
                return
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            self.seen.append(target)
            try:
                out = socket.create_connection((host, int(port)), timeout=10, source_address=(self.ip, 0))
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with out:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                socks = [conn, out]
                while True:
                    ready, _, _ = select.select(socks, [], [], 30)
                    if not ready:
                        return
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (out if s is conn else conn).sendall(data)

    @property
    def url(self) -> str:
        return f"http://{LOGIN}@{self.ip}:{self.port}"

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    p = Proxy()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def servers(pki, repo, proxy) -> Iterator[dict[str, str]]:
    """The key over HTTPS at the certificate's address (answering only the proxy), with a
    redirect to http and one to another address that shows the same certificate."""
    key = repo.key().encode()
    urls: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/key.asc":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(key)
                return
            self.send_response(302)
            self.send_header("Location", urls["plain"] if self.path == "/to-http" else urls["elsewhere"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class OnlyFromProxy(http.server.ThreadingHTTPServer):
        def verify_request(self, request, client_address) -> bool:  # type: ignore[no-untyped-def]
            return client_address[0] == proxy.ip

        def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
            pass  # a client that refuses the certificate ends the handshake: expected here

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["dir"] / "server.pem", pki["dir"] / "server.key")
    made = []
    for name, ip in (("main", pki["ip"]), ("other", _ip())):
        server = OnlyFromProxy((ip, 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append(server)
        urls[name] = f"https://{ip}:{server.server_address[1]}"
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    made.append(plain)
    urls["plain"] = f"http://127.0.0.1:{plain.server_address[1]}/key.asc"
    urls["elsewhere"] = f"{urls['other']}/key.asc"
    try:
        yield urls
    finally:
        for s in made:
            s.shutdown()
            s.server_close()


@pytest.fixture
def root() -> Iterator[lab.Root]:
    with lab.Root(lab.ensure_base(), name="keyfetch") as r:
        yield r


def playbook(tmp_path: Path, repo: aptrepo.AptRepo, key_url: str) -> Path:
    p = tmp_path / "corp-repo.yml"
    p.write_text(f"name: corp repository\nresources:\n  - apt_repository:\n      name: corp\n"
                 f"      uris: [{repo.url}]\n      suites: [bookworm]\n      components: [main]\n"
                 f"      key_url: {key_url}\n      fingerprint: {repo.fingerprint}\n")
    return p


def apply(root: lab.Root, pb: Path, *options: str):
    return provision("apply", str(pb), "-H", root.target, "--json", *options, env=NO_ENV_PROXY)


def unchanged(root: lab.Root) -> bool:
    """Nothing written outside provision's own state directory (its journal of the failed run)."""
    return [p for p in root.changed_paths() if not p.startswith("/var/lib/provision/")] == []


def secret_free(*results) -> None:
    for r in results:
        assert SECRET not in r.stdout and SECRET not in r.stderr


def test_the_key_is_fetched_through_the_proxy_with_the_given_ca(root, pki, repo, proxy, servers, tmp_path):
    pb = playbook(tmp_path, repo, f"{servers['main']}/key.asc")
    direct = apply(root, pb, "--fetch-ca", str(pki["dir"] / "ca.pem"))
    assert direct.rc == 1 and unchanged(root), direct  # the server answers the proxy only
    del proxy.seen[:]
    result = apply(root, pb, "--fetch-ca", str(pki["dir"] / "ca.pem"), "--fetch-proxy", proxy.url)
    assert result.rc == 0, result
    assert proxy.seen == [servers["main"].removeprefix("https://")], proxy.seen
    assert root.file(KEYRING).read_text() == repo.key()
    secret_free(direct, result)
    for f in root.file("/var/lib/provision").rglob("*"):  # the recorded command line: no login
        assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f
    # the same through the environment (a login kept off the command line)
    again = provision("apply", str(pb), "-H", root.target, "--json",
                      env={**NO_ENV_PROXY, "PROVISION_FETCH_CA": str(pki["dir"] / "ca.pem"),
                           "PROVISION_FETCH_PROXY": proxy.url})
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again


def test_without_the_ca_one_line_names_the_certificate_problem_and_nothing_changes(root, repo, proxy, servers,
                                                                                  tmp_path):
    pb = playbook(tmp_path, repo, f"{servers['main']}/key.asc")
    del proxy.seen[:]
    result = apply(root, pb, "--fetch-proxy", proxy.url)
    assert result.rc == 1, result
    assert proxy.seen, "it went through the proxy"
    failed = [r for r in result.json["hosts"][0]["resources"] if r["status"] == "failed"]
    reason = failed[0]["reason"]
    assert "TLS certificate check failed: unable to get local issuer certificate" in reason, reason
    assert "--fetch-ca" in reason and "\n" not in reason
    assert unchanged(root), root.changed_paths()
    secret_free(result)


@pytest.mark.parametrize("path, says", [("/to-http", "leaves https"),
                                        ("/elsewhere", "TLS certificate check failed: IP address mismatch")])
def test_a_redirect_cannot_lower_the_check(root, pki, repo, proxy, servers, tmp_path, path, says):
    pb = playbook(tmp_path, repo, f"{servers['main']}{path}")
    result = apply(root, pb, "--fetch-ca", str(pki["dir"] / "ca.pem"), "--fetch-proxy", proxy.url)
    assert result.rc == 1, result
    failed = [r for r in result.json["hosts"][0]["resources"] if r["status"] == "failed"]
    assert says in failed[0]["reason"], failed
    assert unchanged(root), root.changed_paths()
    secret_free(result)


def test_a_bad_fetch_option_is_a_usage_error_that_never_quotes_the_login(root, repo, tmp_path):
    pb = playbook(tmp_path, repo, "https://127.0.0.1:1/key.asc")
    bad = apply(root, pb, "--fetch-proxy", f"http://u:{SECRET}\"@127.0.0.1:1")
    assert bad.rc == 2 and "--fetch-proxy" in bad.stderr, bad
    missing = apply(root, pb, "--fetch-ca", str(tmp_path / "nope.pem"))
    assert missing.rc == 2 and "not a readable PEM bundle" in missing.stderr, missing
    secret_free(bad, missing)
    assert unchanged(root)
