"""When output gets colour: ``--color auto`` (the default) colours a terminal only, and never when
NO_COLOR is set (https://no-color.org) or TERM is ``dumb``; ``always`` and ``never`` decide alone.
Diffs are coloured like ``git diff``."""

from __future__ import annotations

import os
from typing import TextIO

from provision.sanitise import Styled, render

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
    """A diff's line as shown: escaped, then coloured."""
    return render([diff_style(line)], colour)


def diff_style(line: str) -> Styled:
    """A diff's line in its colour (applied when it is shown, after the text is escaped)."""
    if line.startswith(("+++", "---")):
        return Styled(line, bold=True)
    if line.startswith("@@"):
        return Styled(line, "cyan")
    if line.startswith("+"):
        return Styled(line, "green")
    if line.startswith("-"):
        return Styled(line, "red")
    return Styled(line)
