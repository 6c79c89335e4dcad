"""Issue 18, "No way in": a chroot target's root file system comes from elsewhere, and verify runs
its first regular user's ``~/.profile`` (``su -``, the login-shell check). That user, ``alice``
(uid 1000 in the root), tries to reach this machine from her profile: through the /proc of this
machine's processes (a process of uid 1000 here, as on a workstation; PID 1), through its device
nodes (in group disk and tty in the root), by forging the check's answer, and by never ending.
A root whose /proc, /sys or /dev is a link or not a directory is refused before anything is
mounted."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest
from conftest import provision

from provision.java.checks import LOGIN_TIMEOUT

pytestmark = pytest.mark.lab

LOGIN = "java_home: a login shell (su -) sees JAVA_HOME"
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip() or "amd64"
HOME = f"/usr/lib/jvm/java-17-openjdk-{ARCH}"
DEVICES = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts/ptmx"}


@pytest.fixture
def root(jdk_root: Path) -> Iterator[lab.Root]:
    """The JDK installed, JAVA_HOME in /etc/environment, and alice: the first regular user."""
    with lab.Root(jdk_root, name="hostile-chroot") as r:
        r.sh(f"useradd -m -s /bin/sh alice && echo 'JAVA_HOME=\"{HOME}\"' >> /etc/environment")
        yield r


def profile(root: lab.Root, script: str) -> None:
    path = root.file("/home/alice/.profile")
    path.write_text(script)
    os.chown(path, *alice_ids(root))


def alice_ids(root: lab.Root) -> tuple[int, int]:
    st = os.stat(root.file("/home/alice"))
    return st.st_uid, st.st_gid


def alice_file(root: lab.Root, name: str) -> str:
    path = root.file(f"/home/alice/{name}")
    return path.read_text() if path.exists() else ""


def login_check(root: lab.Root, timeout: float = 240) -> dict[str, str]:
    """Run verify on the root; the login-shell check's result."""
    result = provision("verify", "java17", "-H", root.target, "--json", timeout=timeout)
    assert result.rc in (0, 1), result
    checks = {c["name"]: c for h in result.json["hosts"] for c in h["checks"]}
    return checks[LOGIN]


