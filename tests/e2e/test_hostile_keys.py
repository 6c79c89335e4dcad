"""Issue 18, item 2, on Debian 13 lab roots (apt 3 with sqv) and the loopback signed repository of
tests/lab/aptrepo.py: a key file that pins the repository's key but carries a second key (a second
armored block, a foreign subkey, binary and armor mixed, a block hidden after the checksum) is
refused before anything is written, because apt would trust the second key too: the repository
here is signed only by that second key, so on the old code its package installed."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import lab
import pytest
from conftest import lab_or_skip, provision
from lab import aptrepo

from provision.formats.openpgp import armor

pytestmark = pytest.mark.lab

KEYRING = "/etc/apt/keyrings/lab.asc"
SOURCE = "/etc/apt/sources.list.d/lab.sources"
OTHER = "x@example.invalid"  # the uid aptrepo gives the key a signer="other" repository signs with


@pytest.fixture(scope="module")
def trixie_root():
    lab_or_skip()
    return lab.trixie_base()


@pytest.fixture(scope="module")
def hello_deb(tmp_path_factory) -> Path:
    """A tiny package (a file in /usr/share/lab-hello): what the repository serves."""
    stage = tmp_path_factory.mktemp("hello")
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN/control").write_text(
        "Package: lab-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: lab <lab@example.invalid>\n"
        "Description: a package signed by whoever signed the repository\n")
    (stage / "usr/share/lab-hello").mkdir(parents=True)
    (stage / "usr/share/lab-hello/hello").write_text("hello\n")
    deb = stage.parent / "lab-hello_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(stage), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.fixture(scope="module")
def other_signed(hello_deb):
    """A repository whose Release is signed only by a second key ("someone else"), not by the key
    it hands out (the one the playbook pins)."""
    with aptrepo.AptRepo([hello_deb], signer="other") as r:
        yield r


@pytest.fixture(scope="module")
def own_signed(hello_deb):
    with aptrepo.AptRepo([hello_deb]) as r:
        yield r


def playbook(tmp_path: Path, repo: aptrepo.AptRepo, key: bytes) -> Path:
    """apt_repository with ``key`` fetched from the repository's server (key_url: bytes as served,
    binary or armored), pinned to the repository's key, then the package."""
    name = f"{tmp_path.name}.asc"
    (repo.root / name).write_bytes(key)
    pb = tmp_path / "playbook.yml"
    pb.write_text(f"""\
name: hostile key
resources:
  - apt_repository:
      name: lab
      uris: [{repo.url}]
      suites: [trixie]
      key_url: {repo.url}/{name}
      fingerprint: {repo.fingerprint}
  - apt:
      packages: [lab-hello]
""")
    return pb


def _split(raw: bytes) -> list[tuple[int, bytes]]:
    """(tag, packet) of gpg's output (old-format headers), kept apart from the code under test."""
    out, i = [], 0
    while i < len(raw):
        first = raw[i]
        assert first & 0xC0 == 0x80, "gpg writes old-format packet headers"
        size = 1 << (first & 3)
        length = int.from_bytes(raw[i + 1:i + 1 + size], "big")
        end = i + 1 + size + length
        out.append(((first >> 2) & 0x0F, raw[i:end]))
        i = end
    return out


def _unarmor(block: bytes) -> list[bytes]:
    """The base64 lines and the checksum line of an armored block."""
    lines = block.decode().strip().splitlines()
    return [ln.encode() for ln in lines[1:-1] if ln]


HOSTILE = ["pinned + a second armored block", "pinned + a subkey the other key bound",
           "pinned + the other primary key as a subkey", "binary pinned + the second key armored",
           "armored pinned + the second key binary", "a second block hidden after the checksum",
           "text after the END line"]


