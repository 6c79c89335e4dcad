"""Booted lab hosts: Debian roots running as small machines, reachable over real SSH.

A ``Host`` is an overlayfs copy (``lab.Root``) of a cached base, run as PID 1 of its own mount,
UTS and PID namespaces and chrooted into its root. Its sshd listens on 127.0.0.(10+i):22 of this
machine's network (loopback only; no network namespaces), with host keys made for it and a
``known_hosts`` / ``ssh_config`` the test hands to the real OpenSSH client or to paramiko.

- Setup layer. What the lab adds to a host (host keys, the ``dev`` user and its sudo rule, the
  ``authorized_keys``, ``/etc/hostname``, ``/init``, the sshd drop-in, WSL's ``wslinfo`` and
  ``wslpath``) is written into a per-host layer *below* the overlay's upper directory
  (``lowerdir=layer:base``), so ``host.root.upper`` / ``changed_paths()`` hold only what happened
  on the running host: what the product did, plus what sshd and logins write at run time.
- Boot. ``unshare --mount --uts --pid --fork`` runs a script that mounts a private /proc, a
  read-only /sys and /proc/sys (so nothing inside can change this machine's kernel settings),
  a small /dev of its own (null, zero, random, tty, a new devpts), a tmpfs /run with the host's log
  directory bound at ``/run/lab``, then chroots and execs the init: ``/init`` (a shell script, so
  ``/proc/1/comm`` reads ``init`` as on WSL) which starts sshd, or ``/lib/systemd/systemd``.
  ``boot()`` returns when sshd answers with its banner.
- systemd. It gets a cgroup of its own (``provision-lab/<name>`` in this machine's cgroup2
  hierarchy) entered through a cgroup namespace, with a fresh cgroup2 mounted at /sys/fs/cgroup, so
  several booted hosts never share a tree. Units that cannot work in a chroot (gettys, binfmt) are
  masked in the setup layer; sshd runs from the distro's own ``ssh.service`` with a drop-in that
  logs to ``/run/lab/sshd.log``.
- WSL persona. Files bound over ``/proc/sys/kernel/osrelease`` and ``/proc/version`` read like a
  WSL kernel, and a tmpfs over ``/proc/sys/fs/binfmt_misc`` holds the ``WSLInterop`` entry. (systemd
  reads the release too, so ``systemd-detect-virt`` says ``wsl``, as on real WSL.) ``restart()``
  follows WSL's rule for ``/etc/wsl.conf``'s ``[boot] systemd``.
- Shutdown kills PID 1 (that ends the whole PID namespace), waits for the namespace to go and
  removes its cgroup. Addresses are allocated under a per-index ``flock`` in ``lab.LAB_DIR``, so
  several test sessions can run side by side; ``sweep()`` kills hosts whose owning process died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lab
from lab import wslinit

FIRST_INDEX, LAST_INDEX = 11, 250
BOOT_TIMEOUT = 30.0
SYSTEM_RUNNING_TIMEOUT = 60.0
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

WSL_KERNELS = {
    1: ("4.4.0-19041-Microsoft",
        "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) "
        "#1237-Microsoft Sat Sep 11 14:32:00 PST 2021\n"),
    2: ("5.15.167.4-microsoft-standard-WSL2",
        "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) (gcc (GCC) 11.2.0, "
        "GNU ld (GNU Binutils) 2.37) #1 SMP Tue Nov 5 00:21:55 UTC 2024\n"),
}
WSL_INTEROP = "enabled\ninterpreter /init\nflags: PF\noffset 0\nmagic 4d5a\n"

# Units that cannot work in a chroot without a console, or that would take WSLInterop away.
MASKED_UNITS = ("getty@.service", "serial-getty@.service", "console-getty.service",
                "container-getty@.service", "getty-static.service", "systemd-binfmt.service",
                "proc-sys-fs-binfmt_misc.automount", "proc-sys-fs-binfmt_misc.mount")

INIT = f"""#!/bin/sh
# The lab's /init (WSL distros have one too): no service manager, only sshd. Exits on TERM.
export PATH={PATH} LANG=C.UTF-8
mkdir -p /run/sshd /run/lock
/usr/sbin/sshd -E /run/lab/sshd.log || exit 1
trap 'exit 0' TERM INT
while :; do sleep 2147483647 & wait $!; done
"""

SSH_DROPIN = """# lab: keep sshd's log where the test reads it (Host.sshd_log)
[Service]
ExecStart=
ExecStart=/usr/sbin/sshd -D -E /run/lab/sshd.log $SSHD_OPTS
"""

# Run by unshare as the host's PID 1 until the final exec. $1 root, $2 host dir, $3 init,
# $4 "cgroup" when booting systemd, $5 hostname.
BOOT = r"""set -e
r=$1 d=$2 init=$3 cg=$4
hostname "$5"
mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount -o remount,bind,ro "$r/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
if [ -n "$cg" ]; then mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$r/sys/fs/cgroup"; fi
if [ -f "$d/wsl/osrelease" ]; then
  mount --bind "$d/wsl/osrelease" "$r/proc/sys/kernel/osrelease"
  mount --bind "$d/wsl/version" "$r/proc/version"
  mount -t tmpfs -o nosuid,nodev,noexec,size=64k,mode=755 binfmt_misc "$r/proc/sys/fs/binfmt_misc"
  cp "$d/wsl/WSLInterop" "$r/proc/sys/fs/binfmt_misc/WSLInterop"
  echo enabled > "$r/proc/sys/fs/binfmt_misc/status"
  : > "$r/proc/sys/fs/binfmt_misc/register"
