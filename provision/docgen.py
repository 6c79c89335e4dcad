"""Writes docs/resources.md from the resource types' docstrings: `python3 -m provision.docgen`."""

from __future__ import annotations

import sys
from pathlib import Path

from provision.resources import REGISTRY

HEADER = """# Resource reference

Generated from the resource types' docstrings by `python3 -m provision.docgen`; do not edit by hand.
Every resource also takes the common keys `id`, `name` and `when` (see playbooks.md).
"""


def render() -> str:
    parts = [HEADER]
    for name, cls in REGISTRY.items():
        doc = (cls.__doc__ or "").strip()
        title, _, body = doc.partition("\n")
        parts.append(f"\n## `{name}`\n\n{title.split(':', 1)[-1].strip()}\n\n```text\n{body.strip()}\n```\n")
        if cls.outputs:
            parts.append("\nOutputs: " + ", ".join(f"`{k}` ({v})" for k, v in cls.outputs.items()) + "\n")
    return "".join(parts)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs/resources.md"
    out.write_text(render())
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
