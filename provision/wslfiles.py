"""Where Ubuntu-on-WSL's cloud-init looks for user data, from inside WSL or from a directory given.

WSL's cloud-init datasource reads ``%USERPROFILE%\\.cloud-init\\<InstanceName>.user-data`` (then
``<distro>-<version>.user-data``, ``<distro>-all.user-data``, ``default.user-data``) when a new
instance first starts. From inside a WSL distro, %USERPROFILE% is asked of Windows through interop
(``cmd.exe``) and turned into a Linux path with ``wslpath``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from provision.errors import UsageError

if TYPE_CHECKING:
    from provision.cloudinit import ExportFacts

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_instance_name(name: str) -> None:
    if not _NAME.match(name):
        raise UsageError(f"--wsl-instance {name!r}: a WSL instance name is letters, digits, '.', '_' "
                         "and '-' (at most 64)")


def windows_profile() -> Path | None:
    """%USERPROFILE% as a Linux path, when this is WSL with interop; else None."""
    cmd = shutil.which("cmd.exe") or ("/mnt/c/Windows/System32/cmd.exe"
                                      if os.access("/mnt/c/Windows/System32/cmd.exe", os.X_OK) else None)
    if cmd is None or shutil.which("wslpath") is None:
        return None
    try:
        win = subprocess.run([cmd, "/d", "/c", "echo %USERPROFILE%"], capture_output=True, timeout=15,
                             cwd="/", stdin=subprocess.DEVNULL).stdout.decode("utf-8", "replace").strip()
        if not win or "%" in win:
            return None
        linux = subprocess.run(["wslpath", "-u", win], capture_output=True, timeout=15,
                               stdin=subprocess.DEVNULL).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(linux) if linux and Path(linux).is_dir() else None


def user_data_path(instance: str, output: str | None) -> str:
    """``NAME.user-data`` in ``output`` (a directory) or in %USERPROFILE%\\.cloud-init\\."""
    if output is not None:
        if not Path(output).is_dir():
            raise UsageError(f"-o {output}: with --wsl-instance, -o names an existing directory "
                             f"(NAME.user-data is written into it)")
        return str(Path(output) / f"{instance}.user-data")
    profile = windows_profile()
    if profile is None:
        raise UsageError("--wsl-instance: %USERPROFILE% cannot be found here (not WSL, or interop is "
                         f"off): give -o DIR to write {instance}.user-data there, then copy it to "
                         "%USERPROFILE%\\.cloud-init\\ on Windows")
    folder = profile / ".cloud-init"
    folder.mkdir(exist_ok=True)
    return str(folder / f"{instance}.user-data")


def prepare_instance(instance: str, facts_text: str, facts: ExportFacts) -> None:
    """``export cloud-init --wsl-instance NAME``: check the name, and make the target WSL2 (the
    only WSL cloud-init runs in) unless --facts says otherwise, which is refused."""
    check_instance_name(instance)
    if "wsl=" not in facts_text.replace(" ", ""):
        facts.wsl = 2
    elif facts.wsl != 2:
        raise UsageError("--wsl-instance: cloud-init runs in WSL2 distros only (wsl=2)")


def instance_note(instance: str) -> str:
    return (f"cloud-init reads it when a WSL instance named {instance} first starts (on Windows: "
            f"wsl --install <distro>, or --name {instance} on recent WSL); see docs/cloud-init.md")
