"""Writes docs/resources.md from the resource types themselves (docstring, spec fields and their
descriptions, outputs, example): `python3 -m provision.docgen`."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from provision.registry import registry
from provision.resource import ResourceType

HEADER = """# Resource reference

Generated from the resource types' own modules (docstring, spec field descriptions, outputs,
example) by `python3 -m provision.docgen`; do not edit by hand. Every resource also takes the common
keys `id`, `name` and `when` (see playbooks.md). To write a resource type, see extending.md.
"""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    default = info.default.model_dump() if isinstance(info.default, BaseModel) else info.default
    return f"`{json.dumps(default)}`"


def _type(cls: ResourceType, name: str) -> str:
    schema = cls.spec_type.model_json_schema()["properties"][name]
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(str(s.get("type", "?")) for s in schema["anyOf"] if s.get("type") != "null")
    if schema.get("type") == "array":
        return f"list of {schema.get('items', {}).get('type', 'values')}"
    if schema.get("type") == "object" or "$ref" in schema or "allOf" in schema:
        return "mapping"
    return str(schema.get("type", "value"))


def description(cls: ResourceType) -> str:
    """The type's own docstring, else its module's (a type module describes its one type)."""
    own = cls.__dict__.get("__doc__")
    return inspect.cleandoc(own) if own else inspect.getdoc(inspect.getmodule(cls)) or ""


def section(cls: ResourceType) -> str:
    doc = description(cls)
    parts = [f"\n## `{cls.type_name}`\n\n{cls.summary}.\n\n{doc}\n\n| key | type | default | meaning |\n"
             "| --- | --- | --- | --- |\n"]
    for name, info in cls.spec_type.model_fields.items():
        text = (info.description or "").replace("|", "\\|")
        parts.append(f"| `{name}` | {_type(cls, name)} | {_default(info)} | {text} |\n")
    if cls.output_docs:
        parts.append("\nOutputs (`{{ <id>.<name> }}` in later resources): "
                     + ", ".join(f"`{k}` ({v})" for k, v in cls.output_docs.items()) + ".\n")
    if cls.example:
        parts.append(f"\nExample:\n\n```yaml\nresources:\n{_indent(cls.example)}```\n")
    return "".join(parts)


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def render() -> str:
    return HEADER + "".join(section(cls) for cls in registry().values())


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs/resources.md"
    out.write_text(render())
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
