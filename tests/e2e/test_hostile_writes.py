"""Issue 18, the write primitive, on lab roots: an unprivileged user of the target (``alice``, made
with useradd in the root) plants symbolic links, hard links and swapped parent directories at the
paths a playbook manages, before and during the run; root-owned paths get a link root planted. No
write, backup, rollback restore or journal write may reach anything outside the playbook's paths:
after each case the whole root is compared with a snapshot taken before it."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import lab
import pytest
from conftest import provision

from provision.connections.chroot import ChrootConnection
from provision.errors import ResourceError

pytestmark = pytest.mark.lab

STATE = "/var/lib/provision"
SKIP = ("/proc", "/sys", "/dev", STATE, "/var/log", "/var/cache/apt")
VICTIMS = ("/etc/shadow", "/etc/passwd", "/etc/motd")


def snapshot(root: lab.Root, skip: tuple[str, ...] = SKIP) -> dict[str, tuple[object, ...]]:
    """Every entry of the root (bar ``skip``): type, mode, owner, size, link target, and the sha256
    of every regular file the overlay's upper layer holds. A file of the base that was written,
    chmod-ed or chown-ed is copied up first (overlayfs), so hashing the upper layer's files and
    lstat-ing everything is a byte-for-byte comparison of the whole root."""
    out: dict[str, tuple[object, ...]] = {}
    merged = str(root.path)
    for top, dirs, files in os.walk(merged):
        rel = top[len(merged):] or "/"
        dirs[:] = [d for d in dirs if f"{rel.rstrip('/')}/{d}" not in skip]
        for name in [*dirs, *files]:
            path = f"{rel.rstrip('/')}/{name}"
            st = os.lstat(os.path.join(top, name))
            entry: tuple[object, ...] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                         st.st_size if not stat.S_ISDIR(st.st_mode) else 0)
            if stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(os.path.join(top, name)),)
            elif stat.S_ISREG(st.st_mode) and (root.upper / path.lstrip("/")).exists():
                entry += (hashlib.sha256(Path(top, name).read_bytes()).hexdigest(),)
            out[path] = entry
    return out


def changed(before: dict[str, tuple[object, ...]], after: dict[str, tuple[object, ...]],
            allowed: tuple[str, ...] = ()) -> list[str]:
    """Paths that differ, bar ``allowed`` (the playbook's own paths and what is under them)."""
    diff = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    return sorted(p for p in diff if not any(p == a or p.startswith(a.rstrip("/") + "/") for a in allowed))


def as_alice(root: lab.Root, script: str) -> None:
    lab.run(["chroot", "--userspec=alice:alice", str(root.path), "/bin/sh", "-c", "cd /home/alice && " + script])


@pytest.fixture
def root(base_root: Path):
    with lab.Root(base_root, name="hostile") as r:
        r.sh("useradd -m -s /bin/sh alice && chmod 755 /home/alice && "
             "printf 'root banner\\n' > /etc/motd && printf 'victim\\n' > /etc/victim")
        yield r


def book(tmp: Path, resources: str, templates: dict[str, str] | None = None) -> str:
    for name, text in (templates or {"app.j2": "managed by provision\n"}).items():
        (tmp / name).write_text(text)
    path = tmp / "site.yml"
    path.write_text(f"name: hostile\nresources:\n{resources}")
    return str(path)


def template(dest: str, *, owner: str = "alice", follow: bool = False, rid: str = "") -> str:
    head = f"  - id: {rid}\n    template:\n" if rid else "  - template:\n"
    return (head + f"      src: app.j2\n      dest: {dest}\n      owner: {owner}\n      group: {owner}\n"
            + ("      follow: true\n" if follow else ""))


def refused(root: lab.Root, playbook: str, *words: str, allowed: tuple[str, ...] = (),
            extra: tuple[str, ...] = ()) -> str:
    before = snapshot(root)
    r = provision("apply", playbook, "-H", root.target, *extra)
    assert r.rc != 0, r
    text = r.stdout + r.stderr
    for w in words:
        assert w in text, r
    assert changed(before, snapshot(root), allowed) == []
    return text


# ---------------------------------------------------------------- planted before the run

@pytest.mark.parametrize("follow", [False, True])
def test_a_link_at_the_destination_is_refused_not_written_through(root, tmp_path, follow):
    """The issue's reproduction: alice links her app.conf to /etc/shadow; apply must neither
    write /etc/shadow nor chown it to her, with or without follow (her link is never followed)."""
    as_alice(root, "ln -s /etc/shadow app.conf")
    pb = book(tmp_path, template("/home/alice/app.conf", follow=follow))
    text = refused(root, pb, "/home/alice/app.conf", "/etc/shadow")
    assert ("non-root user owns" in text) if follow else ("is a symbolic link (to /etc/shadow)" in text)
    assert os.path.islink(root.file("/home/alice/app.conf"))
    assert os.stat(root.file("/etc/shadow")).st_uid == 0


@pytest.mark.parametrize("follow", [False, True])
def test_a_parent_directory_that_is_a_link_is_refused(root, tmp_path, follow):
    as_alice(root, "ln -s /etc conf")
    pb = book(tmp_path, template("/home/alice/conf/passwd", follow=follow))
    refused(root, pb, "/home/alice/conf is a symbolic link (to /etc)")


def test_a_root_link_in_a_directory_alice_can_write_is_not_followed(root, tmp_path):
    """follow: true follows only links nobody but root can have made or can change."""
    root.sh("ln -s /etc/motd /home/alice/motd")
    pb = book(tmp_path, template("/home/alice/motd", owner="root", follow=True))
    refused(root, pb, "/home/alice/motd is a symbolic link (to /etc/motd) in a directory a non-root user can write")


def test_a_hard_link_to_a_file_elsewhere_is_refused(root, tmp_path):
    """A hard link in alice's home to /etc/shadow (what she could make on a kernel without
    protected_hardlinks; root makes it here, as this kernel has them): refused, shadow not read
    into a plan, a backup or a diff."""
    root.sh("ln /etc/shadow /home/alice/app.conf")
    pb = book(tmp_path, template("/home/alice/app.conf"))
    before = snapshot(root)
    plan = provision("plan", pb, "-H", root.target, "--diff")
    assert plan.rc != 0 and "has 2 hard links" in plan.stdout + plan.stderr, plan
    assert "\nroot:" not in plan.stdout + plan.stderr and "-root:" not in plan.stdout  # shadow's lines
    refused(root, pb, "/home/alice/app.conf has 2 hard links")
    assert changed(before, snapshot(root)) == []


ROOT_PATHS = {
    "env_file": ("/etc/environment", "  - env_file:\n      set:\n        FOO: bar\n", {}),
    "profile_script": ("/etc/profile.d/app.sh",
                       "  - profile_script:\n      name: app.sh\n      template: app.sh.j2\n",
                       {"app.sh.j2": "export FOO=bar\n"}),
    "wsl_conf": ("/etc/wsl.conf", "  - wsl_conf:\n      set:\n        user.default: alice\n", {}),
    "template_parent": ("/etc/app.d/app.conf", template("/etc/app.d/app.conf", owner="root"), None),
}


@pytest.mark.parametrize("case", sorted(ROOT_PATHS))
def test_a_link_root_planted_at_a_root_path_is_refused_without_follow(root, tmp_path, case):
    """Root-owned paths: nobody else can plant there, but a link someone (root) put there is still
    not written through unless the playbook says follow: true."""
    path, resources, templates = ROOT_PATHS[case]
    if case == "template_parent":
        root.sh("mkdir -p /etc/real.d && ln -s /etc/real.d /etc/app.d")
        words = ("/etc/app.d is a symbolic link (to /etc/real.d)",)
    else:
        root.sh(f"rm -f {path}; ln -s /etc/victim {path}")
        words = (f"{path} is a symbolic link (to /etc/victim)",)
    pb = book(tmp_path, resources, templates)
    refused(root, pb, *words, extra=("--assume", "wsl=2") if case == "wsl_conf" else ())
    assert root.file("/etc/victim").read_bytes() == b"victim\n"


def _key(tmp: Path) -> str:
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "lab <lab@example.invalid>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True)
    return subprocess.run(["gpg", "--armor", "--export"], env=env, check=True, capture_output=True).stdout.decode()


@pytest.mark.parametrize("which", ["key", "sources"])
def test_apt_repository_key_and_source_links_are_refused(root, tmp_path, which):
    key = _key(tmp_path)
    path = "/etc/apt/keyrings/lab.asc" if which == "key" else "/etc/apt/sources.list.d/lab.sources"
    root.sh(f"mkdir -p /etc/apt/keyrings && ln -s /etc/victim {path}")
    indented = "\n".join("        " + line for line in key.strip().splitlines())
    pb = book(tmp_path, "  - apt_repository:\n      name: lab\n      uris: [http://127.0.0.1:9/lab]\n"
              f"      suites: [bookworm]\n      key: |\n{indented}\n")
    refused(root, pb, f"{path} is a symbolic link (to /etc/victim)")
    assert root.file("/etc/victim").read_bytes() == b"victim\n"


# ---------------------------------------------------------------- the journal and backups

PLANTED_STATE = {
    "state dir a link": "mkdir -p /home/alice/state && chown alice /home/alice/state && "
                        "ln -s /home/alice/state /var/lib/provision",
    "backups a link": "mkdir -p /var/lib/provision/runs /home/alice/bk && "
                      "chown alice /home/alice/bk && ln -s /home/alice/bk /var/lib/provision/backups",
    "runs alice's": "mkdir -p /var/lib/provision/runs /var/lib/provision/backups && "
                    "chown alice /var/lib/provision/runs && chmod 777 /var/lib/provision/runs",
    # the checks are made by one stat of every directory, not by the walk into each: each must still hold
    "runs alice's 0700": "mkdir -p /var/lib/provision/runs /var/lib/provision/backups && "
                         "chown alice /var/lib/provision/runs && chmod 700 /var/lib/provision/runs",
    "backups root's 0777": "mkdir -p /var/lib/provision/runs /var/lib/provision/backups && "
                           "chmod 777 /var/lib/provision/backups",
    "backups group alice's": "mkdir -p /var/lib/provision/runs /var/lib/provision/backups && "
                             "chgrp alice /var/lib/provision/backups && chmod 770 /var/lib/provision/backups",
    "state dir 0777": "mkdir -p /var/lib/provision && chmod 777 /var/lib/provision",
    "/var/lib 0777": "mkdir -p /var/lib/provision/runs /var/lib/provision/backups && chmod 777 /var/lib",
    "runs a link root made": "mkdir -p /var/lib/provision/backups /root/runs && "
                             "ln -s /root/runs /var/lib/provision/runs",
    "runs a file": "mkdir -p /var/lib/provision/backups && touch /var/lib/provision/runs",
    "lock a link": "mkdir -p /var/lib/provision && ln -s /etc/victim /var/lib/provision/lock",
    "lock a fifo": "mkdir -p /var/lib/provision && mkfifo /var/lib/provision/lock",
}


@pytest.mark.parametrize("how", list(PLANTED_STATE))
def test_a_state_dir_someone_else_could_change_is_not_used(root, tmp_path, how):
    """/var/lib/provision, its runs/ and backups/ must be root's and closed (0700 repaired, a link
    or another owner refused), and its lock a file: else a journal line or a backup of a 0600 file
    lands elsewhere (or the run waits on a FIFO for ever)."""
    root.sh(PLANTED_STATE[how])
    root.sh("printf 'before\\n' > /etc/app.conf && chmod 600 /etc/app.conf")
    pb = book(tmp_path, template("/etc/app.conf", owner="root"))
    skip = tuple(s for s in SKIP if s != STATE)  # the state dir included
    before = snapshot(root, skip)
    r = provision("apply", pb, "-H", root.target)
    assert r.rc != 0 and "refusing to use it" in r.stdout + r.stderr, r
    assert changed(before, snapshot(root, skip)) == []
    for planted in ("/home/alice/state", "/home/alice/bk"):
        assert not root.file(planted).exists() or os.listdir(root.file(planted)) == []


@pytest.mark.parametrize("lax", ["", "/runs", "/backups"])
def test_a_lax_state_dir_is_repaired_to_0700(root, tmp_path, lax):
    root.sh("mkdir -p /var/lib/provision/runs /var/lib/provision/backups && chmod 700 /var/lib/provision/* && "
            f"chmod 755 /var/lib/provision{lax}")
    pb = book(tmp_path, template("/etc/app.conf", owner="root"))
    assert provision("apply", pb, "-H", root.target).rc == 0
    for d in ("", "/runs", "/backups"):
        assert stat.S_IMODE(os.stat(root.file("/var/lib/provision" + d)).st_mode) == 0o700


def test_a_garbled_keep_runs_record_keeps_the_default(root, tmp_path):
    """keep-runs is read by the shell's own read: a value that is not a count means the default
    (20 runs kept), never a command, a glob or the digits picked out of it (1 here)."""
    pb = book(tmp_path, template("/etc/app.conf", owner="root"))
    for i in range(3):
        (tmp_path / "app.j2").write_text(f"v{i}\n")  # a change each time: a journal each time
        assert provision("apply", pb, "-H", root.target, *(["--keep-runs", "1"] if i == 0 else [])).rc == 0
        if i == 0:
            assert root.file("/var/lib/provision/keep-runs").read_text() == "1\n"
            root.file("/var/lib/provision/keep-runs").write_text("1; touch /tmp/pwned *\n")
    assert len(os.listdir(root.file("/var/lib/provision/runs"))) == 3
    assert not root.file("/tmp/pwned").exists()


# ---------------------------------------------------------------- rollback

def test_rollback_through_a_planted_temp_name_overwrites_nothing(root, tmp_path):
    """Rollback used to restore through `.<name>.provision-rb` beside the file: alice links that
    name to /etc/passwd between the run and its rollback."""
    as_alice(root, "printf 'alice:x:0:0::/root:/bin/sh\\n' > app.conf")
    pb = book(tmp_path, template("/home/alice/app.conf"))
    assert provision("apply", pb, "-H", root.target).rc == 0
    as_alice(root, "ln -s /etc/passwd .app.conf.provision-rb")
    before = snapshot(root)
    r = provision("rollback", "-H", root.target)
    assert r.rc == 0, r
    assert root.file("/home/alice/app.conf").read_bytes() == b"alice:x:0:0::/root:/bin/sh\n"
    assert os.readlink(root.file("/home/alice/.app.conf.provision-rb")) == "/etc/passwd"
    assert changed(before, snapshot(root), ("/home/alice/app.conf",)) == []


def test_a_link_written_through_with_follow_comes_back_as_a_link(root, tmp_path):
    """follow: true on a link root owns in a root-only directory: the link stays a link, its target
    gets the content; rollback gives the target its content back and leaves the link a link."""
    root.sh("mkdir -p /etc/app && printf 'old\\n' > /etc/app/real.conf && chmod 640 /etc/app/real.conf && "
            "ln -s app/real.conf /etc/app.conf")
    pb = book(tmp_path, template("/etc/app.conf", owner="root", follow=True))
    before = snapshot(root)
    assert provision("apply", pb, "-H", root.target).rc == 0
    assert os.readlink(root.file("/etc/app.conf")) == "app/real.conf"
    assert root.file("/etc/app/real.conf").read_bytes() == b"managed by provision\n"
    assert changed(before, snapshot(root), ("/etc/app/real.conf",)) == []
    again = provision("apply", pb, "-H", root.target, "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
    r = provision("rollback", "-H", root.target)
    assert r.rc == 0, r
    assert os.readlink(root.file("/etc/app.conf")) == "app/real.conf"
    assert root.file("/etc/app/real.conf").read_bytes() == b"old\n"
    assert changed(before, snapshot(root)) == []


# ---------------------------------------------------------------- the race

SWAPPER = r"""
cd /home/alice
mkdir -p d.real f
while :; do
  mv -T d.real d 2>/dev/null; mv -T d d.real 2>/dev/null; ln -s /etc d 2>/dev/null; rm -f d
  ln -sfn /etc/shadow f/app.conf; rm -f f/app.conf; : > f/app.conf; rm -f f/app.conf
  mv -T d.real d 2>/dev/null; ln -s /etc/shadow f/app.conf 2>/dev/null
  mv -T d d.real 2>/dev/null; ln -s /etc d 2>/dev/null; rm -f f/app.conf; rm -f d
done
"""


def test_swapping_links_and_directories_during_writes_never_escapes(root, tmp_path):
    """alice swaps her directory for a link to /etc and her file for a link to /etc/shadow, as
    fast as she can, while root writes, restores and removes there 300 times (and applies run):
    whatever each attempt does, nothing outside her home changes."""
    root.sh("printf 'backup\\n' > /root/bk && chmod 600 /root/bk && mkdir -p /var/lib/provision/backups/r && "
            "chmod -R 700 /var/lib/provision && cp -p /root/bk /var/lib/provision/backups/r/bk")
    before = snapshot(root)
    victims = {v: (root.file(v).read_bytes(), os.stat(root.file(v)).st_uid) for v in VICTIMS}
    swapper = subprocess.Popen(["chroot", "--userspec=alice:alice", str(root.path), "/bin/sh", "-c", SWAPPER],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outcomes: dict[str, int] = {}
    try:
        conn = ChrootConnection(str(root.path))
        for i in range(300):
            path = ("/home/alice/d/passwd", "/home/alice/f/app.conf", "/home/alice/d/shadow")[i % 3]
            try:
                if i % 5 == 4:
                    conn.restore_file(path, "/var/lib/provision/backups/r/bk")
                elif i % 7 == 6:
                    conn.remove_file(path, backup=f"/var/lib/provision/backups/r{i}{path}")
                else:
                    conn.write_file(path, b"alice:x:0:0::/root:/bin/sh\n", mode=0o644, owner="alice:alice",
                                    backup=f"/var/lib/provision/backups/r{i}{path}", follow=i % 2 == 1)
                outcomes["done"] = outcomes.get("done", 0) + 1
            except ResourceError:
                outcomes["refused"] = outcomes.get("refused", 0) + 1
        pb = book(tmp_path, template("/home/alice/d/passwd", rid="a") + template("/home/alice/f/app.conf", rid="b"))
        for _ in range(8):
            r = provision("apply", pb, "-H", root.target)
            assert r.rc in (0, 1) and "internal error" not in r.stdout + r.stderr, r
    finally:
        swapper.kill()
        swapper.wait()
    assert sum(outcomes.values()) == 300 and outcomes.get("done", 0) > 0, outcomes
    for v, (data, uid) in victims.items():
        assert (root.file(v).read_bytes(), os.stat(root.file(v)).st_uid) == (data, uid), v
    assert changed(before, snapshot(root), ("/home/alice",)) == []
