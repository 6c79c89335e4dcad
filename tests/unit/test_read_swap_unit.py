"""A file read (FileContent) against a user who swaps the file for a link to a secret between the
read's stat and its read, run by this machine's sh: in a directory that user can write, the read
opens with O_NOFOLLOW (dd) and gets nothing of the secret; only in a directory no one but root
can change is the file read by base64 itself (no one else can swap a name there)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provision.connections.base import WALK
from provision.facts import FileContent
from provision.facts.files import parse_file

# `stat` replaced by a function (what the read's look runs): right after it stat'ed SWAP, SWAP is
# moved away and a link to SECRET put in its place, as the directory's owner could do.
RACE = WALK + r"""
stat() {
  command stat "$@"; rc=$?
  for a in "$@"; do
    if [ -n "$SWAP" ] && [ "$a" = "./${SWAP##*/}" ]; then mv -- "$SWAP" "$SWAP.real" && ln -s -- "$SECRET" "$SWAP"; fi
  done
  return $rc
}
"""

SECRET = b"root:$y$secret-hash:19000:0:99999:7:::\n"


def read(path: Path, secret: Path, swap: bool, fact_script: str | None = None) -> tuple[bytes, str]:
    script = fact_script if fact_script is not None else FileContent(str(path)).command()
    env = {**os.environ, "SWAP": str(path) if swap else "", "SECRET": str(secret)}
    out = subprocess.run(["sh", "-c", RACE + script], env=env, capture_output=True, check=True).stdout
    state = parse_file(str(path), out.decode().splitlines())
    return state.content, state.refused


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    real = tmp_path.resolve()
    secret = real / "shadow"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    opened, closed = real / "alice", real / "etc"
    opened.mkdir()
    closed.mkdir(mode=0o755)
    if os.geteuid() == 0:
        os.chown(opened, 65534, 65534)  # a user's directory: they may rename and link in it
    else:
        opened.chmod(0o777)
    for d in (opened, closed):
        (d / "app.conf").write_bytes(b"key=value\n")
    return secret, opened, closed


def test_a_file_swapped_for_a_link_after_its_stat_is_not_read_through(dirs: tuple[Path, Path, Path]) -> None:
    secret, opened, closed = dirs
    assert read(opened / "app.conf", secret, swap=False) == (b"key=value\n", "")
    content, _ = read(opened / "app.conf", secret, swap=True)
    assert b"secret" not in content
    if os.geteuid() == 0:  # tmp_path is root's 0700 only then
        assert read(closed / "app.conf", secret, swap=False) == (b"key=value\n", "")


def test_a_read_that_trusted_every_directory_would_leak_it(dirs: tuple[Path, Path, Path]) -> None:
    """The test above can fail: a read by base64 alone in the user's directory follows the link."""
    secret, opened, _ = dirs
    fact = FileContent(str(opened / "app.conf")).command()
    careless = fact.replace("elif pv_opened $pv_dir; then", "elif false; then")
    assert careless != fact
    content, _ = read(opened / "app.conf", secret, swap=True, fact_script=careless)
    assert b"secret" in content
