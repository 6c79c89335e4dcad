"""Test certificates made with openssl: a root CA and a server certificate it signs (EC P-256,
30 days), the shape a company's TLS-inspecting CA has."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def root_ca(d: Path, cn: str, name: str = "ca") -> Path:
    """``d/<name>.pem`` (and its key ``d/<name>.key``): a self-signed root CA called ``cn``."""
    openssl("req", "-x509", *_EC, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"), "-days", "30",
            "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return d / f"{name}.pem"


def server_cert(d: Path, cn: str, alt_name: str) -> Path:
    """``d/server.pem`` (key ``d/server.key``) for ``alt_name`` (``IP:…`` or ``DNS:…``), signed
    by ``d/ca.pem``."""
    openssl("req", *_EC, "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"), "-subj", f"/CN={cn}")
    (d / "ext").write_text(f"basicConstraints=CA:FALSE\nsubjectAltName={alt_name}\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
            "-CAcreateserial", "-out", str(d / "server.pem"), "-days", "30", "-extfile", str(d / "ext"))
    return d / "server.pem"


def other_ca(d: Path) -> Path:
    """``d/other-ca.pem`` (key ``d/other.key``): a CA that is not the company's, for refusals."""
    openssl("req", "-x509", *_EC, "-keyout", str(d / "other.key"), "-out", str(d / "other-ca.pem"), "-days", "30",
            "-subj", "/CN=Not The Corp Root", "-addext", "basicConstraints=critical,CA:TRUE")
    return d / "other-ca.pem"


def loopback_ip() -> str:
    """A random 127.x address (tests that run at once rarely pick the same one)."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


def fetch_java(name: str) -> str:
    """A single-file Java program ``name`` that GETs its argument over HTTPS with the JDK's own
    HttpClient and prints ``status N``, or dies with Java's error (PKIX path building failed)."""
    return f"""\
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class {name} {{
    public static void main(String[] args) throws Exception {{
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(args[0])).build(),
                                             HttpResponse.BodyHandlers.ofString());
        System.out.println("status " + r.statusCode());
    }}
}}
"""