fi
mount -t tmpfs -o nosuid,mode=755,size=16m dev "$r/dev"
for n in null zero full random urandom tty; do : > "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done
mkdir "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
mount -t tmpfs -o nosuid,nodev tmpfs "$r/dev/shm"
ln -s /proc/self/fd "$r/dev/fd"
ln -s /proc/self/fd/0 "$r/dev/stdin"
ln -s /proc/self/fd/1 "$r/dev/stdout"
ln -s /proc/self/fd/2 "$r/dev/stderr"
mount -t tmpfs -o nosuid,nodev,mode=755 run "$r/run"
mkdir "$r/run/lab"
mount --bind "$d/log" "$r/run/lab"
if [ -f "$d/wsl/osrelease" ]; then mkdir "$r/run/WSL"; fi
exec env -i PATH=""" + PATH + r""" LANG=C.UTF-8 chroot "$r" "$init"
"""

# Run once per host, in a throwaway overlay whose upper directory becomes the host's setup layer.
SETUP = r"""set -e
useradd -m -u "$3" -s /bin/bash -G sudo dev
usermod -p '*' dev
if [ "$1" = password ]; then chpasswd; fi
ssh-keygen -q -t ed25519 -N '' -C "root@$2" -f /etc/ssh/ssh_host_ed25519_key
ssh-keygen -q -t ecdsa -N '' -C "root@$2" -f /etc/ssh/ssh_host_ecdsa_key
for home in /root /home/dev; do
  mkdir -p "$home/.ssh"; chmod 700 "$home/.ssh"
  cp /etc/lab-authorized-key "$home/.ssh/authorized_keys"; chmod 600 "$home/.ssh/authorized_keys"
