"""A signed apt repository on loopback, built by the test suite, holding Temurin-shaped JDKs 17, 21, 25.

- ``temurin_deb(feature)``: a ``temurin-<feature>-jdk`` .deb with Temurin's layout
  (``/usr/lib/jvm/temurin-<feature>-jdk-amd64``), a working JDK inside (symlinks resolved,
  ``IMPLEMENTOR="Eclipse Adoptium"`` in its release file), a ``.jinfo`` and a postinst/prerm that
  register and remove its update-alternatives (priority <feature>11), like the real package. Built
  once per recipe and cached in the lab directory.

  - 17: Debian 12's OpenJDK 17 files (from the lab's jdk base), for Debian 13, which has no 17.
  - 21, 25: Debian 13's OpenJDK files, for Debian 12, which has neither. They need glibc 2.38 and
    Debian 12 has 2.36, so these are stand-ins, not what Adoptium ships: real Temurin is one build
    for old glibc releases. Here every shared library the JDK's ELF files link outside the JDK
    (Debian 13's glibc with its loader, libstdc++, libz, …) is copied into ``lib/trixie/`` of the
    home, each executable's interpreter set to that loader and every ELF file's run path led by
    that directory (patchelf, in the Debian 13 build root), so the JDK runs on Debian 12 on its
    own libraries.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lab

ADDRESS = "127.0.0.9"
BUNDLE = "lib/trixie"  # Debian 13's libraries inside the home of a JDK built from Debian 13's

POSTINST = """#!/bin/sh
set -e
# like Temurin's own postinst: every tool of the JDK as an alternative, priority {priority}
if [ "$1" = configure ]; then
  for t in {home}/bin/*; do
    n=$(basename "$t")
    update-alternatives --install "/usr/bin/$n" "$n" "$t" {priority}
  done
fi
"""

PRERM = """#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = deconfigure ]; then
  for t in {home}/bin/*; do update-alternatives --remove "$(basename "$t")" "$t"; done
fi
"""

# In the Debian 13 build root, in the staged home $S (installed as $T): copy in every library the
# JDK's ELF files link from outside it (ldd's "=> /path" and the loader), then point each ELF file
# at them; the bundled libraries find each other through $ORIGIN (glibc's own need no run path).
BUNDLE_SCRIPT = r"""set -e
B="$S/{bundle}"; mkdir -p "$B"
find "$S" -type f ! -path "$B/*" -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {{}} \; -print > /tmp/elfs
while read -r f; do ldd "$f" || true; done < /tmp/elfs \
  | awk '$2 == "=>" && $3 ~ /^\// {{print $3}} $1 ~ /^\/.*ld-linux/ {{print $1}}' | sort -u \
  | grep -v "^$S/" | while read -r l; do cp -L "$l" "$B/"; done
test -x "$B/ld-linux-x86-64.so.2" && test -f "$B/libc.so.6"
while read -r f; do
  up=$(dirname "${{f#$S/}}" | sed 's|[^/][^/]*|..|g')
  old=$(patchelf --print-rpath "$f")
  patchelf --set-rpath "\$ORIGIN/$up/{bundle}${{old:+:$old}}" "$f"
  if patchelf --print-interpreter "$f" >/dev/null 2>&1; then
    patchelf --set-interpreter "$T/{bundle}/ld-linux-x86-64.so.2" "$f"
  fi
done < /tmp/elfs
for l in "$B"/*; do
  case "${{l##*/}}" in ld-linux*|libc.so*|libm.so*) ;; *) patchelf --set-rpath '$ORIGIN' "$l" ;; esac
