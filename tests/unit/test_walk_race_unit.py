"""The path walk (connections.base.WALK) against a user who swaps a directory for a link at the
worst moment, and the SSH master's waiting session (openssh._STUB), run by this machine's sh."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from provision.connections.base import WALK
from provision.connections.openssh import _STUB, stub_input

# `cd` replaced by a function (a function wins over a regular builtin): just before the walk
# enters SWAP, SWAP is moved away and a link to ELSEWHERE put in its place, as a local user who
# owns the parent could do between the walk's look at the name and its cd.
RACE = WALK + r"""
cd() {
  if [ -n "$SWAP" ] && [ "$2" = "./${SWAP##*/}" ] && [ "$(command pwd -P)" = "${SWAP%/*}" ]; then
    mv -- "$SWAP" "$SWAP.real" && ln -s -- "$ELSEWHERE" "$SWAP"; SWAP=
  fi
  command cd "$@"
}
if pv_walk "$1" 0 "" 0; then echo "walked to $(pwd -P) name $pv_name"; else echo "refused: $pv_err"; fi
"""


def walk(path: Path, swap: Path | None, elsewhere: Path) -> str:
    env = {**os.environ, "SWAP": str(swap or ""), "ELSEWHERE": str(elsewhere)}
    return subprocess.run(["sh", "-c", RACE, "sh", str(path)], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_directory_swapped_for_a_link_while_it_is_entered_stops_the_walk(tmp_path: Path) -> None:
    real = tmp_path.resolve()
    (real / "home/alice/app").mkdir(parents=True)
    (real / "etc").mkdir()
    assert walk(real / "home/alice/app/conf", None, real / "etc") == f"walked to {real}/home/alice/app name conf"
    out = walk(real / "home/alice/app/conf", real / "home/alice/app", real / "etc")
    assert out == f"refused: {real}/home/alice/app was replaced while it was entered (a symbolic link swapped in?)"


def test_a_followed_relative_link_may_climb_with_dot_dot(tmp_path: Path) -> None:
    real = tmp_path.resolve()
    (real / "usr/share/zoneinfo").mkdir(parents=True)
    (real / "etc").mkdir()
    (real / "etc/zone").symlink_to("../usr/share/zoneinfo")
    script = WALK + 'pv_walk "$1" 1 "" 0 && echo "$(pwd -P) $pv_name" || echo "refused: $pv_err"'
    out = subprocess.run(["sh", "-c", script, "sh", str(real / "etc/zone/UTC")], capture_output=True, text=True)
    assert out.stdout.strip() == f"{real}/usr/share/zoneinfo UTC"


def stub(data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", _STUB.replace("@END@", "provision-go-t0k3n")], input=data,
                          capture_output=True, timeout=30)


def test_the_waiting_session_runs_the_whole_command_and_leaves_the_rest_of_stdin_to_it() -> None:
    script = "IFS= read -r line; printf 'got %s\\n' \"$line\"\n" + "# padding\n" * 2000
    command = shlex.join(["sh", "-c", script])  # what it is sent is a command to exec
    r = stub(stub_input(command, "t0k3n") + b"the next line\n")
    assert r.returncode == 0 and r.stdout.splitlines()[1:] == [b"got the next line"], r


def test_a_cut_off_or_unterminated_command_never_runs() -> None:
    whole = stub_input("echo RAN", "t0k3n")  # (exec echo RAN)
    for data in (whole[:-3], whole.replace(b"t0k3n", b"forged"), b"12\necho RAN; :\n", b"x\necho RAN\n", b""):
        r = stub(data)
        assert b"RAN" not in r.stdout and r.stdout.startswith(b"provision-uid "), (data, r)
    assert stub(whole).stdout.endswith(b"RAN\n")
