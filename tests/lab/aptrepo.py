"""A signed apt repository on loopback, built by the test suite, holding a Temurin-shaped JDK 17.

- ``temurin_deb()``: a ``temurin-17-jdk`` .deb with Temurin's layout
  (``/usr/lib/jvm/temurin-17-jdk-amd64``), a working JDK 17 inside (Debian 12's OpenJDK 17 files,
  symlinks resolved, ``IMPLEMENTOR="Eclipse Adoptium"`` in its release file), a ``.jinfo`` and a
  postinst/prerm that register and remove its update-alternatives, like the real package. Built
  once from the lab's jdk base and cached in the lab directory.
- ``AptRepo``: ``dists/<suite>/main/binary-amd64/Packages(.gz)``, a ``Release`` and an ``InRelease``
  clear-signed with a GPG key of its own (made per repository, ed25519), served over HTTP on
  127.0.0.9 (a port picked free) with the public key at ``/key.asc``. ``signer`` makes it sign
  with another key than the one it hands out (a repository whose signature does not verify).
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import gzip
import hashlib
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import lab

ADDRESS = "127.0.0.9"
VERSION = "17.0.99.0.0+0-lab"
HOME = "/usr/lib/jvm/temurin-17-jdk-amd64"

POSTINST = f"""#!/bin/sh
set -e
# like Temurin's own postinst: every tool of the JDK as an alternative, priority 1711
if [ "$1" = configure ]; then
  for t in {HOME}/bin/*; do
    n=$(basename "$t")
    update-alternatives --install "/usr/bin/$n" "$n" "$t" 1711
  done
fi
"""

PRERM = f"""#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = deconfigure ]; then
  for t in {HOME}/bin/*; do update-alternatives --remove "$(basename "$t")" "$t"; done
fi
"""


def _sh(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return lab.run(argv, **kw)


@functools.cache
def temurin_deb() -> Path:
    """The test-built temurin-17-jdk .deb (cached)."""
    key = hashlib.sha256((VERSION + POSTINST + PRERM + str(lab.jdk_base())).encode()).hexdigest()[:10]
    home = lab.LAB_DIR / f"temurin-deb-{key}"
    deb = home / f"temurin-17-jdk_{VERSION}_amd64.deb"
    with lab._lock("temurin-deb"):
        if deb.exists():
            return deb
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        with lab.Root(lab.jdk_base(), name="temurin-build") as root:
            # resolve the JDK's symlinks (into /etc/java-17-openjdk, the CA store) inside its root
            root.sh(f"mkdir -p /stage{os.path.dirname(HOME)} && "
                    f"cp -rL /usr/lib/jvm/java-17-openjdk-amd64 /stage{HOME} 2>/dev/null; "
                    f"test -x /stage{HOME}/bin/javac && test -s /stage{HOME}/lib/modules")
            stage = root.file("/stage")
            release = stage / HOME.lstrip("/") / "release"
            text = release.read_text().replace('IMPLEMENTOR="Debian"', 'IMPLEMENTOR="Eclipse Adoptium"')
            release.write_text(text if "Eclipse Adoptium" in text else text + 'IMPLEMENTOR="Eclipse Adoptium"\n')
            tools = sorted(p.name for p in (stage / HOME.lstrip("/") / "bin").iterdir())
            jinfo = stage / "usr/lib/jvm/.temurin-17-jdk-amd64.jinfo"
            jinfo.write_text("name=temurin-17-jdk-amd64\npriority=1711\nsection=main\n\n"
                             + "".join(f"jdk {t} {HOME}/bin/{t}\n" for t in tools))
            control = stage / "DEBIAN"
            control.mkdir()
            size = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file()) // 1024
            (control / "control").write_text(
                "Package: temurin-17-jdk\n"
                f"Version: {VERSION}\nArchitecture: amd64\nMaintainer: provision lab <lab@example.invalid>\n"
                f"Installed-Size: {size}\nSection: java\nPriority: optional\nProvides: java-sdk\n"
                "Description: Eclipse Temurin 17 JDK (test build for provision's lab)\n"
                " Debian 12's OpenJDK 17 files in Temurin's layout.\n")
            for name, text in (("postinst", POSTINST), ("prerm", PRERM)):
                (control / name).write_text(text)
                (control / name).chmod(0o755)
            building = home / "building.deb"
            _sh(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(stage), str(building)],
                timeout=900)
            building.rename(deb)
        return deb


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class AptRepo:
    """A signed repository for ``suite`` holding ``debs``, served while the context is open."""

    def __init__(self, debs: list[Path], suite: str = "trixie", *, signer: str = "own") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aptrepo-", dir=lab.LAB_DIR))
        (self.dir / "owner").write_text(str(os.getpid()))
        self.root = self.dir / "www"
        self.gnupg = self.dir / "gnupg"
        self.gnupg.mkdir(mode=0o700)
        self.suite = suite
        self.debs = debs
        self.signer = signer
        self.server: http.server.ThreadingHTTPServer | None = None

    # -- keys -----------------------------------------------------------------------------------
    def _gpg(self, *args: str, input: bytes | None = None) -> bytes:
        return _sh(["gpg", "--batch", "--quiet", "--homedir", str(self.gnupg), "--pinentry-mode", "loopback",
                    "--passphrase", "", *args], input=input).stdout

    def _new_key(self, uid: str) -> str:
        self._gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
        out = self._gpg("--with-colons", "--fingerprint", uid).decode()
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    # -- building -------------------------------------------------------------------------------
    def build(self) -> None:
        self.fingerprint = self._new_key("provision lab repository <repo@example.invalid>")
        signing = self.fingerprint if self.signer == "own" else self._new_key("someone else <x@example.invalid>")
        pool = self.root / "pool/main"
        pool.mkdir(parents=True)
        entries = []
        for deb in self.debs:
            dest = pool / deb.name
            try:
                os.link(deb, dest)
            except OSError:
                shutil.copy(deb, dest)
            fields = _sh(["dpkg-deb", "-f", str(dest)]).stdout.decode().rstrip("\n")
            data = dest.read_bytes()
            entries.append(f"{fields}\nFilename: pool/main/{deb.name}\nSize: {len(data)}\n"
                           f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
        binary = self.root / f"dists/{self.suite}/main/binary-amd64"
        binary.mkdir(parents=True)
        packages = "\n".join(entries).encode()
        (binary / "Packages").write_bytes(packages)
        (binary / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        lines = [f"Origin: provision-lab\nLabel: provision-lab\nSuite: {self.suite}\nCodename: {self.suite}\n"
                 f"Date: {email.utils.formatdate(usegmt=True)}\nArchitectures: amd64\nComponents: main\nSHA256:"]
        for name in ("Packages", "Packages.gz"):
            data = (binary / name).read_bytes()
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} main/binary-amd64/{name}")
        release = self.root / f"dists/{self.suite}/Release"
        release.write_text("\n".join(lines) + "\n")
        self._gpg("--local-user", signing, "--digest-algo", "SHA512", "--clearsign", "--output",
                  str(release.with_name("InRelease")), str(release))
        (self.root / "key.asc").write_bytes(self._gpg("--armor", "--export", self.fingerprint))

    # -- serving --------------------------------------------------------------------------------
    def __enter__(self) -> AptRepo:
        try:
            self.build()
            handler = functools.partial(_Quiet, directory=str(self.root))
            self.server = http.server.ThreadingHTTPServer((ADDRESS, 0), handler)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{ADDRESS}:{self.server.server_address[1]}"

    @property
    def key_url(self) -> str:
        return f"{self.url}/key.asc"

    def key(self) -> str:
        return (self.root / "key.asc").read_text()

    def close(self) -> None:
        # the gpg-agent that key generation started for this home directory
        subprocess.run(["gpgconf", "--homedir", str(self.gnupg), "--kill", "gpg-agent"], capture_output=True,
                       check=False)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)

    def __exit__(self, *exc: object) -> None:
        self.close()
