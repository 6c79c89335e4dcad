"""The verification shell (provision/verify/shell.py) on this machine's own sh: every command's
stdout, stderr and exit status come back intact, whatever they print, and a command that several
checks share runs once."""

from __future__ import annotations

import threading

import pytest

from provision.connections.local import LocalConnection
from provision.verify.shell import Shells


@pytest.fixture
def shells():
    s = Shells(LocalConnection())
    yield s
    s.close()


@pytest.mark.parametrize("command, rc, out, err", [
    ("echo out; echo err >&2; exit 3", 3, b"out\n", b"err\n"),
    ("printf 'no newline'", 0, b"no newline", b""),
    ("printf '\\n\\n'; printf 'x' >&2", 0, b"\n\n", b"x"),
    ("echo '@@0123456789abcdef:err'; echo '@@x:rc 0'", 0, b"@@0123456789abcdef:err\n@@x:rc 0\n", b""),
    ("head -c 3 /dev/zero | tr '\\0' z; cat", 0, b"zzz", b""),  # stdin is /dev/null, not the protocol
    ("printf 'a\\nb' | while read -r l; do echo \"[$l]\"; done", 0, b"[a]\n", b""),
    ("exit 255", 255, b"", b""),
    ("  x='$y'; printf '%s|' 'a\\b' \"$x\"; echo", 0, b"a\\b|$y|\n", b""),  # one line, as itself
    ("echo one\necho two\r", 0, b"one\ntwo\r\n", b""),  # more lines: base64
    (":; echo colon", 0, b"colon\n", b""),
])
def test_a_command_comes_back_as_it_ran(shells, command, rc, out, err):
    r = shells.run(command, 30)
    assert (r.rc, r.stdout, r.stderr) == (rc, out, err)


def test_what_a_command_leaves_running_never_reaches_a_later_answer(shells):
    assert shells.run("(sleep 0.3; echo late; echo late >&2) & echo now", 30).stdout == b"now\n"
    r = shells.run("sleep 0.6; echo next", 30)
    assert (r.stdout, r.stderr) == (b"next\n", b"")


def test_commands_run_one_after_another_in_the_same_shell(shells):
    assert [shells.run(f"echo {i}", 30).stdout for i in range(20)] == [f"{i}\n".encode() for i in range(20)]


def test_a_shared_command_runs_once_and_each_thread_has_its_own_shell(shells, tmp_path):
    counter = tmp_path / "n"
    command = f"echo x >> {counter}; sleep 0.2; wc -l < {counter}"
    results = []
    threads = [threading.Thread(target=lambda: results.append(shells.run(command, 30).stdout)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"1\n"] * 4 and counter.read_text() == "x\n"
    pids = set()
    threads = [threading.Thread(target=lambda i=i: pids.add(shells.run(f"echo {i} $PPID", 30).stdout.split()[1]))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pids) == 3  # three threads at once: three shells
