"""Issue 20: a company CA trusted by curl and by every JDK, proven by real TLS handshakes inside a
lab Debian 12 root with OpenJDK 17 (and a tarball-shaped JDK with its own cacerts file); then
removed exactly; hostile certificates, pins and a planted link refused with the host unchanged."""

from __future__ import annotations

import hashlib
import http.server
import random
import socket
import ssl
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest
from conftest import provision
from lab import pki as certs
from lab.pki import openssl

pytestmark = pytest.mark.lab

TARJDK = "/opt/tarjdk"
CRT = "/usr/local/share/ca-certificates/corp.crt"
PROBE = certs.fetch_java("Probe")


@pytest.fixture(scope="module")
def base() -> Path:
    return lab.ensure_base("cacert", parent="base", packages=("openjdk-17-jdk-headless", "curl"))


@pytest.fixture(scope="module")
def base13() -> Path:
    """Debian 13 with its OpenJDK 21 (and its ca-certificates-java, which may only queue a trigger)."""
    return lab.ensure_base("cacert13", parent="trixie", suite="trixie", packages=("openjdk-21-jdk-headless", "curl"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path | str]:
    """A root CA and a server certificate for a loopback address, made here with openssl."""
    d = tmp_path_factory.mktemp("pki")
    ip = certs.loopback_ip()
    certs.root_ca(d, "Corp Test Root")
    certs.server_cert(d, ip, f"IP:{ip}")
    certs.other_ca(d)
    return {"dir": d, "ip": ip, "port": str(random.randint(20000, 60000))}


def tls_root(base: Path, pki) -> Iterator[lab.Root]:
    with lab.Root(base, name="cacert") as r:
        # a tarball-shaped JDK: a copy of the distribution's, with a cacerts file of its own
        r.sh(f"cp -a /usr/lib/jvm/java-[0-9][0-9]-openjdk-amd64 {TARJDK} && rm {TARJDK}/lib/security/cacerts && "
             f"cp /etc/ssl/certs/java/cacerts {TARJDK}/lib/security/cacerts")
        srv = r.file("/srv/tls")
        srv.mkdir(parents=True)
        for f in ("server.pem", "server.key"):
            (srv / f).write_bytes((pki["dir"] / f).read_bytes())
        (srv / "Probe.java").write_text(PROBE)
        yield r


@pytest.fixture
def root(base: Path, pki) -> Iterator[lab.Root]:
    yield from tls_root(base, pki)


@pytest.fixture
def root13(base13: Path, pki) -> Iterator[lab.Root]:
    yield from tls_root(base13, pki)


def handshakes(root: lab.Root, pki) -> dict[str, str]:
    """A real TLS server (openssl s_server) on a loopback address inside the root, and what curl
    and java (single-file launch, the distribution's JDK and the tarball one) make of it."""
    ip, port = pki["ip"], pki["port"]
    url = f"https://{ip}:{port}/"
    grep = "grep -m1 -o -e 'status [0-9]*' -e 'PKIX path building failed'"
    out = root.out(textwrap.dedent(f"""\
        cd /srv/tls
        openssl s_server -quiet -accept {ip}:{port} -cert server.pem -key server.key -www </dev/null >/dev/null 2>&1 &
        pid=$!
        i=0
        until bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>/dev/null || [ $i -gt 100 ]; do i=$((i+1)); sleep 0.1; done
        curl -sS -o /dev/null {url} 2>/dev/null; echo "curl=$?"
        echo "java=$(java Probe.java {url} 2>&1 | {grep})"
        echo "tarjdk=$({TARJDK}/bin/java Probe.java {url} 2>&1 | {grep})"
        kill $pid
    """))
    return dict(line.split("=", 1) for line in out.splitlines() if line.split("=")[0] in ("curl", "java", "tarjdk"))


def playbook(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "ca.yml"
    p.write_text("name: corporate CA\nresources:\n  - ca_certificate:\n" + textwrap.indent(body, "      "))
    return p


def store_aliases(root: lab.Root, store: str) -> list[str]:
    out = root.out(f"keytool -list -keystore {store} -storepass changeit 2>/dev/null")
    return sorted(line.split(",")[0] for line in out.splitlines() if "trustedCertEntry" in line)


def test_the_ca_is_trusted_by_curl_and_every_jdk_then_removed_exactly(root, pki, tmp_path):
    trusted_then_removed(root, pki, tmp_path)


def test_on_debian_13_too(root13, pki, tmp_path):
    trusted_then_removed(root13, pki, tmp_path)


def trusted_then_removed(root: lab.Root, pki, tmp_path: Path) -> None:
    untrusted = {"curl": "60", "java": "PKIX path building failed", "tarjdk": "PKIX path building failed"}
    assert handshakes(root, pki) == untrusted
    before = {s: store_aliases(root, s) for s in ("/etc/ssl/certs/java/cacerts", f"{TARJDK}/lib/security/cacerts")}

    (tmp_path / "corp-root.pem").write_bytes((pki["dir"] / "ca.pem").read_bytes())
    pb = playbook(tmp_path, "name: corp\nfile: corp-root.pem\n")
    first = provision("apply", str(pb), "-H", root.target, "--json")
    assert first.rc == 0, first
    assert first.json["hosts"][0]["changed"] == 1, first
    assert handshakes(root, pki) == {"curl": "0", "java": "status 200", "tarjdk": "status 200"}

    der = subprocess.run(["openssl", "x509", "-in", str(pki["dir"] / "ca.pem"), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    alias = "provision-" + hashlib.sha256(der).hexdigest()[:16]
    listed = root.out(f"{TARJDK}/bin/keytool -list -cacerts -storepass changeit -alias {alias}")
    assert "trustedCertEntry" in listed, listed
    assert "trustedCertEntry" in root.out("keytool -list -cacerts -storepass changeit -alias debian:corp.pem")

    second = provision("apply", str(pb), "-H", root.target, "--json")
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    verify = provision("verify", str(pb), "-H", root.target)
    assert verify.rc == 0, verify

    gone = playbook(tmp_path, "name: corp\nstate: absent\n")
    removed = provision("apply", str(gone), "-H", root.target, "--json")
    assert removed.rc == 0 and removed.json["hosts"][0]["changed"] == 1, removed
    assert handshakes(root, pki) == untrusted
    assert not root.file(CRT).exists()
    assert {s: store_aliases(root, s) for s in before} == before  # every other alias is left
    assert "corp.pem" not in root.out("ls -la /etc/ssl/certs")
    again = provision("apply", str(gone), "-H", root.target, "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again


def trust_state(root: lab.Root) -> dict[str, str]:
    paths = ["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/java/cacerts", f"{TARJDK}/lib/security/cacerts",
             "/etc/victim"]
    out = {p: hashlib.sha256(root.file(p).read_bytes()).hexdigest() for p in paths if root.file(p).exists()}
    out["local"] = ",".join(sorted(p.name for p in root.file("/usr/local/share/ca-certificates").iterdir()))
    return out


@pytest.fixture
def hostile(pki) -> dict[str, str]:
    d = pki["dir"]
    return {"two certificates": (d / "ca.pem").read_text() + (d / "server.pem").read_text(),
            "a certificate and its private key": (d / "ca.pem").read_text() + (d / "ca.key").read_text(),
            "a server (non-CA) certificate": (d / "server.pem").read_text()}


@pytest.mark.parametrize("case", ["two certificates", "a certificate and its private key",
                                  "a server (non-CA) certificate"])
def test_a_hostile_pem_is_refused_when_the_playbook_loads(root, hostile, case, tmp_path):
    before = trust_state(root)
    pb = playbook(tmp_path, "name: corp\npem: |\n" + textwrap.indent(hostile[case], "  "))
    result = provision("apply", str(pb), "-H", root.target)
    assert result.rc == 2, result
    assert "something follows the certificate" in result.stderr or "not a CA certificate" in result.stderr, result
    assert trust_state(root) == before


@pytest.fixture
def served(pki) -> Iterator[str]:
    """An http server on 127.0.0.1 (allowed for tests, like key_url) serving a
    CA certificate at /ca.pem: another CA than the one the playbook pins."""
    body = (pki["dir"] / "other-ca.pem").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ca.pem"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_whose_certificate_is_not_the_pinned_one_is_refused(root, pki, served, tmp_path):
    der = subprocess.run(["openssl", "x509", "-in", str(pki["dir"] / "ca.pem"), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    before = trust_state(root)
    pb = playbook(tmp_path, f"name: corp\nurl: {served}\nsha256: {hashlib.sha256(der).hexdigest()}\n")
    result = provision("apply", str(pb), "-H", root.target, "--json")
    assert result.rc == 1, result
    reason = result.json["hosts"][0]["resources"][0]["reason"]
    assert "not the pinned" in reason, reason
    assert "nothing was written" in reason
    assert trust_state(root) == before


def test_a_link_a_user_planted_at_the_crt_path_is_refused(root, pki, tmp_path):
    # a user who can write the directory (a site made it group-writable for its admins, say)
    root.sh("useradd -m mallory && chown root:mallory /usr/local/share/ca-certificates && "
            "chmod 2775 /usr/local/share/ca-certificates && echo victim > /etc/victim && "
            "su mallory -s /bin/sh -c 'ln -s /etc/victim /usr/local/share/ca-certificates/corp.crt'")
    before = trust_state(root)
    pb = playbook(tmp_path, "name: corp\npem: |\n" + textwrap.indent((pki["dir"] / "ca.pem").read_text(), "  "))
    result = provision("apply", str(pb), "-H", root.target, "--json")
    assert result.rc == 1, result
    reason = result.json["hosts"][0]["resources"][0]["reason"]
    assert "symbolic link" in reason, reason
    assert trust_state(root) == before
    assert root.file("/etc/victim").read_text() == "victim\n"
    assert root.file(CRT).is_symlink()


def test_a_url_is_fetched_by_apply_only_so_plan_works_offline(root, pki, tmp_path):
    """Issue 20 item 4: nothing listens at the URL; plan and --check name the URL and the pin, apply
    fails in one line with the host as it was."""
    der = subprocess.run(["openssl", "x509", "-in", str(pki["dir"] / "ca.pem"), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    sha = hashlib.sha256(der).hexdigest()
    before, written = trust_state(root), root.changed_paths()
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/corp.pem"
        pb = playbook(tmp_path, f"name: corp\nurl: {url}\nsha256: {sha}\n")
        for command in (["plan"], ["apply", "--check"]):
            r = provision(*command, str(pb), "-H", root.target, "--json")
            assert r.rc == 0, r
            summaries = [c["summary"] for c in r.json["hosts"][0]["resources"][0]["changes"]]
            assert summaries[:2] == [f"create {CRT}: fetch {url}, pin {sha}", "run update-ca-certificates"], summaries
            assert f"import it into {TARJDK}/lib/security/cacerts as provision-{sha[:16]}" in summaries, summaries
        applied = provision("apply", str(pb), "-H", root.target)
        assert applied.rc == 1, applied
        assert f"could not fetch the certificate from {url} (on this machine): [Errno 111] Connection refused" \
            in applied.stderr, applied
    assert trust_state(root) == before
    assert [p for p in root.changed_paths() if not p.startswith("/var/lib/provision/")] == written


@pytest.fixture
def https(pki) -> Iterator[str]:
    """A Python ssl HTTPS server on the test's loopback address with the CA-signed certificate."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((pki["ip"], 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["dir"] / "server.pem", pki["dir"] / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{pki['ip']}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def checks_of(result) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["message"]) for c in result.json["hosts"][0]["checks"]}


def test_verify_checks_each_jdk_store_and_a_real_handshake_naming_the_jdk_that_lacks_it(root, pki, https, tmp_path):
    """Issue 20 item 5: per JDK, its store holds the alias (keytool -list -alias) and its java
    completes a TLS handshake with check_url, as curl does; the alias deleted by hand from the
    tarball JDK's store fails verify naming that JDK (and PKIX), the distribution's JDK still passes."""
    (tmp_path / "corp-root.pem").write_bytes((pki["dir"] / "ca.pem").read_bytes())
    pb = playbook(tmp_path, f"name: corp\nfile: corp-root.pem\ncheck_url: {https}\n")
    before = provision("verify", str(pb), "-H", root.target, "--json")
    assert before.rc == 1, before
    applied = provision("apply", str(pb), "-H", root.target, "--json")
    assert applied.rc == 0, applied

    ok = provision("verify", str(pb), "-H", root.target, "--json")
    assert ok.rc == 0, ok
    checks = checks_of(ok)
    distro = "/usr/lib/jvm/java-17-openjdk-amd64"
    store = f"{TARJDK}/lib/security/cacerts"
    names = [f"ca_certificate: JDK {TARJDK} trusts it ({store})",
             f"ca_certificate: /etc/ssl/certs/java/cacerts holds it (JDKs linked to it: {distro})",
             f"ca_certificate: curl completes a TLS handshake with {https}",
             f"ca_certificate: java of JDK {distro} completes a TLS handshake with {https}",
             f"ca_certificate: java of JDK {TARJDK} completes a TLS handshake with {https}"]
    for name in names:
        assert checks.get(name, ("missing",))[0] == "passed", (name, checks)
    assert "handshake ok, HTTP 200" in checks[names[-1]][1], checks

    der = subprocess.run(["openssl", "x509", "-in", str(pki["dir"] / "ca.pem"), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    alias = "provision-" + hashlib.sha256(der).hexdigest()[:16]
    root.sh(f"{TARJDK}/bin/keytool -delete -keystore {store} -storepass changeit -alias {alias}")
    bad = provision("verify", str(pb), "-H", root.target, "--json")
    assert bad.rc == 1, bad
    checks = checks_of(bad)
    status, message = checks[names[0]]
    assert status == "failed" and f"JDK {TARJDK} does not trust CA corp" in message, message
    assert f"has no alias {alias}" in message and "PKIX path building failed" in message, message
    status, message = checks[names[-1]]
    assert status == "failed" and f"java of JDK {TARJDK}: \"PKIX path building failed\"" in message, message
    assert f"its truststore {store} does not hold" in message, message
    assert [checks[n][0] for n in names[1:4]] == ["passed"] * 3, checks
    human = provision("verify", str(pb), "-H", root.target)
    assert human.rc == 1 and f"JDK {TARJDK} does not trust CA corp" in human.stderr, human
    doctor = provision("doctor", "-H", root.target, "--json")  # no playbook: the local CAs against each store
    found = [f for f in doctor.json["hosts"][0]["findings"] if f["check"] == "CA"]
    assert [f["status"] for f in found] == ["warn"], found
    assert found[0]["summary"].startswith(f"JDK {TARJDK} does not trust CA CN=Corp Test Root ({CRT}): its own "
                                          f"cacerts {store} lacks it"), found
    assert "PKIX path building failed" in found[0]["summary"], found


def test_hostile_names_from_the_target_are_shown_escaped(root, pki, https, tmp_path):
    """A JDK directory whose name holds terminal escapes (a window title, a screen clear), an alias
    of escapes in a store, and a CA whose subject holds them: apply's, verify's and doctor's output
    show them escaped, never raw."""
    evil = "/opt/evil\x1b]0;pwned\x07\x1b[2Jjdk"
    root.sh(f"d=$(printf '{evil}') && cp -al {TARJDK} \"$d\" && rm \"$d/lib/security/cacerts\" && "
            f"cp {TARJDK}/lib/security/cacerts \"$d/lib/security/cacerts\"")
    d = pki["dir"]
    # and an alias of escapes in the tarball JDK's store (keytool keeps it): aliases are never shown
    root.file("/srv/tls/other.pem").write_bytes((d / "other-ca.pem").read_bytes())
    root.sh(f"{TARJDK}/bin/keytool -importcert -noprompt -keystore {TARJDK}/lib/security/cacerts -storepass "
            "changeit -file /srv/tls/other.pem -alias \"$(printf 'x\\033]0;alias\\007\\033[2J')\"")
    assert "\x1b]0;alias" in root.out(f"{TARJDK}/bin/keytool -list -keystore {TARJDK}/lib/security/cacerts "
                                       "-storepass changeit")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            str(d / "evil.key"), "-out", str(d / "evil.pem"), "-days", "3", "-utf8",
            "-subj", "/CN=Evil\x1b]0;pwned\x07\x1b[2JRoot", "-addext", "basicConstraints=critical,CA:TRUE")
    (tmp_path / "evil.pem").write_bytes((d / "evil.pem").read_bytes())
    pb = playbook(tmp_path, f"name: evil\nfile: evil.pem\ncheck_url: {https}\n")
    applied = provision("apply", str(pb), "-H", root.target)
    assert applied.rc == 0, applied
    der = subprocess.run(["openssl", "x509", "-in", str(d / "evil.pem"), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    root.sh(f"{TARJDK}/bin/keytool -delete -keystore {TARJDK}/lib/security/cacerts -storepass changeit "
            f"-alias provision-{hashlib.sha256(der).hexdigest()[:16]}")
    verified = provision("verify", str(pb), "-H", root.target)
    assert verified.rc == 1, verified  # the tarball JDK lacks it now; the evil CA does not sign the server
    doctor = provision("doctor", "-H", root.target)  # the subject is read from the .crt on the target
    assert f"JDK {TARJDK} does not trust CA CN=Evil" in doctor.stderr, doctor
    for r in (applied, verified, doctor):
        assert "\x1b" not in r.stderr and "\x07" not in r.stderr, r
        assert "\\x1b]0;pwned\\x07\\x1b[2J" in r.stderr or "\\x1b]0\\;pwned\\x07\\x1b[2J" in r.stderr, r