def hostile_keys(repo: aptrepo.AptRepo) -> dict[str, bytes]:
    pinned = repo.key().encode()
    pinned_bin = repo._gpg("--export", repo.fingerprint)
    other = repo._gpg("--armor", "--export", OTHER)
    other_bin = repo._gpg("--export", OTHER)
    # the other key's primary packet relabelled as a subkey (tag 6 -> 14), with its self-signatures:
    # a subkey whose binding (if any) the pinned key never made
    first = other_bin[0]
    as_subkey = bytes([(first & 0xC3) | (14 << 2)]) + other_bin[1:]  # the tag is in bits 2-5
    # a real subkey of the other key, with the binding signature the other key made for it
    other_fp = next(ln.split(":")[9] for ln in repo._gpg("--with-colons", "--fingerprint", OTHER).decode()
                    .splitlines() if ln.startswith("fpr:"))
    repo._gpg("--quick-add-key", other_fp, "ed25519", "sign", "never")
    with_sub = _split(repo._gpg("--export", OTHER))
    at = next(i for i, (tag, _) in enumerate(with_sub) if tag == 14)
    foreign_sub = with_sub[at][1] + with_sub[at + 1][1]
    b64, crc = base64.b64encode(pinned_bin).decode(), _unarmor(pinned)[-1].decode()
    hidden = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return {
        "pinned + a second armored block": pinned + other,
        "pinned + a subkey the other key bound": armor(pinned_bin + foreign_sub),
        "pinned + the other primary key as a subkey": armor(pinned_bin + as_subkey),
        "binary pinned + the second key armored": pinned_bin + other,
        "armored pinned + the second key binary": pinned + other_bin,
        "a second block hidden after the checksum": (
            f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{hidden}\n{crc}\n".encode()
            + b"\n".join(_unarmor(other)) + b"\n-----END PGP PUBLIC KEY BLOCK-----\n"),
        "text after the END line": pinned + b"\n".join(_unarmor(other)) + b"\n",
    }


@pytest.fixture(scope="module")
def hostile(other_signed) -> dict[str, bytes]:
    return hostile_keys(other_signed)


@pytest.mark.parametrize("case", HOSTILE)
def test_a_key_file_pinning_the_key_but_holding_a_second_one_is_refused_with_nothing_written(
        trixie_root, other_signed, hostile, tmp_path, case):
    with lab.Root(trixie_root, name="trixie") as root:
        r = provision("apply", str(playbook(tmp_path, other_signed, hostile[case])), "-H", root.target)
        assert r.rc == 1, r
        assert f"lab: key_url {other_signed.url}/" in r.stderr and "nothing was written" in r.stderr, r
        keyrings = root.file("/etc/apt/keyrings")
        assert not keyrings.exists() or list(keyrings.iterdir()) == []
        assert list(root.file("/etc/apt/sources.list.d").glob("*.sources")) == []
        assert root.out("dpkg-query -W -f='${Status}' lab-hello 2>&1") != "install ok installed"


def test_the_pinned_key_alone_cannot_install_what_only_the_second_key_signed(trixie_root, other_signed, tmp_path):
    """The control for the test above: with the pinned key alone apt refuses the repository, so it
    is the second key that the hostile files smuggle in."""
    with lab.Root(trixie_root, name="trixie") as root:
        r = provision("apply", str(playbook(tmp_path, other_signed, other_signed.key().encode())),
                      "-H", root.target)
        assert r.rc == 1, r
        assert f"{SOURCE} was taken back out" in r.stderr, r
        assert root.out("dpkg-query -W -f='${Status}' lab-hello 2>&1") != "install ok installed"


def test_the_pinned_key_in_any_plain_form_still_installs_from_the_signed_repository(trixie_root, own_signed,
                                                                                    tmp_path):
    pinned = own_signed.key().encode()
    forms = {"armored": pinned,
             "binary": own_signed._gpg("--export", own_signed.fingerprint),
             "armored with a header and CRLF": pinned.replace(b"-----\n\n", b"-----\nComment: lab\n\n", 1)
             .replace(b"\n", b"\r\n")}
    for name, key in forms.items():
        with lab.Root(trixie_root, name="trixie") as root:
            d = tmp_path / name.replace(" ", "-")
            d.mkdir()
            r = provision("apply", str(playbook(d, own_signed, key)), "-H", root.target)
            assert r.rc == 0, (name, r)
            # what apt reads is the key rebuilt from the checked packets: gpg's own export
            assert root.file(KEYRING).read_bytes() == pinned, name
            assert root.out("dpkg-query -W -f='${Status}' lab-hello") == "install ok installed", name
            again = provision("apply", str(playbook(d, own_signed, key)), "-H", root.target, "--json")
            assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, (name, again)
