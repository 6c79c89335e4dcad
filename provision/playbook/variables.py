"""Playbook variables with declared types (like Ansible's argument specs), and the values given for
them on the command line (``-e key=value``, ``-e @vars.yml``), in an inventory or by a test.

A variable is declared in ``vars:`` either by its default alone (``java_version: 17``: the type
is the default's) or by a mapping of ``type``, ``default``, ``description`` and ``choices``::

    vars:
      headless: {type: bool, default: true, description: "openjdk-<v>-jdk-headless, no X11/GTK"}
      vendor: {type: str, default: auto, choices: [auto, distro, temurin]}

Types: ``str``, ``int``, ``bool``, ``list``, ``mapping``, ``any``. A value that does not fit is an
error that names where it came from (``-e headless=maybe: headless is a bool: true or false``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provision.errors import UsageError

TYPES = ("str", "int", "bool", "list", "mapping", "any")
DECL_KEYS = {"type", "default", "description", "choices"}
MAX_VARS_FILE = 1 << 20
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class VarError(ValueError):
    """A value that does not fit its variable's declaration (the message names the variable)."""


@dataclass(frozen=True)
class VarSpec:
    name: str
    type: str = "any"
    default: Any = None
    description: str = ""
    choices: tuple[Any, ...] = ()

    def describe_type(self) -> str:
        if self.choices:
            return " | ".join(show_value(c) for c in self.choices)
        return self.type


@dataclass(frozen=True)
class Given:
    """A value for a variable and where it came from (``raw``: the text of ``-e key=raw``)."""

    value: Any
    origin: str
    raw: str | None = None


def is_declaration(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= DECL_KEYS and \
        bool({"type", "default", "description"} & set(value))


def inferred_type(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, str):
        return "str"
    if isinstance(default, list):
        return "list"
    if isinstance(default, dict):
        return "mapping"
    return "any"


def declare(name: str, value: Any) -> VarSpec:
    """The declaration ``vars: {name: value}`` makes; raises VarError (the caller adds file:line)."""
    if not is_declaration(value):
        return VarSpec(name, inferred_type(value), value)
    kind = value.get("type")
    if kind is None:
        kind = inferred_type(value.get("default"))
    if kind not in TYPES:
        raise VarError(f"type {kind!r} is not one of {', '.join(TYPES)}")
    choices = value.get("choices", [])
    if not isinstance(choices, list):
        raise VarError("choices must be a list")
    description = value.get("description", "")
    if not isinstance(description, str):
        raise VarError("description must be a string")
    spec = VarSpec(name, str(kind), None, description, tuple(choices))
    if "default" not in value:
        raise VarError("a declared variable needs a default")
    return VarSpec(name, spec.type, coerce(spec, value["default"]), description, spec.choices)


def show_value(value: Any, limit: int = 60) -> str:
    """A value in a message: YAML's spelling of booleans, at most ``limit`` characters."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def coerce(spec: VarSpec, value: Any, raw: str | None = None) -> Any:
    """``value`` as ``spec``'s type (``raw``: the text it was parsed from); raises VarError."""
    kind = spec.type
    shown = repr(show_value(raw if raw is not None else value))  # how the value is named in an error
    if kind == "bool":
        if isinstance(value, bool):
            out: Any = value
        elif isinstance(value, (str, int)) and str(value).strip().lower() in _TRUE | _FALSE:
            out = str(value).strip().lower() in _TRUE
        else:
            raise VarError(f"{spec.name} is a bool: true or false, not {shown}")
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            out = value
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
            out = int(value)
        else:
            raise VarError(f"{spec.name} is an int, not {shown}")
    elif kind == "str":
        if raw is not None:
            out = raw
        elif isinstance(value, (str, int, float, bool)):
            out = show_value(value)
        else:
            raise VarError(f"{spec.name} is a string, not a {type(value).__name__}")
    elif kind == "list":
        if not isinstance(value, list):
            raise VarError(f"{spec.name} is a list (e.g. [a, b]), not {shown}")
        out = value
    elif kind == "mapping":
        if not isinstance(value, dict):
            raise VarError(f"{spec.name} is a mapping (e.g. {{a: 1}}), not "
                           f"{shown}")
        out = value
    else:
        out = value
    if spec.choices and out not in spec.choices:
        raise VarError(f"{spec.name} must be one of {', '.join(show_value(c) for c in spec.choices)}, not "
                       f"{show_value(raw if raw is not None else out)!r}")
    return out


def parse_value(text: str) -> Any:
    """``-e key=text``: YAML scalars (17, true), JSON or YAML flow lists and mappings."""
    if not text.strip():
        return ""
    try:
        if text.lstrip().startswith(("{", "[")):
            return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if parsed is None else parsed


def parse_extra(items: tuple[str, ...] | list[str], *, cwd: Path | None = None) -> dict[str, Given]:
    """``-e key=value`` and ``-e @file.yml`` (a YAML or JSON mapping of variables), later ones win."""
    out: dict[str, Given] = {}
    for item in items:
        if item.startswith("@"):
            name = item[1:]
            path = (cwd or Path.cwd()) / name
            try:
                if path.stat().st_size > MAX_VARS_FILE:
                    raise UsageError(f"-e {item}: larger than {MAX_VARS_FILE} bytes")
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise UsageError(f"-e {item}: cannot read: {exc.strerror or exc}") from None
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise UsageError(f"-e {item}: not YAML: {str(exc).splitlines()[0]}") from None
            if data is None:
                continue
            if not isinstance(data, dict) or not all(isinstance(k, str) and _IDENT.match(k) for k in data):
                raise UsageError(f"-e {item}: must be a mapping of variable names to values")
            for key, value in data.items():
                out[key] = Given(value, f"-e {item}: {key}")
            continue
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not _IDENT.match(key):
            raise UsageError(f"-e {show_value(item)!r}: expected key=value with a variable name as key, or @file.yml")
        out[key] = Given(parse_value(text), f"-e {key}={show_value(text)}", raw=text)
    return out


@dataclass
class Declared:
    """Every variable of a playbook (its imports' first), by name."""

    specs: dict[str, VarSpec] = field(default_factory=dict)

    def apply(self, given: Given, name: str) -> Any:
        """The value ``given`` for ``name`` as its declared type; raises UsageError naming the origin."""
        spec = self.specs[name]
        try:
            return coerce(spec, given.value, given.raw)
        except VarError as exc:
            raise UsageError(f"{given.origin}: {exc}") from None
