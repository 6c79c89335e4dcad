"""The host facts' WSL probe runs wsl.exe as root: it must be Windows' own (System32, through
wslpath), never a "wsl.exe" someone planted in a directory on PATH (WSL appends the Windows PATH,
whose directories a user may write). The probe runs for real, in a private mount namespace whose
/proc/sys/kernel/osrelease says WSL2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.facts.host import Host

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="needs root and unshare (a private mount namespace)")


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def probe(tmp_path: Path, *, system32: bool) -> tuple[list[str], bool]:
    """The probe's wsl lines, and whether the planted wsl.exe ran."""
    evil, sysbin, win = tmp_path / "evil", tmp_path / "sys", tmp_path / "mnt/c/Windows/System32"
    for d in (evil, sysbin, win):
        d.mkdir(parents=True)
    (tmp_path / "osrelease").write_text("6.6.87.2-microsoft-standard-WSL2\n")
    _script(evil / "wsl.exe", f"touch {tmp_path}/pwned\necho 'WSL version: 9.9.9'\n")
    if system32:
        _script(win / "wsl.exe", "echo 'WSL version: 2.3.26.0'\n")
    _script(sysbin / "wslpath", f'case "$*" in *System32*) echo {win}/wsl.exe;; *) exit 1;; esac\n')
    script = tmp_path / "probe.sh"
    script.write_text(Host().command())
    run = subprocess.run(["unshare", "--mount", "sh", "-c", f"mount --bind {tmp_path}/osrelease "
                          f"/proc/sys/kernel/osrelease && exec sh {script}"], capture_output=True, text=True,
                         timeout=60, env={"PATH": f"{sysbin}:{evil}:/usr/bin:/bin"})
    return [ln for ln in run.stdout.splitlines() if ln.startswith("wsl ")], (tmp_path / "pwned").exists()


def test_a_wsl_exe_planted_on_path_is_not_run_when_windows_has_its_own(tmp_path: Path) -> None:
    lines, pwned = probe(tmp_path, system32=True)
    assert not pwned, lines
    assert f"wsl wslexe {tmp_path}/mnt/c/Windows/System32/wsl.exe" in lines, lines
    facts = Host().parse(lines)
    assert facts.wsl.wsl_version == "2.3.26.0", facts.wsl  # the version Windows' own wsl.exe gave


def test_without_windows_own_wsl_exe_the_one_on_path_is_used(tmp_path: Path) -> None:
    """A stand-in on PATH (the test lab's) is still found when System32 has none."""
    lines, pwned = probe(tmp_path, system32=False)
    assert pwned and f"wsl wslexe {tmp_path}/evil/wsl.exe" in lines, lines
