"""Issue 18, the write primitive without a lab root: the file facts' parser and refusals (pure),
and the target-side scripts run on this machine in a scratch directory (root only: they chown)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from provision.connections.base import REMOVE_SCRIPT, WRITE_SCRIPT
from provision.errors import ResourceError
from provision.facts import Facts, FileContent
from provision.facts.files import parse_file
from provision.wholefile import plan_whole_file

NOBODY = 65534


def test_a_link_is_reported_as_a_link_and_refused_for_writing():
    state = parse_file("/home/alice/app.conf", ["~link /etc/shadow", "777 1000 1000 alice alice symbolic link"])
    assert state.exists and state.link == "/etc/shadow" and state.content == b""
    with pytest.raises(ResourceError, match=r"/home/alice/app.conf is a symbolic link \(to /etc/shadow\)"):
        state.writable()


def test_a_refused_path_says_why():
    state = parse_file("/home/alice/d/f", ["~refused /home/alice/d is a symbolic link (to /etc): /home/alice/d/f "
                                           "not written"])
    assert not state.exists
    with pytest.raises(ResourceError, match="/home/alice/d is a symbolic link"):
        state.writable()


def test_plan_refuses_a_write_through_a_link_but_removes_the_link_itself():
    facts = Facts()
    facts.set(FileContent("/x"), parse_file("/x", ["~link /etc/passwd", "777 0 0 root root symbolic link"]))
    with pytest.raises(ResourceError, match="symbolic link"):
        plan_whole_file("/x", b"new", facts, mode=None, owner=None, group=None)
    changes, _, write = plan_whole_file("/x", None, facts, mode=None, owner=None, group=None)
    assert write is not None and write.content is None and "symbolic link to /etc/passwd" in changes[0].reason


def test_follow_is_part_of_the_fact():
    assert FileContent("/x") != FileContent("/x", True)
    assert "f=1" in FileContent("/x", True).command() and "f=0" in FileContent("/x").command()


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the scripts chown: run as root")


def write(path: Path, data: bytes = b"new\n", *, follow: bool = False, source: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", WRITE_SCRIPT, "sh", str(path), "644", "0:0", "", "", "1" if follow else "0",
                           source], input=data, capture_output=True)


@root_only
def test_follow_never_follows_a_link_a_user_owns(tmp_path):
    os.chmod(tmp_path, 0o755)
    (tmp_path / "target").write_text("old\n")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")
    os.lchown(link, NOBODY, NOBODY)
    r = write(link, follow=True)
    assert r.returncode == 4 and b"a non-root user owns: not followed" in r.stderr
    assert (tmp_path / "target").read_text() == "old\n"
    os.lchown(link, 0, 0)
    assert write(link, follow=True).returncode == 0
    assert link.is_symlink() and (tmp_path / "target").read_text() == "new\n"


@root_only
def test_a_directory_a_user_can_write_makes_root_links_unfollowable_and_hard_links_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    (tmp_path / "secret").write_text("secret\n")
    (home / "link").symlink_to(tmp_path / "secret")
    r = write(home / "link", follow=True)
    assert r.returncode == 4 and b"in a directory a non-root user can write: not followed" in r.stderr
    os.link(tmp_path / "secret", home / "hard")
    r = write(home / "hard")
    assert r.returncode == 4 and b"has 2 hard links" in r.stderr
    assert (tmp_path / "secret").read_text() == "secret\n"
    assert write(home / "plain").returncode == 0 and (home / "plain").stat().st_uid == 0


@root_only
def test_removal_removes_a_link_not_its_target_and_refuses_a_linked_parent(tmp_path):
    os.chmod(tmp_path, 0o755)
    (tmp_path / "target").write_text("keep\n")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "dirlink").symlink_to(tmp_path)
    r = subprocess.run(["sh", "-c", REMOVE_SCRIPT, "sh", str(tmp_path / "dirlink/target"), "", "0"],
                       capture_output=True)
    assert r.returncode == 4 and b"dirlink is a symbolic link" in r.stderr
    r = subprocess.run(["sh", "-c", REMOVE_SCRIPT, "sh", str(tmp_path / "link"), "", "0"], capture_output=True)
    assert r.returncode == 0 and not (tmp_path / "link").is_symlink() and (tmp_path / "target").exists()


@root_only
def test_a_restore_uses_no_fixed_temporary_name(tmp_path):
    """Rollback restored through `.<name>.provision-rb`: a link planted there was written through."""
    os.chmod(tmp_path, 0o755)
    (tmp_path / ".f.provision-rb").symlink_to(tmp_path / "victim")
    keep = Path(tempfile.mkdtemp(dir="/var/lib"))  # a backup lives where only root can write
    try:
        (keep / "f").write_bytes(b"before\n")
        assert write(tmp_path / "f", b"", source=str(keep / "f")).returncode == 0
    finally:
        shutil.rmtree(keep)
    assert (tmp_path / "f").read_bytes() == b"before\n" and not (tmp_path / "victim").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".f.provision-rb", "f"]