done
chown -R dev:dev /home/dev/.ssh
rm /etc/lab-authorized-key
"""


def _cgroup2_root() -> Path | None:
    """This machine's cgroup2 hierarchy (pure v2 at /sys/fs/cgroup, or hybrid's ``unified``)."""
    for p in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (p / "cgroup.procs").exists() and (p / "cgroup.controllers").exists():
            return p
    return None


def _remove_cgroup(path: Path, timeout: float = 10.0) -> None:
    """rmdir a cgroup and what systemd made below it (it empties a moment after its processes go)."""
    deadline = time.monotonic() + timeout
    while path.exists():
        dirs = sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for d in [*dirs, path]:
            with contextlib.suppress(OSError):
                d.rmdir()
        if not path.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"process {pid} did not go away in {timeout:.0f}s")
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    try:
        return [int(w) for w in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN: scan every process's parent
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError):
                if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(stat.parent.name))
        return found
    except OSError:
        return []


def _listening(address: str, port: int = 22) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.3):
        return True
    return False


def _banner(address: str) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, 22), timeout=1) as s:
        s.settimeout(2)
        return s.recv(64).startswith(b"SSH-")
    return False


def _kill_host_process(pid: int) -> None:
    """SIGKILL a recorded PID 1 if it is still a lab host (its root lies in the lab directory)."""
    try:
        root = os.readlink(f"/proc/{pid}/root")
    except OSError:
        return
    if not root.startswith(str(lab.LAB_DIR)):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(RuntimeError):
        _wait_gone(pid)


def sweep() -> None:
    """Kill hosts (and remove their cgroups and directories) whose owning process died.
    Called by ``lab.sweep()`` before it unmounts the roots."""
    for home in lab.LAB_DIR.glob("host-*"):
        if lab._alive(home / "owner"):
            continue
        with contextlib.suppress(OSError, ValueError):
            _kill_host_process(int((home / "pid").read_text()))
        with contextlib.suppress(OSError):
            _remove_cgroup(Path((home / "cgroup").read_text().strip()))
        shutil.rmtree(home, ignore_errors=True)
    for fleet_dir in lab.LAB_DIR.glob("fleet-*"):
        if not lab._alive(fleet_dir / "owner"):
            shutil.rmtree(fleet_dir, ignore_errors=True)


class Host:
    """One booted lab host. Made by ``Fleet``; see the module docstring."""

    def __init__(self, fleet: Fleet, index: int, lock: object, *, wsl: int, password: str | None) -> None:
        self.fleet = fleet
        self.index = index
        self.name = f"lab{index}"
        self.address = f"127.0.0.{index}"
        self.wsl = wsl
        self.password = password
        self.pid: int | None = None
        self._lock = lock
        self._proc: subprocess.Popen | None = None
        self._cgroup: Path | None = None
        self.home = Path(tempfile.mkdtemp(prefix=f"host-{self.name}-", dir=lab.LAB_DIR))
        (self.home / "owner").write_text(str(os.getpid()))
        (self.home / "log").mkdir()
        self.layer = self.home / "layer"
        self.root: lab.Root | None = None

    # -- setup ---------------------------------------------------------------------------------
    def _prepare(self, base: Path) -> None:
        """Write the setup layer, then mount the host's overlay over it."""
        self.layer.mkdir()
        work = self.home / "work"
        merged = self.home / "setup"
        work.mkdir()
        merged.mkdir()
        layer_file = self._layer_file
        layer_file("/etc/lab-authorized-key").write_text(self.fleet.key.with_suffix(".pub").read_text())
        # A private mount namespace holds the throwaway overlay: nothing reaches the mount table.
        enter = ('m=$1; shift; mount -t overlay overlay -o "$1" "$m" && shift && '
                 'mount -t proc proc "$m/proc" && mount --rbind /dev "$m/dev" && exec chroot "$m" "$@"')
        opts = f"lowerdir={base},upperdir={self.layer},workdir={work}"
        mode = "password" if self.password is not None else "nopassword"
        lab.run(["unshare", "--mount", "--pid", "--fork", "--", "sh", "-c", enter, "sh", str(merged),
                 opts, *lab.CHROOT_ENV, "sh", "-c", SETUP, "setup", mode, self.name, str(self.fleet.dev_uid)],
                input=f"dev:{self.password}\n".encode() if self.password is not None else None,
                timeout=120)
        shutil.rmtree(work, ignore_errors=True)
        merged.rmdir()

        layer_file("/etc/hostname").write_text(f"{self.name}\n")
        hosts = (base / "etc/hosts").read_text() if (base / "etc/hosts").is_file() else \
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        layer_file("/etc/hosts").write_text(f"{hosts}{self.address}\t{self.name}\n")
        layer_file("/etc/ssh/sshd_config.d/lab.conf").write_text(
            f"# lab: this host's address; DEBUG1 so sessions and 'req exec' can be counted\n"
            f"ListenAddress {self.address}\nLogLevel DEBUG1\nUsePAM yes\n")
        if self.password is None:
            sudoers = layer_file("/etc/sudoers.d/lab-dev")
            sudoers.write_text("dev ALL=(ALL) NOPASSWD: ALL\n")
            sudoers.chmod(0o440)
        self._executable("/init", INIT)
        layer_file("/etc/systemd/system/ssh.service.d/lab.conf").write_text(SSH_DROPIN)
        for unit in MASKED_UNITS:
            mask = layer_file(f"/etc/systemd/system/{unit}")
            mask.unlink(missing_ok=True)
            mask.symlink_to("/dev/null")
        if self.wsl:
            self._prepare_wsl()
        self.root = lab.Root(base, name=self.name, layers=[self.layer])

    def _prepare_wsl(self) -> None:
        release, version = WSL_KERNELS[self.wsl]
        wsl = self.home / "wsl"
        wsl.mkdir()
        (wsl / "osrelease").write_text(release + "\n")
        (wsl / "version").write_text(version)
        (wsl / "WSLInterop").write_text(WSL_INTEROP)
        if self.fleet.wsl_version is not None:
            self._executable("/usr/bin/wslinfo", f"""#!/bin/sh
# lab: WSL's wslinfo (on real WSL >= 2.2.3 a symlink to /init)
nl='\\n'; [ "$1" = -n ] && {{ nl=''; shift; }}
case "$1" in
  --wsl-version|--version) printf "%s$nl" '{self.fleet.wsl_version}' ;;
  --networking-mode) printf "%s$nl" nat ;;
  *) echo "wslinfo: unknown option: $1" >&2; exit 1 ;;
esac
""")
        self._executable("/usr/bin/wslpath", f"""#!/bin/sh
# lab: WSL's wslpath (on real WSL a symlink to /init), for Linux paths only
sep=/; while [ $# -gt 1 ]; do case "$1" in -w) sep='\\\\' ;; -m|-a|-am|-ma) ;; esac; shift; done
case "$1" in
  /mnt/[a-z]/*|/mnt/[a-z]) d=$(echo "$1" | cut -c6 | tr a-z A-Z); rest=$(echo "$1" | cut -c7-)
    printf '%s:%s\\n' "$d" "${{rest:-/}}" | sed "s|/|$sep|g" ;;
  /*) printf '//wsl.localhost/Lab-{self.name}%s\\n' "$1" | sed "s|/|$sep|g" ;;
  *) echo "wslpath: $1: not an absolute Linux path" >&2; exit 1 ;;
esac
""")

    def _layer_file(self, path: str) -> Path:
        p = self.layer / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def _executable(self, path: str, text: str) -> None:
        p = self._layer_file(path)
        p.write_text(text)
        p.chmod(0o755)

    # -- life cycle ----------------------------------------------------------------------------
    def boot(self, init: str = "/init") -> None:
        """Start the host with ``init`` as its PID 1; return when sshd answers on address:22."""
        if self.pid is not None:
            raise RuntimeError(f"{self.name} is already running (PID {self.pid})")
        if _listening(self.address):
            raise RuntimeError(f"something already listens on {self.address}:22")
        # --kill-child: if unshare itself is killed, PID 1 (and so the whole host) goes with it.
        argv = ["unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--propagation", "private"]
        cg = ""
        if init != "/init":
            cgroot = _cgroup2_root()
            if cgroot is None:
                raise lab.LabUnavailable("booting systemd needs a cgroup2 hierarchy on this machine")
            self._cgroup = cgroot / "provision-lab" / self.name
            self._cgroup.mkdir(parents=True, exist_ok=True)
            (self.home / "cgroup").write_text(str(self._cgroup))
            # Enter the host's cgroup, then make it the root of a new cgroup namespace.
            argv = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self._cgroup / "cgroup.procs"),
                    *argv, "--cgroup"]
            cg = "cgroup"
        console = open(self.home / "log" / "console.log", "ab")
        with console:
            self._proc = subprocess.Popen(
                [*argv, "--", "sh", "-c", BOOT, "boot", str(self.root.path), str(self.home), init, cg,
                 self.name], stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                start_new_session=True)
        try:
            self.pid = self._find_pid1()
            (self.home / "pid").write_text(str(self.pid))
            self._wait_ready()
            if init != "/init":
                state = self.wait_system_running()
                if state not in ("running", "degraded"):
                    raise RuntimeError(f"{self.name}: systemd is {state!r}\n{self._console()}")
        except BaseException:
            self.shutdown()
            raise

    def _find_pid1(self) -> int:
        """The unshare process's child: PID 1 of the new PID namespace."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} failed to boot:\n{self._console()}")
            for child in _children(self._proc.pid):
                return child
            time.sleep(0.01)
        raise RuntimeError(f"{self.name}: no PID 1 after {BOOT_TIMEOUT:.0f}s")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not _banner(self.address):
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} stopped while booting:\n{self._console()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: sshd did not answer on {self.address}:22 within "
                                   f"{BOOT_TIMEOUT:.0f}s\n{self._console()}\n{self.sshd_log()[-2000:]}")
            time.sleep(0.05)

    def wait_system_running(self, timeout: float = SYSTEM_RUNNING_TIMEOUT) -> str:
        """Poll ``systemctl is-system-running`` until it is past starting; its last answer."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.sh("systemctl is-system-running", check=False).stdout.decode().strip()
            if state not in ("initializing", "starting", ""):
                return state
            time.sleep(0.1)
        return state

    def shutdown(self) -> None:
        """Kill PID 1 (the whole PID namespace goes with it) and wait until it is gone."""
        if self._proc is not None:
            if self.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            else:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
            self._proc.wait(timeout=60)
            if self.pid is not None:
                _wait_gone(self.pid)
        self._proc = None
        self.pid = None
        (self.home / "pid").unlink(missing_ok=True)
        if self._cgroup is not None:
            _remove_cgroup(self._cgroup)
            self._cgroup = None
            (self.home / "cgroup").unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop and start the host the way WSL restarts a distro: a WSL2 persona whose
        /etc/wsl.conf enables systemd (and that has systemd) comes back with systemd as PID 1."""
        self.shutdown()
        self.boot(self.next_init())

    def next_init(self) -> str:
        """What ``restart()`` would boot as PID 1."""
        if self.wsl != 2:
            return "/init"
        conf = self.root.file("/etc/wsl.conf")
        if not (conf.is_file() and wslinit.boots_systemd(conf.read_bytes())):
            return "/init"
        # WSL's init also wants an executable /sbin/init (systemd-sysv), resolved inside the root
        has = lab.in_root(self.root.path, "test -x /lib/systemd/systemd && test -x /sbin/init",
                          check=False, timeout=60)
        return "/lib/systemd/systemd" if has.returncode == 0 else "/init"

    def close(self) -> None:
        """Shut down, unmount the overlay, remove the host's files and release its address."""
        try:
            self.shutdown()
        finally:
            if self.root is not None:
                self.root.close()
            shutil.rmtree(self.home, ignore_errors=True)
            self._lock.close()

    # -- inside the host -----------------------------------------------------------------------
    def pid1_comm(self) -> str:
        return self.sh("cat /proc/1/comm").stdout.decode().strip()

    def sh(self, script: str, *, check: bool = True, input: bytes | None = None,
           timeout: float = 1800) -> subprocess.CompletedProcess:
        """Run ``sh -c script`` inside the running host (its mount, UTS and PID namespaces, its root)."""
        if self.pid is None:
            raise RuntimeError(f"{self.name} is not running")
        return lab.run(["nsenter", "-t", str(self.pid), "-m", "-u", "-p", "-r", "-w", "--",
                        *lab.CHROOT_ENV, "sh", "-c", script], check=check, input=input, timeout=timeout)

    def ssh(self, command: str, *, user: str = "root", check: bool = False,
            timeout: float = 600) -> subprocess.CompletedProcess:
        """The real OpenSSH client: ``ssh -F <fleet ssh_config> user@name command``."""
        return lab.run(["ssh", "-F", str(self.fleet.ssh_config), f"{user}@{self.name}", command],
                       check=check, timeout=timeout)

    def sshd_log(self) -> str:
        log = self.home / "log" / "sshd.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def _console(self) -> str:
        log = self.home / "log" / "console.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def host_key_line(self) -> str:
        kind, key = (self.layer / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
        return f"{self.name},{self.address} {kind} {key}"

    def __repr__(self) -> str:
        return f"<Host {self.name} wsl={self.wsl} pid={self.pid}>"


def _allocate(n: int) -> list[tuple[int, object]]:
    """n free indices, each with its lock held: not locked by another session, nothing on :22."""
    lab.LAB_DIR.mkdir(parents=True, exist_ok=True)
    got: list[tuple[int, object]] = []
    try:
        for index in range(FIRST_INDEX, LAST_INDEX + 1):
            if len(got) == n:
                break
            fh = open(lab.LAB_DIR / f".host-{index}.lock", "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            if _listening(f"127.0.0.{index}"):
                fh.close()
                continue
            got.append((index, fh))
        if len(got) < n:
            raise RuntimeError(f"only {len(got)} of {n} lab addresses are free")
    except BaseException:
        for _, fh in got:
            fh.close()
        raise
    return got


class Fleet:
    """n booted hosts and the client files to reach them. A context manager: ``__enter__`` boots
    them all in parallel, ``__exit__`` tears everything down, also after a failure.

    ``wsl`` makes every host a WSL1 or WSL2 persona. With ``sudo_password``, the hosts whose
    position is in ``password_hosts`` (default: all) give ``dev`` that password and sudo asks for
    it; the others have ``dev ALL=(ALL) NOPASSWD: ALL``."""

    def __init__(self, base: Path, n: int, *, wsl: int = 0, wsl_version: str | None = "2.3.26",
                 sudo_password: str | None = None, password_hosts: set[int] | None = None,
                 dev_uid: int = 1000) -> None:
        if wsl not in (0, 1, 2):
            raise ValueError("wsl is 0, 1 or 2")
        self.base = Path(base)
        self.n = n
        self.wsl = wsl
        self.wsl_version = wsl_version
        self.sudo_password = sudo_password
        self.dev_uid = dev_uid  # another uid when the base has its own user 1000 (an imported WSL image)
        self.password_hosts = set(range(n)) if password_hosts is None else set(password_hosts)
        self.hosts: list[Host] = []
        lab.LAB_DIR.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-", dir=lab.LAB_DIR))
        (self.dir / "owner").write_text(str(os.getpid()))
        self.key = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.ssh_config = self.dir / "ssh_config"

    def start(self) -> Fleet:
        try:
            lab.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "provision-lab",
                     "-f", str(self.key)])
            self.key.chmod(0o600)
            for pos, (index, lock) in enumerate(_allocate(self.n)):
                pw = self.sudo_password if self.sudo_password is not None and pos in self.password_hosts \
                    else None
                self.hosts.append(Host(self, index, lock, wsl=self.wsl, password=pw))
            self._parallel(lambda h: h._prepare(self.base))
            self.known_hosts.write_text("".join(h.host_key_line() + "\n" for h in self.hosts))
            self.ssh_config.write_text("".join(self._config_block(h) for h in self.hosts))
            self._parallel(Host.boot)
        except BaseException:
            self.close()
            raise
        return self

    def _config_block(self, host: Host) -> str:
        return (f"Host {host.name}\n  HostName {host.address}\n  User root\n  IdentityFile {self.key}\n"
                f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
                f"  IdentitiesOnly yes\n  BatchMode yes\n  ConnectTimeout 20\n  LogLevel ERROR\n\n")

    def _parallel(self, fn) -> None:
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(self.hosts)))) as pool:
            for future in [pool.submit(fn, h) for h in self.hosts]:
                future.result()

    def close(self) -> None:
        errors = []
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(self.hosts)))) as pool:
            for future in [pool.submit(h.close) for h in self.hosts]:
                try:
                    future.result()
                except Exception as exc:  # keep tearing the others down
                    errors.append(exc)
        self.hosts = []
        shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, i: int) -> Host:
        return self.hosts[i]
