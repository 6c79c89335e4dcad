"""ca_certificate in cloud-init user data: cloud-init's ca_certs, and a first-boot check (run here
by the real sh and awk) that the system bundle holds the certificate (issue 20)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provision import cloudinit
from provision.cloudinit import CloudConfig, NotExportable
from provision.resources.ca_certificate import BUNDLE, CaCertificate, CaCertificateSpec

CA = (Path(__file__).parent / "data/x509/ca.pem").read_text()
OTHER = (Path(__file__).parent / "data/x509/leaf-ca-false.pem").read_text()


def exported(**values: object) -> dict:
    out = CloudConfig(cloudinit.ExportFacts("debian-12").host())
    CaCertificate(CaCertificateSpec(name="corp", **values)).export(out)
    return out.document()


def test_the_ca_becomes_ca_certs_and_a_first_boot_check(tmp_path: Path):
    doc = exported(pem=CA)
    assert doc["ca_certs"] == {"trusted": [CA.replace("\r\n", "\n")]}
    check = doc["runcmd"][-1]
    assert check[:2] == ["sh", "-c"] and check[4] == BUNDLE
    bundle = tmp_path / "bundle.crt"
    for content, rc in ((OTHER + CA.replace("\n", "\r\n"), 0), (OTHER, 1)):
        bundle.write_text(content)
        argv = [*check[:4], str(bundle), *check[5:]]
        assert subprocess.run(argv, capture_output=True).returncode == rc


def test_absent_is_not_exportable():
    with pytest.raises(NotExportable, match="does not remove"):
        exported(state="absent")
