"""The JDK fact's home resolution (provision/java/resolve.py REAL_PATH): builtins (`cd -P`, $PWD)
for a directory, `readlink -f` otherwise, and always what `readlink -f` prints, run by the real
shells. Links a non-root user made on the way (an alias, a `..` after a link) resolve as the
kernel resolves them: a lexical reading would make root trust a directory other than the one it
reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.java.resolve import REAL_PATH

# What a careless version would do: a logical cd takes "L/.." as the directory L sits in.
BROKEN = REAL_PATH.replace("cd -P --", "cd --")
SHELLS = [s for s in ("/bin/sh", "/bin/dash", "/bin/bash") if os.path.exists(s)]


def resolved(shell: str, prelude: str, path: str) -> str:
    out = subprocess.run([shell, "-c", prelude + '\npv_real "$1"; printf "%s|%s" "$home" "$(pwd)"', "sh", path],
                         capture_output=True, text=True, check=True, cwd="/tmp").stdout
    home, _, cwd = out.rpartition("|")
    return home


def reference(path: str) -> str:
    return subprocess.run(["readlink", "-f", "--", path], capture_output=True, text=True).stdout.rstrip("\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """a/b/c a real directory with bin/java; links to it as a user would plant them (owned by
    nobody where we can chown: the owner changes nothing in how a link resolves)."""
    (tmp_path / "a/b/c/bin").mkdir(parents=True)
    (tmp_path / "a/b/c/bin/java").write_text("")
    (tmp_path / "bin").mkdir()  # the lexical "L/../bin": another directory
    links = {"abs": str(tmp_path / "a/b/c"), "rel": "a/b/c", "chain": "abs", "up": "a/b/c/..",
             "file": "a/b/c/bin/java", "dangling": "nowhere", "loop": "loop"}
    for name, target in links.items():
        os.symlink(target, tmp_path / name)
        if os.geteuid() == 0:
            os.lchown(tmp_path / name, 65534, 65534)
    return tmp_path


CASES = ["a/b/c", "abs", "rel", "chain", "chain/", "up", "abs/..", "chain/../c", "abs/../../b/c", "a//b/./c",
         "file", "dangling", "loop", "missing/x", "abs/bin/java", "abs/missing"]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("case", CASES)
def test_home_is_what_readlink_f_prints(tree: Path, shell: str, case: str) -> None:
    path = str(tree / case)
    assert resolved(shell, REAL_PATH, path) == reference(path)


@pytest.mark.parametrize("shell", SHELLS)
def test_the_shell_is_left_in_root_and_a_lexical_version_is_caught(tree: Path, shell: str) -> None:
    out = subprocess.run([shell, "-c", REAL_PATH + '\npv_real "$1"; pwd', "sh", str(tree / "abs")],
                         capture_output=True, text=True, check=True, cwd="/tmp").stdout
    assert out == "/\n"  # the fact's later absolute reads do not depend on where it went
    # a user's link followed by "..": the kernel goes to the link target's parent (a/b), a
    # logical cd to the link's own directory, where the user's bin/ is: this test sees it
    path = str(tree / "abs/..")
    assert reference(path) == str(tree / "a/b")
    assert resolved(shell, BROKEN, path) != reference(path)


def test_no_program_runs_for_a_directory(tree: Path) -> None:
    """The daily case starts nothing: readlink is not on PATH and the home still resolves."""
    empty = tree / "emptybin"
    empty.mkdir()
    sh = shutil.which("sh") or "/bin/sh"
    out = subprocess.run([sh, "-c", REAL_PATH + '\npv_real "$1"; printf "%s" "$home"', "sh", str(tree / "chain")],
                         capture_output=True, text=True, check=True, env={"PATH": str(empty)}).stdout
    assert out == str(tree / "a/b/c")
