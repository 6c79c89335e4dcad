"""Issue 18, controller-side input: key fetching follows only https redirects (every hop checked
before it is contacted, at most keyfetch.MAX_REDIRECTS), ``export cloud-init -o`` does not make
secrets world-readable, and YAML values no loader can build (an invalid date, an int past Python's
4300 digits, …) are a one-line ``file:line`` error with exit 2 wherever YAML is read: playbook,
``-e key=value``, ``-e @file``, inventory (YAML and INI)."""

from __future__ import annotations

import http.server
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

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


# --------------------------------------------------------------------------- export cloud-init -o

SECRET = "db_password=hunter2\n"


def _under_umask(umask: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "provision", *args], cwd=cwd, capture_output=True,
                          stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)},
                          preexec_fn=lambda: os.umask(umask), timeout=120)


@pytest.fixture
def secret_playbook(tmp_path) -> Path:
    (tmp_path / "app.conf").write_text(SECRET)
    (tmp_path / "app.conf").chmod(0o600)
    (tmp_path / "playbook.yml").write_text("""\
name: a secret inside
resources:
  - template:
      src: app.conf
      dest: /etc/app.conf
      mode: "0600"
""")
    return tmp_path


@pytest.mark.parametrize("umask", [0o077, 0o022, 0o002])
def test_exported_user_data_with_secrets_inside_is_0600_whatever_the_umask(secret_playbook, umask):
    out = secret_playbook / "user-data"
    r = _under_umask(umask, "export", "cloud-init", "playbook.yml", "--facts", "os=debian-12", "-o", str(out),
                     cwd=secret_playbook)
    assert r.returncode == 0, r
    assert SECRET.strip() in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_symlink_at_the_output_path_is_replaced_not_written_through(secret_playbook):
    elsewhere = secret_playbook / "elsewhere"
    elsewhere.write_text("not yours\n")
    elsewhere.chmod(0o644)
    link = secret_playbook / "user-data"
    link.symlink_to(elsewhere)
    r = _under_umask(0o022, "export", "cloud-init", "playbook.yml", "--facts", "os=debian-12", "-o", str(link),
                     cwd=secret_playbook)
    assert r.returncode == 0, r
    assert elsewhere.read_text() == "not yours\n" and stat.S_IMODE(elsewhere.stat().st_mode) == 0o644
    assert not link.is_symlink() and SECRET.strip() in link.read_text()


def test_other_written_files_honour_the_umask(tmp_path):
    out = tmp_path / "schema.json"
    r = _under_umask(0o077, "schema", "-o", str(out), cwd=REPO)
    assert r.returncode == 0, r
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
