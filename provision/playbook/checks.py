"""Playbook ``checks:``: extra assertions, in YAML, that ``provision verify`` runs after the ones
derived from the resources.

Each item has a ``name`` (required; it is the check's name in every report), an optional ``when``
(a Jinja2 expression on facts, variables and resource outputs) and exactly one kind::

    checks:
      - name: maven runs
        command: {run: "mvn -v", rc: 0, stdout_contains: "Apache Maven"}
      - name: proxy kept
        file: {path: /etc/environment, contains: "http_proxy="}
      - name: git from bookworm
        package: {name: git, version: "1:2.39"}

Values are templates, rendered like resources' values (``{{ jdk.home }}`` works). Everything that
can be checked before facts is checked at load time, with file:line errors.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from provision.errors import PlaybookError
from provision.playbook.validation import first_error, partial_values, undefined  # the resources' own rules
from provision.render import RenderError, names_in, render_value
from provision.resource import absolute_path
from provision.yamlsrc import Located, YamlPath


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(v: str | None) -> str | None:
    if v is not None:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return v


class CommandCheck(_Model):
    """Run a shell command (as root, through the target's connection) and test its result."""

    run: str
    rc: int | None = 0  # None: any exit code
    stdout_contains: str | None = None
    stdout_matches: str | None = None  # regular expression, searched
    stderr_contains: str | None = None
    stderr_matches: str | None = None
    timeout: int = 120

    _re = field_validator("stdout_matches", "stderr_matches")(_regex)


class FileCheck(_Model):
    path: str
    exists: bool = True
    contains: str | None = None
    matches: str | None = None  # regular expression, searched (multiline)

    _re = field_validator("matches")(_regex)

    _abs = field_validator("path")(absolute_path)

    @model_validator(mode="after")
    def _sense(self) -> FileCheck:
        if not self.exists and (self.contains is not None or self.matches is not None):
            raise ValueError("'contains'/'matches' need exists: true")
        return self


class PackageCheck(_Model):
    name: str
    installed: bool = True
    version: str | None = None  # a prefix of the version, or a regular expression for all of it

    @model_validator(mode="after")
    def _sense(self) -> PackageCheck:
        if not self.installed and self.version is not None:
            raise ValueError("'version' needs installed: true")
        return self


CheckSpec = CommandCheck | FileCheck | PackageCheck
KINDS: dict[str, type[CheckSpec]] = {"command": CommandCheck, "file": FileCheck, "package": PackageCheck}
ITEM_KEYS = ("name", "when", *KINDS)


@dataclass
class CheckDecl:
    """One ``checks:`` item as written (values rendered per host by ``render``)."""

    name: str
    kind: str
    raw: dict[str, object]
    when: str | bool | None
    path: YamlPath  # ("checks", i)
    src: Located
    spec: CheckSpec | None = field(default=None)  # set when nothing in it waits for facts

    @property
    def file(self) -> str:
        return self.src.file

    @property
    def line(self) -> int | None:
        return self.src.line_of(self.path)

    def error(self, sub: YamlPath, message: str) -> PlaybookError:
        return self.src.error(self.path + sub, message)

    def label(self, ctx: dict[str, object]) -> str:
        try:
            return str(render_value(self.name, ctx))
        except RenderError:
            return self.name

    def render(self, ctx: dict[str, object]) -> CheckSpec:
        try:
            data = render_value(self.raw, ctx)
        except RenderError as exc:
            raise self.error((self.kind,), str(exc)) from None
        try:
            return KINDS[self.kind].model_validate(data)
        except ValidationError as exc:
            raise first_error(exc, set(), list(KINDS[self.kind].model_fields),
                              lambda loc, msg: self.error((self.kind, *loc), msg)) \
                or self.error((self.kind,), str(exc)) from None


def parse_checks(src: Located, items: object) -> list[CheckDecl]:
    """The ``checks:`` list of one file, structure only (values are checked by ``prevalidate``)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise src.error(("checks",), "must be a list; each item has a name and one of: "
                        + ", ".join(KINDS))
    out: list[CheckDecl] = []
    for i, item in enumerate(items):
        at = ("checks", i)
        if not isinstance(item, dict):
            raise src.error(at, f"each check is a mapping with 'name' and one of: {', '.join(KINDS)}")
        for key in item:
            if key not in ITEM_KEYS:
                raise src.error(at + (key,), f"unknown key (allowed: {', '.join(ITEM_KEYS)})")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            where = at + (("name",) if "name" in item else ())
            raise src.error(where, "every check needs a 'name' (a string)")
        kinds = [k for k in item if k in KINDS]
        if len(kinds) != 1:
            where = at + ((kinds[1],) if len(kinds) > 1 else ())
            raise src.error(where, f"give exactly one of: {', '.join(KINDS)}")
        kind = kinds[0]
        body = item[kind]
        if not isinstance(body, dict):
            raise src.error(at + (kind,), "the check's keys go in a mapping below its kind")
        when = item.get("when")
        if when is not None and not isinstance(when, (str, bool)):
            raise src.error(at + ("when",), "must be an expression (string) or true/false")
        out.append(CheckDecl(name=name, kind=kind, raw=body, when=when, path=at, src=src))
    return out


def add_checks(into: list[CheckDecl], new: list[CheckDecl]) -> None:
    """Append one file's checks; names are unique across the playbook and its imports."""
    seen = {c.name: c for c in into}
    for c in new:
        if c.name in seen:
            other = seen[c.name]
            raise c.error(("name",), f"two checks are named {c.name!r} (the other is at "
                          f"{other.file}:{other.line}); names identify checks in reports")
        seen[c.name] = c
        into.append(c)


def _key_error(c: CheckDecl, key: str, message: str) -> PlaybookError:
    return c.error((c.kind, key), message)


def _loc_error(c: CheckDecl, loc: YamlPath, message: str) -> PlaybookError:
    return c.error((c.kind, *loc), message)


def prevalidate(checks: list[CheckDecl], vars_: dict[str, object], runtime: set[str]) -> None:
    """Load-time validation: names defined, template syntax, keys and types of what is known.

    ``runtime`` holds the names only known per host (``facts`` and the resources' ids).
    """
    known = set(vars_) | runtime
    for c in checks:
        if isinstance(c.when, str):
            try:
                unknown = names_in(c.when, expression=True) - known
            except RenderError as exc:
                raise c.error(("when",), str(exc)) from None
            if unknown:
                raise c.error(("when",), undefined(unknown, known))
        try:
            unknown = names_in(c.name) - known
        except RenderError as exc:
            raise c.error(("name",), str(exc)) from None
        if unknown:
            raise c.error(("name",), undefined(unknown, known))
        partial, deferred = partial_values(c.raw, vars_, runtime, known,
                                           functools.partial(_key_error, c))
        try:
            spec = KINDS[c.kind].model_validate(partial)
        except ValidationError as exc:
            error = first_error(exc, deferred, list(KINDS[c.kind].model_fields),
                                functools.partial(_loc_error, c))
            if error is not None:
                raise error from None
        else:
            if not deferred:
                c.spec = spec


