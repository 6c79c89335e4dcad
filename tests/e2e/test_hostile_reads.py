"""Issue 18, what provision reads and shows, on lab roots: an unprivileged user of the target
(``alice``) watches every command line while an apply runs with a secret in ``-e``, plants a huge
sparse file or a FIFO at a managed path, and points her shell start-up files (which doctor reads)
at /etc/shadow, a FIFO or a huge file. Nothing of the secret or of shadow may show, and nothing
may stall: each command ends quickly, with a clear error where it refuses."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import lab
import pytest
from conftest import REPO, Result, provision

pytestmark = pytest.mark.lab

QUICK = 60  # seconds: far more than any of these takes, far less than a stalled read (300 s)


@pytest.fixture
def root(base_root: Path):
    with lab.Root(base_root, name="reads") as r:
        r.sh("useradd -m -s /bin/sh alice && chmod 755 /home/alice")
        yield r


def as_alice(root: lab.Root, script: str) -> None:
    lab.run(["chroot", "--userspec=alice:alice", str(root.path), "/bin/sh", "-c", "cd /home/alice && " + script])


def book(tmp: Path, resources: str, template: str = "managed by provision\n", vars_: str = "") -> str:
    (tmp / "app.j2").write_text(template)
    path = tmp / "site.yml"
    path.write_text(f"name: reads\n{vars_}resources:\n{resources}")
    return str(path)


def command_lines(skip: int) -> list[bytes]:
    """Every process's command line on this machine (a chroot target's processes are ours), bar
    ``skip``'s (the controller: its own command line is the user's, on the controller) and its
    forks caught before they exec (the controller's very command line, not yet a target's)."""
    try:
        own = Path(f"/proc/{skip}/cmdline").read_bytes()
    except OSError:
        own = None
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == skip:
            continue
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if line != own:
            out.append(line)
    return out


# ---------------------------------------------------------------- -e values

def test_extra_var_values_reach_no_command_line_and_no_lock_owner(root, tmp_path):
    """alice runs `ps` (reads /proc/*/cmdline, world-readable) all through an apply given
    `-e secret=…`: the held command's arguments (its owner line) must not carry the value, nor
    must lock.owner; the key is still named there."""
    secret = "S3CRET" + secrets.token_hex(8)
    pb = book(tmp_path, "  - template:\n      src: app.j2\n      dest: /etc/app.conf\n      mode: '0600'\n",
              template="password={{ secret }}\n",
              vars_="vars:\n  secret:\n    type: str\n    default: ''\n    description: a password\n")
    proc = subprocess.Popen([sys.executable, "-m", "provision", "apply", pb, "-H", root.target,
                             "-e", f"secret={secret}"], cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[bytes] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.extend(line for line in command_lines(proc.pid) if secret.encode() in line)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        done.set()
        watcher.join()
    r = Result(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert r.rc == 0, r
    assert root.file("/etc/app.conf").read_text() == f"password={secret}\n"  # the value was used
    assert seen == [], seen[:3]
    owner = root.file("/var/lib/provision/lock.owner").read_text()
    assert secret not in owner and "-e secret=…" in owner, owner
    journals = list(root.file("/var/lib/provision/runs").glob("*.jsonl"))
    assert journals and all(secret not in j.read_text() for j in journals)  # the key, not the value


# ---------------------------------------------------------------- managed files read for facts

def plan_quickly(root: lab.Root, pb: str) -> Result:
    before = root.changed_paths()
    started = time.monotonic()
    r = provision("plan", pb, "-H", root.target, timeout=QUICK)
    assert time.monotonic() - started < QUICK
    assert r.rc != 0, r
    assert root.changed_paths() == before  # nothing written, not even the state dir
    return r


def test_a_huge_sparse_file_at_a_managed_path_is_refused_unread(root, tmp_path):
    """400 MB of holes at alice's app.conf took plan 74 s and 2.6 GB: now it is refused, naming
    the path and the size, and plan ends at once."""
    as_alice(root, "truncate -s 400M app.conf")
    pb = book(tmp_path, "  - template:\n      src: app.j2\n      dest: /home/alice/app.conf\n"
                        "      owner: alice\n      group: alice\n")
    r = plan_quickly(root, pb)
    assert "/home/alice/app.conf is 419430400 bytes, more than the 1 MiB provision reads" in r.stdout + r.stderr, r
    assert os.path.getsize(root.file("/home/alice/app.conf")) == 400 << 20


def test_facts_show_a_huge_file_as_refused(root, tmp_path):
    as_alice(root, "truncate -s 400M app.conf")
    pb = book(tmp_path, "  - template:\n      src: app.j2\n      dest: /home/alice/app.conf\n")
    r = provision("facts", pb, "-H", root.target, "--json", timeout=QUICK)
    assert "is 419430400 bytes, more than the 1 MiB provision reads" in r.stdout, r
    assert len(r.stdout) < 100_000


@pytest.mark.parametrize("follow", [False, True])
def test_a_fifo_at_a_managed_path_is_never_opened(root, tmp_path, follow):
    """A FIFO nobody writes to blocks whoever opens it for reading: it is refused unopened."""
    as_alice(root, "mkfifo app.conf")
    pb = book(tmp_path, "  - template:\n      src: app.j2\n      dest: /home/alice/app.conf\n"
                        + ("      follow: true\n" if follow else ""))
    r = plan_quickly(root, pb)
    assert "/home/alice/app.conf is a fifo, not a regular file" in r.stdout + r.stderr, r


# ---------------------------------------------------------------- doctor

def doctor_quickly(root: lab.Root) -> str:
    started = time.monotonic()
    r = provision("doctor", "-H", root.target, timeout=QUICK)
    assert time.monotonic() - started < QUICK
    assert "cannot examine" not in r.stdout + r.stderr, r
    return r.stdout + r.stderr


def test_doctor_does_not_read_a_start_up_file_that_links_to_shadow(root):
    """alice's ~/.profile is a link to /etc/shadow (which holds a JAVA_HOME= line here): doctor
    reads it as root, so it must not follow the link, nor print anything of shadow."""
    marker = "shadowline" + secrets.token_hex(6)
    root.sh(f"echo 'JAVA_HOME=/{marker}' >> /etc/shadow")
    as_alice(root, "ln -sf /etc/shadow .profile")
    text = doctor_quickly(root)
    assert marker not in text, text
    assert ":99999:" not in text and "root:*" not in text, text  # shadow's own lines


def test_doctor_does_not_read_a_hard_link_to_shadow(root):
    """A hard link to root's file in alice's home is not hers to show."""
    marker = "shadowline" + secrets.token_hex(6)
    root.sh(f"echo 'JAVA_HOME=/{marker}' >> /etc/shadow && ln -f /etc/shadow /home/alice/.bashrc")
    text = doctor_quickly(root)
    assert marker not in text, text


def test_doctor_is_not_stalled_by_fifos_or_huge_files(root):
    """A FIFO as ~/.bashrc and as the release file of the JDK her ~/.profile names, and 200 GB of
    holes as ~/.zshrc: doctor reads none of them whole, and ends quickly."""
    as_alice(root, "rm -f .bashrc && mkfifo .bashrc && truncate -s 200G .zshrc && mkdir -p jdk/bin && "
                   "mkfifo jdk/release && printf '#!/bin/sh\\n' > jdk/bin/java && cp jdk/bin/java jdk/bin/javac && "
                   "chmod +x jdk/bin/* && "
                   "echo 'JAVA_HOME=/home/alice/jdk' > .profile")
    text = doctor_quickly(root)
    assert "JAVA_HOME is /home/alice/jdk (/home/alice/.profile:1)" in text, text


# ---------------------------------------------------------------- rollback's read of the run's files

def test_rollback_does_not_stall_on_a_fifo_where_the_run_wrote(root, tmp_path):
    """alice replaces the file a run wrote in her home with a FIFO: rollback hashed it (to see
    whether it changed since the run) by reading it, and blocked; now it is left alone, at once."""
    pb = book(tmp_path, "  - template:\n      src: app.j2\n      dest: /home/alice/app.conf\n"
                        "      owner: alice\n      group: alice\n")
    assert provision("apply", pb, "-H", root.target).rc == 0
    as_alice(root, "rm app.conf && mkfifo app.conf")
    started = time.monotonic()
    r = provision("rollback", "-H", root.target, timeout=QUICK)
    assert time.monotonic() - started < QUICK
    assert "leave /home/alice/app.conf" in r.stdout + r.stderr or "changed since the run" in r.stdout + r.stderr, r
    assert Path(root.file("/home/alice/app.conf")).is_fifo()