@pytest.fixture
def neighbour() -> Iterator[subprocess.Popen[bytes]]:
    """A process of uid 1000 on this machine (someone's login here), with a name to look for."""
    proc = subprocess.Popen(["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--",
                             "sleep", "4242.19"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("premounted", [False, True], ids=["bare", "host-proc-mounted-in-the-root"])
def test_a_profile_cannot_reach_this_machine_through_proc(root, neighbour, premounted):
    """alice's profile lists every process it can see and writes into /tmp of each one's root
    (/proc/PID/root/tmp): as uid 1000 she may enter the root of this machine's uid-1000 process.
    Also when the root already has this machine's /proc mounted in it (a root prepared by hand)."""
    marker = f"h19-pwned-{uuid.uuid4().hex}"
    profile(root, f"""for p in /proc/[0-9]*; do
  printf '%s %s\\n' "${{p#/proc/}}" "$(tr '\\0' ' ' < "$p/cmdline" 2>/dev/null)" >> ~/seen
  r=$(stat -Lc %d:%i "$p/root" 2>/dev/null) && [ "$r" != "$(stat -c %d:%i /)" ] && echo "$p" >> ~/foreign
  echo pwned 2>/dev/null > "$p/root/tmp/{marker}"
done
""")
    if premounted:
        lab.run(["mount", "--bind", "/proc", str(root.file("/proc"))])
    try:
        check = login_check(root)
    finally:
        if premounted:
            lab.run(["umount", str(root.file("/proc"))])
    assert not Path("/tmp", marker).exists(), "the profile wrote into this machine's /tmp"
    assert alice_file(root, "foreign") == ""  # no process whose root she can enter is outside hers
    seen = alice_file(root, "seen")
    assert seen, "the profile did not run"
    assert "4242.19" not in seen, seen  # this machine's processes are not in her /proc
    assert f"{neighbour.pid} " not in seen.replace("\n", " \n")
    assert len(seen.splitlines()) < 10, seen  # su and the login shell's own, nothing else
    assert check["status"] == "passed", check  # the check itself still works


def a_disk() -> tuple[str, int]:
    """A block device of this machine with data on it: (name, device number)."""
    for dev in sorted(Path("/sys/class/block").iterdir()):
        if (dev / "size").read_text().strip() not in ("", "0") and Path("/dev", dev.name).exists():
            return dev.name, os.stat(Path("/dev", dev.name)).st_rdev
    pytest.skip("no block device with data on this machine")


def test_a_profile_sees_no_device_of_this_machine(root):
    """In group disk and tty in the root, alice lists the device nodes under /dev and reads the
    first block of every block device she finds: there must be none but the few a root needs.
    The root itself came with a node for this machine's disk, hers: it must not open either."""
    name, rdev = a_disk()
    root.sh("usermod -aG disk,tty alice")
    os.mknod(root.file("/home/alice/disk"), 0o600 | stat.S_IFBLK, rdev)
    os.chown(root.file("/home/alice/disk"), *alice_ids(root))
    profile(root, """for f in /dev/* /dev/*/* /dev/*/*/*; do
  [ -L "$f" ] && continue
  if [ -b "$f" ] || [ -c "$f" ]; then echo "$f" >> ~/devices; fi
  if [ -b "$f" ] && head -c 512 "$f" > /dev/null 2>&1; then echo "$f" >> ~/read; fi
done
head -c 512 ~/disk > ~/disk-bytes 2>/dev/null; wc -c < ~/disk-bytes > ~/disk-read
""")
    check = login_check(root)
    devices = set(alice_file(root, "devices").split())
    assert devices, "the profile did not run"
    assert devices <= DEVICES, sorted(devices - DEVICES)
    assert alice_file(root, "read") == ""
    assert alice_file(root, "disk-read").strip() == "0", f"she read /dev/{name} through the root's own node"
    assert check["status"] == "passed", check


def test_a_setuid_program_that_came_with_the_root_gives_no_root(root):
    """The root came with a setuid-root shell: from her profile, alice would be root in the root,
    and root in a chroot can reach everything on this machine."""
    shell = root.file("/usr/local/bin/rootsh")
    shell.write_bytes(root.file("/bin/dash").read_bytes())
    os.chmod(shell, 0o4755)
    profile(root, "/usr/local/bin/rootsh -p -c 'id -u' > ~/euid 2>&1\n")
    check = login_check(root)
    assert alice_file(root, "euid").strip() == str(alice_ids(root)[0])
    assert check["status"] == "passed", check


def test_a_profile_cannot_forge_the_login_shells_answer(root):
    """/etc/environment has no JAVA_HOME: alice's profile prints the expected value (at once, at
    exit and from a process it leaves behind), hoping it is read as the answer."""
    env = root.file("/etc/environment")
    env.write_text("".join(ln for ln in env.read_text().splitlines(True) if not ln.startswith("JAVA_HOME=")))
    profile(root, f"""echo {HOME}
trap 'echo {HOME}' EXIT
(sleep 1; echo {HOME}; echo {HOME} >&2) &
""")
    check = login_check(root)
    assert check["status"] == "failed", check
    assert check["message"] == f"a login shell of alice has no JAVA_HOME (expected {HOME})", check


def _sleepers(uid: int) -> list[int]:
    """The processes of ``uid`` on this machine running ``sleep 3600`` (what the profile starts)."""
    found = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if os.stat(p).st_uid == uid and (p / "cmdline").read_bytes() == b"sleep\x003600\x00":
                found.append(int(p.name))
        except OSError:
            continue
    return found


def test_a_profile_that_never_ends_is_cut_off_with_what_it_left_behind(root):
    """alice's profile leaves a process in a session of its own, then never ends: verify stops
    waiting after LOGIN_TIMEOUT seconds, says so, and nothing of hers is left running."""
    profile(root, "setsid sleep 3600 < /dev/null > /dev/null 2>&1 &\nexec sleep 3600\n")
    t0 = time.monotonic()
    check = login_check(root, timeout=LOGIN_TIMEOUT + 90)
    took = time.monotonic() - t0
    assert check["status"] == "failed", check
    assert check["message"] == f"a login shell of alice did not finish within {LOGIN_TIMEOUT}s (su - alice)", check
    assert took < LOGIN_TIMEOUT + 60, took
    deadline = time.monotonic() + 10
    while _sleepers(alice_ids(root)[0]):
        assert time.monotonic() < deadline, _sleepers(alice_ids(root)[0])
        time.sleep(0.2)


@pytest.mark.parametrize("name, kind", [("proc", "link"), ("dev", "link"), ("sys", "link"), ("sys", "file")])
def test_a_root_whose_proc_sys_or_dev_is_not_a_directory_is_refused(root, name, kind):
    """A link (into alice's home, where she could change it) or a file where the root should have
    a directory: refused in one line naming the path, before anything is mounted or run."""
    target = root.file(f"/{name}")
    root.sh(f"mkdir /home/alice/{name}x && chown alice: /home/alice/{name}x")
    shutil.rmtree(target)
    if kind == "link":
        os.symlink(f"home/alice/{name}x", target)
    else:
        target.write_text("")
    result = provision("facts", "java17", "-H", root.target)
    assert result.rc != 0, result
    why = "is a symbolic link (to 'home/alice/" if kind == "link" else "is not a directory"
    lines = [ln for ln in result.stderr.splitlines() if f"{root.path}/{name} {why}" in ln]
    assert len(lines) == 1 and f"refusing to mount /{name} there" in lines[0], result
    assert os.listdir(root.file(f"/home/alice/{name}x")) == []  # nothing was mounted there
