"""Issue 20, WSL: the company CA taken from the Windows certificate store through interop
(``windows_store``), on a booted lab WSL2 persona with OpenJDK 17 reached over SSH. The lab has no
Windows: powershell.exe is tests/lab/wslps.py's stand-in at Windows's own path, printing what
Windows PowerShell prints to a pipe (UTF-16LE with a BOM, CRLF, CLIXML progress on stderr) from a
store holding a CA this test made. A planted powershell.exe earlier on root's PATH is never run;
hostile output, a wrong pin, a user-writable powershell.exe directory or none at all are refused
with one line and the host unchanged. doctor then says that a Windows JDK on PATH ignores it."""

from __future__ import annotations

import base64
import hashlib
import random
import textwrap
from pathlib import Path

import lab
import pytest
from conftest import provision
from lab import pki as certs
from lab import wslps

pytestmark = pytest.mark.lab

CRT = "/usr/local/share/ca-certificates/corp.crt"
PLANTED = "/mnt/c/Users/dev/AppData/Local/Microsoft/WindowsApps"
PROBE = certs.fetch_java("Fetch")


@pytest.fixture(scope="module")
def base() -> Path:
    return lab.ensure_base("cacert", parent="base", packages=("openjdk-17-jdk-headless", "curl"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("pki")
    ip = certs.loopback_ip()
    certs.root_ca(d, "Corp Windows Root")
    certs.server_cert(d, ip, f"IP:{ip}")
    certs.other_ca(d)
    sha256 = hashlib.sha256(wslps.der(d / "ca.pem")).hexdigest()
    return {"dir": d, "ip": ip, "port": str(random.randint(20000, 60000)), "sha256": sha256,
            "thumb": wslps.thumbprint(d / "ca.pem")}


@pytest.fixture
def host(fleet_factory, base, pki):
    h = fleet_factory(1, wsl=2, base=base).hosts[0]
    wslps.install(h, {"LocalMachine/Root": [pki["dir"] / "ca.pem", pki["dir"] / "other-ca.pem"]})
    h.sh("mkdir -p /srv/tls")
    for f in ("server.pem", "server.key"):
        h.sh(f"cat > /srv/tls/{f}", input=(pki["dir"] / f).read_bytes())
    h.sh("cat > /srv/tls/Fetch.java", input=PROBE.encode())
    # a Windows user's directory (WSL appends it to PATH; uid 1000 writes it) holding a
    # powershell.exe, first on the PATH of root's SSH sessions
    h.sh(textwrap.dedent(f"""\
        useradd -m -u 1000 dev
        mkdir -p {PLANTED}
        printf '#!/bin/sh\\ntouch /tmp/planted-ran\\necho provision-cert-end\\n' > {PLANTED}/powershell.exe
        chmod 755 {PLANTED}/powershell.exe; chown -R dev {PLANTED}
        echo 'PATH="{PLANTED}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' >> /etc/environment
    """))
    return h


def ssh_args(h) -> list[str]:
    return ["-H", h.name, "--ssh-config", str(h.fleet.ssh_config), "--known-hosts", str(h.fleet.known_hosts)]


def playbook(tmp_path: Path, thumb: str, sha256: str, extra: str = "") -> Path:
    p = tmp_path / f"ca-{thumb[:8]}-{sha256[:8]}.yml"
    p.write_text(textwrap.dedent(f"""\
        name: corporate CA from Windows
        resources:
          - ca_certificate:
              name: corp
              windows_store: {{thumbprint: "{thumb}", store: Root, location: LocalMachine}}
              sha256: "{sha256}"
        """) + extra)
    return p


def handshakes(h, pki) -> dict[str, str]:
    ip, port = pki["ip"], pki["port"]
    url = f"https://{ip}:{port}/"
    out = h.sh(textwrap.dedent(f"""\
        cd /srv/tls
        openssl s_server -quiet -accept {ip}:{port} -cert server.pem -key server.key -www </dev/null >/dev/null 2>&1 &
        pid=$!
        i=0
        until bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>/dev/null || [ $i -gt 100 ]; do i=$((i+1)); sleep 0.1; done
        curl -sS -o /dev/null {url} 2>/dev/null; echo "curl=$?"
        echo "java=$(java Fetch.java {url} 2>&1 | grep -m1 -o -e 'status [0-9]*' -e 'PKIX path building failed')"
        kill $pid
    """)).stdout.decode()
    return dict(line.split("=", 1) for line in out.splitlines() if line.split("=")[0] in ("curl", "java"))


def test_the_windows_store_ca_is_trusted_by_java_and_the_planted_powershell_never_runs(host, pki, tmp_path):
    assert handshakes(host, pki) == {"curl": "60", "java": "PKIX path building failed"}
    pb = playbook(tmp_path, pki["thumb"], pki["sha256"])

    plan = provision("plan", str(pb), *ssh_args(host))
    assert plan.rc == 0, plan
    assert f"create {CRT}" in plan.stderr
    assert host.sh(f"test -e {CRT}", check=False).returncode == 1

    first = provision("apply", str(pb), *ssh_args(host), "--json")
    assert first.rc == 0, first
    assert first.json["hosts"][0]["changed"] == 1, first
    assert handshakes(host, pki) == {"curl": "0", "java": "status 200"}

    second = provision("apply", str(pb), *ssh_args(host), "--json")
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    assert provision("verify", str(pb), *ssh_args(host)).rc == 0

    # Windows's own powershell.exe ran, as root (what the connection is), with exactly these
    # arguments; the one planted earlier on PATH never did
    calls = wslps.calls(host)
    assert calls and all(c.startswith("0 -NoProfile -NonInteractive -Command ") for c in calls), calls
    assert host.sh("test -e /tmp/planted-ran", check=False).returncode == 1

    # doctor: a Windows JDK first on PATH ignores the CA now in every Linux store
    host.sh(textwrap.dedent("""\
        mkdir -p '/mnt/c/Program Files/Java/jdk-21/bin'
        printf 'MZ' > '/mnt/c/Program Files/Java/jdk-21/bin/java.exe'
        sed -i 's|^PATH="|PATH="/mnt/c/Program Files/Java/jdk-21/bin:|' /etc/environment
    """))
    doc = provision("doctor", *ssh_args(host), "--json")
    ca = [f for f in doc.json["hosts"][0]["findings"] if f["check"] == "CA"]
    assert any("PATH entry 1 /mnt/c/Program Files/Java/jdk-21/bin holds a Windows java.exe ahead of any Linux "
               "java: a Windows JDK ignores Linux truststores, so the 1 local CA here" in f["summary"]
               and "PKIX path building failed" in f["summary"] for f in ca), ca


def unchanged(host) -> str:
    return host.sh(f"test ! -e {CRT} && sha256sum /etc/ssl/certs/ca-certificates.crt").stdout.decode()


def test_hostile_output_a_wrong_pin_and_unsafe_or_missing_powershell_are_refused(host, pki, tmp_path):
    other_b64 = base64.b64encode(wslps.der(pki["dir"] / "other-ca.pem")).decode()
    before = unchanged(host)
    good = playbook(tmp_path, pki["thumb"], pki["sha256"])
    cases = [
        # a terminal escape sequence (OSC 52 writes the controller's clipboard) before the answer
        ("\x1b]52;c;cHduZWQ=\x07\r\n", good, "printed an unexpected line 1: '\\x1b]52;c;cHduZWQ=\\x07'"),
        # a second certificate line
        (f"provision-cert {other_b64}\r\n", good, "printed 2 certificates"),
        # the store's certificate is not the pinned one
        ("", playbook(tmp_path, pki["thumb"], "ab" * 32), "not the pinned " + "ab" * 32),
        # another certificate under the asked thumbprint
        ("", playbook(tmp_path, wslps.thumbprint(pki["dir"] / "other-ca.pem"), pki["sha256"]),
         f"not the pinned {pki['sha256']}"),
    ]
    for injected, pb, message in cases:
        wslps.inject(host, injected)
        r = provision("apply", str(pb), *ssh_args(host))
        assert r.rc != 0, r
        assert message in r.stderr, (message, r.stderr)
        assert "\x1b" not in r.stderr and "\x07" not in r.stderr
        assert unchanged(host) == before
    wslps.inject(host, "")

    # powershell.exe's directory writable by uid 1000 (a Linux user could swap it): not run
    exe_dir = wslps.EXE.rsplit("/", 1)[0]
    host.sh(f"chown dev {exe_dir}")
    n = len(wslps.calls(host))
    r = provision("apply", str(good), *ssh_args(host))
    assert r.rc != 0 and f"{exe_dir} is not root's alone (owner uid 1000" in r.stderr, r
    assert len(wslps.calls(host)) == n and unchanged(host) == before

    # powershell.exe replaced by a link (to the planted one): not run
    host.sh(f"chown root {exe_dir} && mv {wslps.EXE} {wslps.EXE}.real && ln -s {PLANTED}/powershell.exe {wslps.EXE}")
    r = provision("apply", str(good), *ssh_args(host))
    assert r.rc != 0 and f"{wslps.EXE} is reached through a link" in r.stderr, r
    assert len(wslps.calls(host)) == n and unchanged(host) == before

    # no powershell.exe at all
    host.sh(f"rm {wslps.EXE}")
    r = provision("plan", str(good), *ssh_args(host))
    assert r.rc != 0 and f"{wslps.EXE} does not exist" in r.stderr, r
    assert host.sh("test -e /tmp/planted-ran", check=False).returncode == 1
    assert unchanged(host) == before


def test_not_wsl_is_one_error_at_plan_time(base, pki, tmp_path):
    with lab.Root(base, name="winstore") as root:
        r = provision("plan", str(playbook(tmp_path, pki["thumb"], pki["sha256"])), "-H", root.target)
        assert r.rc != 0, r
        errors = [ln for ln in r.stderr.splitlines() if "windows_store" in ln]
        assert len(errors) == 1 and "the target is not a running WSL distro" in errors[0], r.stderr
        assert not root.file(CRT).exists()
