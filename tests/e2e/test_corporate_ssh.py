"""Issue 20 over real SSH: the company CA and its proxy applied to a booted lab host (its own sshd
on 127.0.0.N, Debian 12 with OpenJDK 17, Debian's tinyproxy running inside it). Before: a Java
HTTPS client fails with PKIX and goes direct; after: verify is green (the CA in the JDK's
truststore by keytool, the proxy in net.properties) and the client's request goes through the
proxy (tinyproxy's log shows the CONNECT) to a Python ssl server whose certificate the test's
own CA signed; a second apply changes nothing."""

from __future__ import annotations

import http.server
import random
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest
from conftest import provision
from lab import pki as certs

pytestmark = pytest.mark.lab

NAME = "corp.lab"  # the JDK never proxies a loopback address: the client asks by name
LOG = "/var/log/tinyproxy/lab.log"
GET = """\
import java.net.*;
import javax.net.ssl.*;

public class Get {
    public static void main(String[] args) throws Exception {
        HttpsURLConnection c = (HttpsURLConnection) URI.create(args[0]).toURL().openConnection();
        try {
            System.out.println("status " + c.getResponseCode() + " proxied " + c.usingProxy());
        } catch (SSLHandshakeException e) {
            System.out.println("handshake failed: " + e.getMessage());
        }
    }
}
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corppki")
    certs.root_ca(d, "Corp SSH Test Root")
    certs.server_cert(d, NAME, f"DNS:{NAME}")
    return d


@pytest.fixture(scope="module")
def https(pki: Path) -> Iterator[tuple[str, int]]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
            pass  # the client that does not trust the CA yet ends the handshake

    server = Quiet((certs.loopback_ip(), 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def base() -> Path:
    # the recipe of tests/e2e/test_proxy.py's Debian 12 base (the same cached root)
    return lab.ensure_base("proxy", parent="base", packages=("openjdk-17-jdk-headless", "tinyproxy", "maven"))


def test_ca_and_proxy_over_ssh_reach_the_jdk_on_a_booted_host(fleet_factory, base, pki, https, tmp_path):
    fleet = fleet_factory(1, base=base)
    host = fleet.hosts[0]
    ip, port = https
    proxy_ip, proxy_port = certs.loopback_ip(), random.randint(20000, 60000)
    with host.root.file("/etc/hosts").open("a") as fh:
        fh.write(f"{ip} {NAME}\n")
    host.root.file("/etc/tinyproxy/lab.conf").write_text(
        f"User tinyproxy\nGroup tinyproxy\nPort {proxy_port}\nListen {proxy_ip}\nTimeout 60\nLogFile \"{LOG}\"\n"
        f"LogLevel Info\nMaxClients 20\nAllow 127.0.0.0/8\nDisableViaHeader Yes\n")
    host.root.file("/srv/Get.java").write_text(GET)
    host.sh(f"mkdir -p /var/log/tinyproxy && : > {LOG} && chown tinyproxy {LOG} && "
            "tinyproxy -c /etc/tinyproxy/lab.conf")  # a daemon of the host's: it ends with the host
    url = f"https://{NAME}:{port}/"

    def get() -> str:
        r = host.ssh(f"cd /srv && java Get.java {url} 2>&1")
        return (r.stdout + r.stderr).decode(errors="replace")

    before = get()
    assert "PKIX path building failed" in before and "CONNECT" not in host.root.file(LOG).read_text(), before

    (tmp_path / "corp-root.pem").write_bytes((pki / "ca.pem").read_bytes())
    pb = tmp_path / "corp.yml"
    pb.write_text("name: corporate over ssh\nresources:\n  - ca_certificate: {name: corp-root, file: corp-root.pem}\n"
                  f"  - proxy: {{url: \"http://{proxy_ip}:{proxy_port}\", no_proxy: [localhost], maven: false}}\n")
    ssh = ["-H", host.name, "--ssh-config", str(fleet.ssh_config), "--known-hosts", str(fleet.known_hosts)]
    first = provision("apply", str(pb), *ssh, "--json")
    assert first.rc == 0, first
    assert [r["type"] for r in first.json["hosts"][0]["resources"]][:2] == ["ca_certificate", "proxy"], first.json

    verify = provision("verify", str(pb), *ssh, "--json")
    assert verify.rc == 0, verify
    names = [c["name"] for c in verify.json["hosts"][0]["checks"]]
    assert any("keytool" in n or "truststore" in n or "cacerts" in n for n in names), names
    assert any("net.properties" in n for n in names), names

    after = get()
    assert "status 200 proxied true" in after, after
    assert f"CONNECT {NAME}:{port}" in host.root.file(LOG).read_text(), host.root.file(LOG).read_text()
    # the system bundle too: curl is not installed here, so openssl's own check of the server
    check = host.ssh(f"openssl s_client -connect {ip}:{port} -servername {NAME} -verify_return_error "
                     f"-CAfile /etc/ssl/certs/ca-certificates.crt </dev/null 2>&1 | grep -c 'Verify return code: 0'")
    # TLS 1.3: the session block (and its verify line) is printed again for each ticket the server sends
    assert int(check.stdout.decode().strip() or 0) >= 1, check

    second = provision("apply", str(pb), *ssh, "--json")
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
