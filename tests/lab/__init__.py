"""The test lab: real Debian hosts on this machine.

- A base root file system built once with ``debootstrap --variant=minbase bookworm`` from the
  mirror this machine's apt sources name, plus openssh-server, sudo and procps, cached under
  /var/tmp/provision-lab (or $PROVISION_LAB_DIR) and keyed by its recipe. The JDK's .debs are
  downloaded into its apt cache, so hosts install without fetching them again.
- A second cached base with the JDK installed, for "already converged" cases.
- Each test gets an overlayfs copy of a base (``Root``); ``Root.upper`` is exactly what changed.
- ``lab.hosts``: such copies booted as hosts with their own sshd on 127.0.0.N, and WSL personas.
- Everything is torn down at the end, even on failure. Loopback addresses only.

Commands inside a root run in their own mount and PID namespaces, so nothing they mount or
start outlives them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

LAB_DIR = Path(os.environ.get("PROVISION_LAB_DIR", "/var/tmp/provision-lab"))
RECIPE_VERSION = "4"
SUITE = "bookworm"
BASE_PACKAGES = ("openssh-server", "sudo", "procps", "ca-certificates")
# systemd-sysv is downloaded, not installed: a fresh WSL distro has no systemd, and installing it
# is what the product does before WSL can boot systemd (tests/lab/hosts.py restarts into it).
PREFETCH = ("openjdk-17-jdk-headless", "systemd-sysv", "systemd")
CHROOT_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "HOME=/root", "LANG=C.UTF-8"]


class LabUnavailable(Exception):
    """The lab cannot run here (not root, no debootstrap, no overlayfs)."""


def requirements_missing() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (debootstrap, mount, unshare)"
    for tool in ("debootstrap", "unshare", "mount", "chroot"):
        if shutil.which(tool) is None:
            return f"the lab needs {tool} (apt-get install debootstrap util-linux)"
    return None


def mirror() -> tuple[str, str]:
    """(debian mirror, security mirror) from this machine's apt sources, else deb.debian.org."""
    main, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.is_file() and p.suffix in (".list", ".sources"):
            with contextlib.suppress(OSError):
                texts.append(p.read_text())
    uris = re.findall(r"(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(\S+)", "\n".join(texts), re.M)
    for uri in uris:
        if uri.rstrip("/").endswith("debian-security"):
            security = uri.rstrip("/")
        elif uri.rstrip("/").endswith("/debian"):
            main = uri.rstrip("/")
    return main, security


def run(argv: list[str], *, check: bool = True, input: bytes | None = None,
        timeout: float = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}… failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return proc


def in_root(root: Path, script: str, *, check: bool = True, input: bytes | None = None,
            timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run a shell script inside ``root`` (own mount+PID namespace, /proc /sys /dev mounted)."""
    enter = ('r=$1; shift; mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && '
             'mount --rbind /dev "$r/dev" && exec chroot "$r" "$@"')
    return run(["unshare", "--mount", "--pid", "--fork", "--", "sh", "-c", enter, "sh", str(root),
                *CHROOT_ENV, "sh", "-c", script], check=check, input=input, timeout=timeout)


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    with open(LAB_DIR / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prepare_apt(root: Path, suite: str = SUITE) -> None:
    main, security = mirror()
    (root / "etc/apt/sources.list").write_text(
        f"deb {main} {suite} main\ndeb {main} {suite}-updates main\n"
        f"deb {security} {suite}-security main\n")
    # Only the snippets that set Acquire:: options: others call hooks a minimal root lacks.
    for snippet in Path("/etc/apt/apt.conf.d").glob("*"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            lines = [ln.strip() for ln in snippet.read_text().splitlines()]
            code = [ln for ln in lines if ln and not ln.startswith(("//", "#"))]
            if code and code[0].startswith("Acquire"):
                shutil.copy(snippet, root / "etc/apt/apt.conf.d" / snippet.name)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf", follow_symlinks=True)
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# lab: never start services while installing\nexit 101\n")
    policy.chmod(0o755)


def mirror_network_trust(root: Path) -> None:
    """Give a root this machine's TLS trust (CA bundle, pip's cert setting), as resolv.conf and
    apt's Acquire options are given: the network path from here may re-sign TLS with a local CA."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        dest = root / "etc/ssl/certs/ca-certificates.crt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        shutil.copy(bundle, dest)
        (root / "etc/pip.conf").write_text(f"[global]\ncert = {bundle}\n")


def _recipe_key(name: str, parent: str | None, packages: tuple[str, ...], suite: str = SUITE) -> str:
    text = "|".join([RECIPE_VERSION, name, parent or "", ",".join(packages), *mirror(), suite])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def ensure_base(name: str = "base", *, packages: tuple[str, ...] = (), parent: str | None = None,
                suite: str = SUITE, prefetch: tuple[str, ...] = PREFETCH) -> Path:
    """A cached root file system; built on first use (a few minutes), reused afterwards. A base
    without a parent is ``debootstrap --variant=minbase <suite>`` with BASE_PACKAGES, and
    ``prefetch``'s .debs downloaded into its apt cache."""
    missing = requirements_missing()
    if missing:
        raise LabUnavailable(missing)
    parent_root = _parent(parent) if parent else None
    wanted = packages if parent else BASE_PACKAGES + packages
    key = _recipe_key(name, parent, wanted + (() if parent or prefetch == PREFETCH else prefetch), suite)
    home = LAB_DIR / f"{name}-{key}"
    rootfs = home / "rootfs"
    with _lock(f"build-{name}"):
        if (home / "ready").exists():
            return rootfs
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        building = home / "building"
        t0 = time.monotonic()
        if parent_root is not None:
            run(["cp", "-a", "--reflink=auto", str(parent_root), str(building)])
        else:
            run(["debootstrap", "--variant=minbase", suite, str(building), mirror()[0]], timeout=1800)
            _prepare_apt(building, suite)
        apt = ("export DEBIAN_FRONTEND=noninteractive; set -e; apt-get -q update >/dev/null; "
               "apt-get -y -q install --no-install-recommends {pkgs} >/dev/null")
        if wanted:
            in_root(building, apt.format(pkgs=" ".join(wanted)))
        if parent_root is None:
            in_root(building, "apt-get -y -q install --download-only --no-install-recommends "
                              + " ".join(prefetch) + " >/dev/null; rm -f /etc/ssh/ssh_host_*")
            # The lab's debootstrap root has no /etc/hostname of its own: give it one.
            (building / "etc/hostname").write_text("lab\n")
        building.rename(rootfs)
        (home / "ready").write_text(f"built in {time.monotonic() - t0:.0f}s\n")
        # Older recipes of the same base are no longer used.
        for old in LAB_DIR.glob(f"{name}-*"):  # name-<key> only: "trixie-*" also matches trixie-maven-*
            if old != home and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{10}}", old.name) and \
                    (old / "ready").exists():
                shutil.rmtree(old, ignore_errors=True)
        return rootfs


