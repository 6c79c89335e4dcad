"""Colour only where it belongs: a terminal, without NO_COLOR or TERM=dumb, unless --color says
otherwise; the real CLI under a pseudo-terminal, and the diff colouring."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, provision_on_pty

from provision import colour

ESC = b"\x1b["


def under_pty(*args: str, env: dict[str, str] | None = None) -> bytes:
    """stderr of the real CLI on a pseudo-terminal (a target that fails at once: no host needed)."""
    rc, out = provision_on_pty(*args, "plan", "java17", "-H", "chroot:/nonexistent", env=env, timeout=60)
    assert rc == 1
    return out


@pytest.mark.parametrize("args, env, coloured", [
    ((), {}, True),
    ((), {"NO_COLOR": "1"}, False),
    ((), {"TERM": "dumb"}, False),
    (("--color", "never"), {}, False),
    (("--color=always",), {"NO_COLOR": "1"}, True),  # the command line wins over the environment
])
def test_a_terminal_gets_colour_unless_told_otherwise(args, env, coloured):
    out = under_pty(*args, env=env)
    assert b"unreachable" in out
    assert (ESC in out) == coloured, out


def test_not_a_terminal_never_gets_colour():
    r = subprocess.run([sys.executable, "-m", "provision", "plan", "java17", "-H", "chroot:/nonexistent"],
                       capture_output=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=60)
    assert b"unreachable" in r.stderr and ESC not in r.stderr
    always = subprocess.run([sys.executable, "-m", "provision", "plan", "java17", "-H", "chroot:/nonexistent",
                             "--color", "always"], capture_output=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=60)
    assert ESC in always.stderr  # --color after the command is the global option too


def test_diffs_are_coloured_like_git_diff():
    assert colour.diff_line("+JAVA_HOME=x", True) == "\x1b[32m+JAVA_HOME=x\x1b[0m"
    assert colour.diff_line("-old", True) == "\x1b[31m-old\x1b[0m"
    assert colour.diff_line("@@ -1 +1 @@", True).startswith("\x1b[36m")
    assert colour.diff_line("+++ b", True).startswith("\x1b[1m")
    assert colour.diff_line(" same", True) == " same"
    assert colour.diff_line("+x", False) == "+x"
