"""A CA certificate from the Windows store through powershell.exe (provision.wincert), from data
files holding the bytes powershell.exe writes; and the ca_certificate spec's windows_store."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from provision import wincert
from provision.formats import x509
from provision.resources.ca_certificate import CaCertificate, CaCertificateSpec, NotExportable

DATA = Path(__file__).parent / "data/wincert"
CA = x509.parse_ca((Path(__file__).parent / "data/x509/ca.pem").read_bytes())
THUMB = hashlib.sha1(CA.der).hexdigest().upper()
CASES = yaml.safe_load((DATA / "cases.yml").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_powershell_output(name: str):
    data, want, thumb = (DATA / name).read_bytes(), CASES[name], THUMB
    if isinstance(want, dict):
        pem = (DATA / want["thumbprint_of"]).read_text()
        der = base64.b64decode("".join(ln for ln in pem.splitlines() if not ln.startswith("-----")))
        want, thumb = want["expect"], hashlib.sha1(der).hexdigest().upper()
    if want == "ok":
        assert wincert.certificate(data, thumb) == CA
    else:
        with pytest.raises(x509.CertError) as exc:
            wincert.certificate(data, thumb)
        assert want in str(exc.value)
        assert "\x1b" not in str(exc.value) and "\n" not in str(exc.value)


def test_every_data_file_is_a_case():
    assert sorted(p.name for p in DATA.glob("*.out")) == sorted(CASES)


def test_the_command_selects_by_thumbprint_and_ends_with_its_marker():
    cmd = wincert.command("LocalMachine", "Root", THUMB)
    assert "Get-ChildItem -LiteralPath 'Cert:\\LocalMachine\\Root'" in cmd
    assert f"$_.Thumbprint -eq '{THUMB}'" in cmd and cmd.endswith("'provision-cert-end'")


def test_windows_store_needs_a_pin_and_a_thumbprint():
    with pytest.raises(ValidationError, match="windows_store needs sha256"):
        CaCertificateSpec(name="corp", windows_store={"thumbprint": THUMB})
    with pytest.raises(ValidationError, match="not a certificate thumbprint"):
        CaCertificateSpec(name="corp", windows_store={"thumbprint": "b5b8'; rm -rf /"}, sha256=CA.sha256)
    with pytest.raises(ValidationError, match="exactly one of pem, file, url, windows_store"):
        CaCertificateSpec(name="corp", windows_store={"thumbprint": THUMB}, sha256=CA.sha256, pem=CA.pem().decode())
    spec = CaCertificateSpec(name="corp", windows_store={"thumbprint": THUMB.lower()[:20] + " " + THUMB[20:]},
                             sha256=CA.sha256)
    assert spec.windows_store is not None and spec.windows_store.thumbprint == THUMB


def test_windows_store_is_not_exportable():
    from provision import cloudinit
    from provision.cloudinit import CloudConfig

    spec = CaCertificateSpec(name="corp", windows_store={"thumbprint": THUMB}, sha256=CA.sha256)
    with pytest.raises(NotExportable, match="windows_store: the certificate is read from the Windows store"):
        CaCertificate(spec).export(CloudConfig(cloudinit.ExportFacts("debian-12").host()))


def test_more_output_than_a_certificate_is_refused():
    data = (DATA / "utf16-bom-crlf.out").read_bytes()
    padded = data + " \r\n".encode("utf-16-le") * (wincert.MAX_OUTPUT // 6 + 1)
    with pytest.raises(x509.CertError, match=f"printed more than {wincert.MAX_OUTPUT} bytes"):
        wincert.certificate(padded, THUMB)