def _parent(name: str) -> Path:
    """A base a child is built on, by its own recipe: ``ensure_base(name)`` with the default one
    would build another base under that name and delete the real one as an older recipe."""
    builders = {"base": ensure_base, "trixie": trixie_base, "jdk17": jdk_base, "trixie-maven": trixie_maven_base}
    if name not in builders:
        raise ValueError(f"lab: no recipe for a parent base named {name!r} (known: {', '.join(builders)})")
    return builders[name]()


def jdk_base() -> Path:
    """The base with openjdk-17-jdk-headless installed (an already converged host, less JAVA_HOME)."""
    return ensure_base("jdk17", parent="base", packages=("openjdk-17-jdk-headless",))


def trixie_base() -> Path:
    """Debian 13 (trixie), built like the Debian 12 base: it has no OpenJDK 17 (21 and 25 only)."""
    return ensure_base("trixie", suite="trixie", prefetch=("systemd-sysv",))


def trixie_maven_base() -> Path:
    """Debian 13 with Debian's Maven and its maven-compiler-plugin (a toolchains consumer); junit5
    holds the junit-bom the plugin's plexus-compiler POMs import, which offline Maven must find."""
    return ensure_base("trixie-maven", parent="trixie",
                       packages=("maven", "libmaven-compiler-plugin-java", "junit5"))


def bookworm_maven_base() -> Path:
    """Debian 12 with OpenJDK 17 (the jdk base), Debian's Maven and its maven-compiler-plugin, and
    junit5 for the junit-bom the plugin's POMs import (as in trixie_maven_base())."""
    return ensure_base("bookworm-maven", parent="jdk17",
                       packages=("maven", "libmaven-compiler-plugin-java", "junit5"))


def cloudinit_base() -> Path:
    """The base with cloud-init and systemd-sysv installed: a cloud image's first boot (the JDK's
    .debs are in its apt cache, as in the plain base)."""
    return ensure_base("cloudinit", parent="base", packages=("cloud-init", "systemd-sysv"))


class Root:
    """An overlayfs copy of a base. ``path`` is the root to use; ``upper`` holds every change.
    ``layers`` are extra read-only directories stacked above the base (the top one first)."""

    def __init__(self, base: Path, *, name: str = "root", layers: Sequence[Path] = ()) -> None:
        LAB_DIR.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"run-{name}-", dir=LAB_DIR))
        self.upper = self.dir / "upper"
        self.work = self.dir / "work"
        self.path = self.dir / "merged"
        for d in (self.upper, self.work, self.path):
            d.mkdir()
        (self.dir / "owner").write_text(str(os.getpid()))
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={':'.join(map(str, [*layers, base]))},upperdir={self.upper},workdir={self.work}",
             str(self.path)])
        self.mounted = True

    @property
    def target(self) -> str:
        return f"chroot:{self.path}"

    def sh(self, script: str, *, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        return in_root(self.path, script, check=check, input=input)

    def out(self, script: str) -> str:
        proc = self.sh(script, check=False)
        return (proc.stdout + proc.stderr).decode(errors="replace")

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def changed_paths(self) -> list[str]:
        """Files the overlay's upper layer holds: everything written since the copy was made."""
        return sorted("/" + str(p.relative_to(self.upper)) for p in self.upper.rglob("*") if not p.is_dir())

    def close(self) -> None:
        if self.mounted:
            for attempt in range(50):
                if run(["umount", str(self.path)], check=False).returncode == 0:
                    break
                time.sleep(0.1 * (attempt + 1))  # a namespace still being torn down holds it
            else:
                run(["umount", "-l", str(self.path)], check=False)
            self.mounted = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        # A zombie (killed, not yet reaped) owns nothing any more.
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def sweep() -> None:
    """Unmount and remove what an interrupted run left behind: this lab's directories whose owning
    process is gone (other test sessions may be running beside this one)."""
    if not LAB_DIR.is_dir():
        return
    from lab import hosts  # booted hosts first: their processes hold the roots below

    hosts.sweep()
    for d in LAB_DIR.glob("run-*"):
        if _alive(d / "owner"):
            continue
        merged = d / "merged"
        if os.path.ismount(merged):
            run(["umount", "-l", str(merged)], check=False)
        shutil.rmtree(d, ignore_errors=True)


def vagrant_base() -> Path:
    """The base with Debian's vagrant package (and so ruby): to check the Vagrantfile."""
    return ensure_base("vagrant", parent="base", packages=("vagrant",))
