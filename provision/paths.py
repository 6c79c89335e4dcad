"""Where the built-in playbooks and templates are, installed or from a source tree."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # A wheel carries them as provision/_data/<name>; a source tree (or editable install) has them
    # at the top of the repository, beside the package.
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    return _PKG.parent / name


def templates_dir() -> Path:
    return _data_dir("templates")


def playbooks_dir() -> Path:
    return _data_dir("playbooks")


def builtin_playbooks() -> dict[str, Path]:
    d = playbooks_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.yml"))}