done
"""


@dataclass(frozen=True)
class _Recipe:
    """How one temurin-<feature>-jdk is made: whose JDK files, from which build root."""

    feature: int
    base: Callable[[], Path]  # the build root's base
    source: str  # the JDK's home there
    made_from: str  # the package description's second line
    packages: tuple[str, ...] = ()  # installed in the build root first
    script: str = ""  # run in the build root on the staged home ($S; $T: its installed path)

    @property
    def home(self) -> str:
        return f"/usr/lib/jvm/temurin-{self.feature}-jdk-amd64"

    @property
    def version(self) -> str:
        return f"{self.feature}.0.99.0.0+0-lab"

    @property
    def priority(self) -> int:
        return self.feature * 100 + 11

    def maintainer_scripts(self) -> dict[str, str]:
        return {name: text.format(home=self.home, priority=self.priority)
                for name, text in (("postinst", POSTINST), ("prerm", PRERM))}


def _from_trixie(feature: int) -> _Recipe:
    return _Recipe(feature, lab.trixie_base, f"/usr/lib/jvm/java-{feature}-openjdk-amd64",
                   f"Debian 13's OpenJDK {feature} files in Temurin's layout, with Debian 13's glibc.",
                   packages=(f"openjdk-{feature}-jdk-headless", "patchelf"), script=BUNDLE_SCRIPT.format(bundle=BUNDLE))


RECIPES = {
    17: _Recipe(17, lab.jdk_base, "/usr/lib/jvm/java-17-openjdk-amd64",
                "Debian 12's OpenJDK 17 files in Temurin's layout."),
    21: _from_trixie(21),
    25: _from_trixie(25),
}


def _sh(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return lab.run(argv, **kw)


@functools.cache
def temurin_deb(feature: int = 17) -> Path:
    """The test-built temurin-<feature>-jdk .deb (cached)."""
    r = RECIPES[feature]
    scripts = r.maintainer_scripts()
    recipe = "|".join([r.version, *scripts.values(), str(r.base()), *r.packages, r.script, r.made_from])
    key = hashlib.sha256(recipe.encode()).hexdigest()[:10]
    home = lab.LAB_DIR / f"temurin-deb-{key}"
    deb = home / f"temurin-{feature}-jdk_{r.version}_amd64.deb"
    with lab._lock(f"temurin-deb-{feature}"):
        if deb.exists():
            return deb
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        with lab.Root(r.base(), name="temurin-build") as root:
            if r.packages:
                root.sh("export DEBIAN_FRONTEND=noninteractive; set -e; apt-get -q update >/dev/null; "
                        f"apt-get -y -q install --no-install-recommends {' '.join(r.packages)} >/dev/null")
            # resolve the JDK's symlinks (into /etc/java-<v>-openjdk, the CA store) inside its root
            root.sh(f"mkdir -p /stage{os.path.dirname(r.home)} && "
                    f"cp -rL {r.source} /stage{r.home} 2>/dev/null; "
                    f"test -x /stage{r.home}/bin/javac && test -s /stage{r.home}/lib/modules")
            if r.script:
                root.sh(f"S=/stage{r.home} T={r.home}\n{r.script}")
            stage = root.file("/stage")
            release = stage / r.home.lstrip("/") / "release"
            text = release.read_text().replace('IMPLEMENTOR="Debian"', 'IMPLEMENTOR="Eclipse Adoptium"')
            release.write_text(text if "Eclipse Adoptium" in text else text + 'IMPLEMENTOR="Eclipse Adoptium"\n')
            tools = sorted(p.name for p in (stage / r.home.lstrip("/") / "bin").iterdir())
            name = os.path.basename(r.home)
            (stage / f"usr/lib/jvm/.{name}.jinfo").write_text(
                f"name={name}\npriority={r.priority}\nsection=main\n\n"
                + "".join(f"jdk {t} {r.home}/bin/{t}\n" for t in tools))
            control = stage / "DEBIAN"
            control.mkdir()
            size = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file()) // 1024
            (control / "control").write_text(
                f"Package: temurin-{feature}-jdk\n"
                f"Version: {r.version}\nArchitecture: amd64\nMaintainer: provision lab <lab@example.invalid>\n"
                f"Installed-Size: {size}\nSection: java\nPriority: optional\nProvides: java-sdk\n"
                f"Description: Eclipse Temurin {feature} JDK (test build for provision's lab)\n"
                f" {r.made_from}\n")
            for script, text in scripts.items():
                (control / script).write_text(text)
                (control / script).chmod(0o755)
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
