"""Test certificates made with openssl: a root CA and a server certificate it signs (EC P-256,
30 days), the shape a company's TLS-inspecting CA has."""

from __future__ import annotations

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
