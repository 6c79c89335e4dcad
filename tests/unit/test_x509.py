"""The CA certificate check (provision.formats.x509) and the ca_certificate spec, from data files:
exactly one CERTIFICATE block with CA:TRUE, nothing around it (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from provision.formats import x509
from provision.resources.ca_certificate import CaCertificateSpec

DATA = Path(__file__).parent / "data/x509"
CASES = yaml.safe_load((DATA / "cases.yml").read_text())
CA_SHA256 = "f8beaee069307e10d04a63ad337bf6dcac6bb7344d2f89ee00b93dc25ab3214c"


def test_every_data_file_has_a_case():
    assert sorted(p.name for p in DATA.glob("*.pem")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_ca(name: str):
    data, want = (DATA / name).read_bytes(), CASES[name]
    if want == "ok":
        cert = x509.parse_ca(data)
        assert cert.sha256 == CA_SHA256
        assert cert.alias == "provision-" + CA_SHA256[:16]
        assert cert.subject == "CN=Unit Test Root CA"
        assert x509.parse_ca(cert.pem()) == cert  # what is written is the DER that was checked, re-armored
        return
    with pytest.raises(x509.CertError) as exc:
        x509.parse_ca(data)
    assert want in str(exc.value)


@pytest.mark.parametrize("name", sorted(n for n, w in CASES.items() if w != "ok"))
def test_the_spec_refuses_an_inline_pem_when_the_playbook_loads(name: str):
    with pytest.raises(ValidationError) as exc:
        CaCertificateSpec(name="corp", pem=(DATA / name).read_text(errors="replace"))
    assert CASES[name].split(" (")[0] in str(exc.value) or "ASCII" in str(exc.value)


def test_the_pin_is_checked_for_an_inline_pem():
    pem = (DATA / "ca.pem").read_text()
    colons = ":".join(CA_SHA256[i:i + 2] for i in range(0, 64, 2)).upper()
    assert CaCertificateSpec(name="corp", pem=pem, sha256=colons).sha256 == CA_SHA256
    with pytest.raises(ValidationError, match="not the pinned"):
        CaCertificateSpec(name="corp", pem=pem, sha256="00" * 32)


@pytest.mark.parametrize("values, message", [
    ({"name": "corp"}, "exactly one of pem, file, url"),
    ({"name": "corp", "url": "https://pki.example/ca.pem"}, "url needs sha256"),
    ({"name": "corp", "url": "http://pki.example/ca.pem", "sha256": "ab" * 32}, "https"),
    ({"name": "corp", "file": "ca.pem", "url": "https://x/ca.pem", "sha256": "ab" * 32}, "exactly one"),
    ({"name": "../etc/x", "file": "ca.pem"}, "a file name"),
    ({"name": "corp", "file": "ca.pem", "sha256": "xyz"}, "not a SHA-256 fingerprint"),
])
def test_bad_specs(values: dict, message: str):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        CaCertificateSpec(**values)


def test_absent_needs_no_source():
    assert CaCertificateSpec(name="corp", state="absent").state == "absent"
