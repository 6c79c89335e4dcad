"""The JSON Schema of the playbook format (``provision schema``), generated from the resource types'
own specs (their field descriptions are the editor's hover text) and the ``checks:`` models.

Every value may also be a Jinja2 template (``"{{ java_version }}"``): it is checked once rendered,
so the schema accepts a string holding ``{{`` wherever another type is expected.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from provision.playbook.checks import CommandCheck, FileCheck, PackageCheck
from provision.playbook.variables import TYPES
from provision.registry import registry

SCHEMA_ID = "https://provision.invalid/schema/playbook.json"
TEMPLATE = {"type": "string", "pattern": r"\{\{.*\}\}", "description": "a Jinja2 template, checked once rendered"}


def _templated(schema: dict[str, Any]) -> dict[str, Any]:
    """A property schema that also accepts a template string."""
    if schema.get("type") == "string" and "enum" not in schema:
        return schema
    return {"anyOf": [schema, TEMPLATE], **{k: schema[k] for k in ("description", "default", "title")
                                             if k in schema}}


def _model(schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A pydantic model's schema, with its $defs moved into ``defs`` (names prefixed) and every
    property templated."""
    schema = copy.deepcopy(schema)
    local = schema.pop("$defs", {})
    renames = {name: f"{prefix}.{name}" for name in local}

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                node = {**node, "$ref": f"#/$defs/{renames.get(name, name)}"}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    def templated_props(node: dict[str, Any]) -> dict[str, Any]:
        if "properties" in node:
            node["properties"] = {k: _templated(v) for k, v in node["properties"].items()}
        return node

    for name, sub in local.items():
        defs[renames[name]] = templated_props(fix(sub))
    return templated_props(fix(schema))


def _variable() -> dict[str, Any]:
    declaration = {"type": "object", "additionalProperties": False, "required": ["default"],
                   "properties": {"type": {"enum": list(TYPES)}, "default": {},
                                  "description": {"type": "string"}, "choices": {"type": "array"}}}
    return {"anyOf": [declaration, {"not": {"type": "object", "required": ["default"]}}],
            "description": "a default value, or {type, default, description, choices}"}


def playbook_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    items = []
    common = {"id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                     "description": "how later resources name its outputs (default: the type)"},
              "name": {"type": "string", "description": "a label for output"},
              "when": {"type": ["string", "boolean"], "description": "a Jinja2 expression on facts and vars"}}
    for name, cls in sorted(registry().items()):
        spec = _model(cls.spec_type.model_json_schema(), defs, name)
        spec.pop("title", None)
        spec["description"] = cls.summary
        defs[f"resource.{name}"] = spec
        items.append({"type": "object", "additionalProperties": False, "required": [name],
                      "properties": {name: {"$ref": f"#/$defs/resource.{name}"}, **common}})
    kinds: dict[str, type[BaseModel]] = {"command": CommandCheck, "file": FileCheck, "package": PackageCheck}
    check_props: dict[str, Any] = {"name": {"type": "string"}, "when": common["when"]}
    for kind, model in kinds.items():
        check_props[kind] = _model(model.model_json_schema(), defs, f"check.{kind}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "provision playbook",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "imports": {"type": "array", "items": {"type": "string"},
                        "description": "built-in playbook names or .yml paths; their vars and resources come first"},
            "vars": {"type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                     "additionalProperties": _variable()},
            "resources": {"type": "array", "items": {"oneOf": items}},
            "checks": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                  "additionalProperties": False, "properties": check_props,
                                                  "minProperties": 2, "maxProperties": 3}},
        },
        "$defs": defs,
    }
