"""When output gets colour: ``--color auto`` (the default) colours a terminal only, and never when
NO_COLOR is set (https://no-color.org) or TERM is ``dumb``; ``always`` and ``never`` decide alone.
Diffs are coloured like ``git diff``."""

from __future__ import annotations

import os
from typing import TextIO

import click

MODES = ("auto", "always", "never")
_mode = "auto"


def set_mode(mode: str) -> None:
    global _mode
    _mode = mode if mode in MODES else "auto"


def enabled(stream: TextIO) -> bool:
    if _mode != "auto":
        return _mode == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def diff_line(line: str, colour: bool) -> str:
    if not colour:
        return line
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    if line.startswith("@@"):
        return click.style(line, fg="cyan")
    if line.startswith("+"):
        return click.style(line, fg="green")
    if line.startswith("-"):
        return click.style(line, fg="red")
    return line
