"""Playbooks: YAML → validated, typed resource declarations, before any host is touched.

Format (see docs/playbooks.md)::

    name: java17
    description: OpenJDK 17 with JAVA_HOME for every user
    imports: [other]              # built-in names or paths; their vars and resources come first
    vars:
      java_version: 17            # defaults; -e key=value overrides (only declared vars)
    resources:
      - jdk:                      # exactly one resource type per item
          version: "{{ java_version }}"
      - env_file:
          set: {JAVA_HOME: "{{ jdk.home }}"}   # outputs of earlier resources, by id
        when: facts.wsl.version == 2           # a Jinja2 expression on facts and vars
        name: JAVA_HOME for PAM sessions       # optional label
        id: java_home                          # optional; defaults to the type name

Everything that can be checked before facts is checked at load time: YAML syntax, unknown keys,
types, missing fields, undefined variables, template syntax. Values that depend on facts or on an
earlier resource's outputs are checked when rendered, before that host's plan.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from provision.errors import PlaybookError, UsageError
from provision.paths import builtin_playbooks
from provision.playbook.checks import CheckDecl, add_checks, parse_checks
from provision.playbook.checks import prevalidate as prevalidate_checks
from provision.playbook.validation import first_error, partial_values, undefined
from provision.playbook.variables import Declared, Given, VarError, VarSpec, declare, parse_extra
from provision.registry import lookup, registry
from provision.render import RenderError, names_in, render_value, template_names_in
from provision.resource import ResourceType, Spec
from provision.yamlsrc import Located, YamlPath, format_path, parse

TOP_KEYS = ("name", "description", "imports", "vars", "resources", "checks")
COMMON_KEYS = ("id", "name", "when")
RESERVED = {"facts", "true", "false", "none", "True", "False", "None", "loop", "item", "range",
            "lipsum", "dict", "cycler", "joiner", "namespace"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

@dataclass
class Decl:
    """One resource of a playbook, as written (values not yet rendered)."""

    id: str
    type: str
    name: str | None
    when: str | bool | None
    raw: dict[str, object]
    path: YamlPath  # location in its file, e.g. ("resources", 2, "jdk")
    src: Located
    spec: Spec | None = None  # set at load time when no value waits for facts or outputs

    @property
    def cls(self) -> ResourceType:
        found = lookup(self.type)
        assert found is not None, self.type  # checked when the playbook was loaded
        return found

    @property
    def file(self) -> str:
        return self.src.file

    @property
    def line(self) -> int | None:
        return self.src.line_of(self.path[:-1])

    def error(self, sub: YamlPath, message: str) -> PlaybookError:
        return self.src.error(self.path + sub, message)

    def render(self, ctx: dict[str, object]) -> Spec:
        """Render every value with the full context and validate; raises PlaybookError."""
        try:
            data = {k: render_value(v, ctx) for k, v in self.raw.items()}
        except RenderError as exc:
            raise self.error((), str(exc)) from None
        try:
            return self.cls.spec_type.model_validate(data)
        except ValidationError as exc:
            allowed = list(self.cls.spec_type.model_fields) + list(COMMON_KEYS)
            raise first_error(exc, set(), allowed, self.error) or self.error((), str(exc)) from None


@dataclass
class Playbook:
    name: str
    description: str
    file: str
    vars: dict[str, object]
    resources: list[Decl]
    search_paths: list[Path]
    checks: list[CheckDecl] = field(default_factory=list)  # `checks:` for provision verify
    fixed: frozenset[str] = frozenset()  # variables set with -e (inventory variables do not override)
    declared: dict[str, VarSpec] = field(default_factory=dict)  # every variable's type and meaning

    def template_dirs(self) -> list[Path]:
        return self.search_paths

    def for_host(self, host_vars: dict[str, object]) -> Playbook:
        """This playbook with a host's inventory variables (only the ones it declares), checked
        again as at load time; raises PlaybookError. The playbook's own -e values still win."""
        types = Declared(dict(self.declared))
        own = {k: types.apply(v if isinstance(v, Given) else Given(v, f"inventory variable {k}"), k)
               if k in self.declared else v
               for k, v in host_vars.items() if k in self.vars and k not in self.fixed}
        if all(self.vars[k] == v for k, v in own.items()):
            return self
        vars_ = {**self.vars, **own}
        decls = [dataclasses.replace(d, spec=None) for d in self.resources]
        _prevalidate(decls, vars_, self.search_paths)
        return dataclasses.replace(self, vars=vars_, resources=decls)


def resolve(ref: str) -> Path:
    p = Path(ref)
    if p.suffix in (".yml", ".yaml") or "/" in ref or p.exists():
        if not p.is_file():
            raise UsageError(f"playbook {ref}: no such file")
        return p
    builtins = builtin_playbooks()
    if ref in builtins:
        return builtins[ref]
    raise UsageError(f"no playbook {ref!r}: not a file, and not a built-in "
                     f"({', '.join(builtins) or 'none installed'})")


def parse_extra_vars(items: tuple[str, ...] | list[str]) -> dict[str, Given]:
    """``-e key=value`` (YAML scalars, JSON or YAML flow lists and mappings) and ``-e @file.yml``."""
    return parse_extra(items)


def load(ref: str, extra_vars: Mapping[str, object] | None = None) -> Playbook:
    """The playbook ``ref``, validated, with ``extra_vars`` (Given values from -e, or plain values)
    checked against the variables' declared types."""
    path = resolve(ref)
    vars_: dict[str, object] = {}
    decls: list[Decl] = []
    dirs: list[Path] = []
    checks: list[CheckDecl] = []
    declared = Declared()
    meta = _load_file(path, vars_, decls, dirs, stack=[], checks=checks, declared=declared)
    for key, value in (extra_vars or {}).items():
        given = value if isinstance(value, Given) else Given(value, f"variable {key}")
        if key not in vars_:
            known = ", ".join(sorted(vars_)) or "none"
            where = given.origin.split("=", 1)[0] if given.raw is not None else given.origin
            raise UsageError(f"{where}: the playbook has no variable {key!r} (it has: {known}; "
                             f"see provision show {ref})")
        vars_[key] = declared.apply(given, key)
    decls.sort(key=lambda d: min(d.cls.phases))  # the order they run in (stable: playbook order within a phase)
    _check_ids(decls, vars_)
    _prevalidate(decls, vars_, dirs)
    prevalidate_checks(checks, vars_, {"facts", *(d.id for d in decls)})
    return Playbook(name=str(meta.get("name") or path.stem), description=str(meta.get("description") or ""),
                    file=str(path), vars=vars_, resources=decls, search_paths=dirs,
                    checks=checks, fixed=frozenset(extra_vars or ()), declared=dict(declared.specs))


def _load_file(path: Path, vars_: dict[str, object], decls: list[Decl], dirs: list[Path],
               stack: list[Path], checks: list[CheckDecl] | None = None,
               declared: Declared | None = None) -> dict[str, object]:
    declared = declared if declared is not None else Declared()
    real = path.resolve()
    if real in stack:
        raise PlaybookError("imports form a cycle: " + " → ".join(p.name for p in stack + [real]),
                            file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"cannot read: {exc}", file=str(path)) from None
    src = parse(text, _display(path))
    doc = src.value
    if doc is None:
        raise PlaybookError("the playbook is empty", file=src.file)
    if not isinstance(doc, dict):
        raise src.error((), "a playbook is a mapping with 'resources' (and optionally vars, imports)")
    for key in doc:
        if key not in TOP_KEYS:
            raise src.error((key,), f"unknown key (allowed: {', '.join(TOP_KEYS)})")
    for key in ("name", "description"):
        if key in doc and not isinstance(doc[key], str):
            raise src.error((key,), "must be a string")
    if path.parent not in dirs:
        dirs.append(path.parent)

    imports = doc.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise src.error(("imports",), "must be a list of playbook names or paths")
    for i, ref in enumerate(imports):
        if "/" in ref and not ref.endswith((".yml", ".yaml")):
            raise src.error(("imports", i), "imports are built-in playbook names or .yml/.yaml files")
        child = path.parent / ref if ("/" in ref or ref.endswith((".yml", ".yaml"))) else None
        try:
            target = child if child is not None and child.is_file() else resolve(ref)
        except UsageError as exc:
            raise src.error(("imports", i), str(exc)) from None
        _load_file(target, vars_, decls, dirs, stack + [real], checks, declared)

    own_vars = doc.get("vars", {})
    if own_vars is None:
        own_vars = {}
    if not isinstance(own_vars, dict):
        raise src.error(("vars",), "must be a mapping of name: default value (or name: {type, default, "
                        "description, choices})")
    for key, value in own_vars.items():
        if not isinstance(key, str) or not _IDENT.match(key) or key in RESERVED:
            raise src.error(("vars", key), "not a usable variable name (letters, digits, _; not a reserved word)")
        try:
            spec = declare(key, value)
        except VarError as exc:
            raise src.error(("vars", key), str(exc)) from None
        declared.specs[key] = spec
        vars_[key] = spec.default

    resources = doc.get("resources")
    if resources is None:
        if not imports:
            raise src.error((), "missing key 'resources' (a list of resources)")
        resources = []
    if not isinstance(resources, list):
        raise src.error(("resources",), "must be a list; each item has one resource type as its key")
    for i, item in enumerate(resources):
        decls.append(_decl(src, i, item))
    if checks is not None:
        add_checks(checks, parse_checks(src, doc.get("checks")))
    return doc


def _display(path: Path) -> str:
    try:
        rel = path.resolve().relative_to(Path.cwd())
        return str(rel)
    except ValueError:
        return str(path)


def _decl(src: Located, i: int, item: object) -> Decl:
    at: YamlPath = ("resources", i)
    if not isinstance(item, dict):
        raise src.error(at, f"each resource is a mapping with one of: {', '.join(registry())}")
    types = [k for k in item if k not in COMMON_KEYS]
    if not types:
        raise src.error(at, f"no resource type (one of: {', '.join(registry())})")
    if len(types) > 1:
        unknown = [t for t in types if not isinstance(t, str) or lookup(t) is None]
        bad = unknown[0] if unknown else types[1]
        why = "unknown key" if unknown else "only one resource type per item"
        raise src.error(at + (bad,), f"{why} (resource types: {', '.join(registry())}; "
                        f"other keys: {', '.join(COMMON_KEYS)})")
    rtype = types[0]
    if not isinstance(rtype, str) or lookup(rtype) is None:
        raise src.error(at + (rtype,), f"unknown resource type (known: {', '.join(registry())})")
    body = item[rtype]
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise src.error(at + (rtype,), "the resource's keys go in a mapping below its type")
    rid = item.get("id", rtype)
    if not isinstance(rid, str) or not _IDENT.match(rid) or rid in RESERVED:
        raise src.error(at + ("id",), "must be a name (letters, digits, _) usable in templates")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise src.error(at + ("name",), "must be a string")
    when = item.get("when")
    if when is not None and not isinstance(when, (str, bool)):
        raise src.error(at + ("when",), "must be an expression (string) or true/false")
    return Decl(id=rid, type=rtype, name=name, when=when, raw=body, path=at + (rtype,), src=src)


def _check_ids(decls: list[Decl], vars_: dict[str, object]) -> None:
    seen: dict[str, Decl] = {}
    for d in decls:
        if d.id in seen:
            first = seen[d.id]
            raise d.src.error(d.path[:-1], f"two resources have the id {d.id!r} (the other is at "
                              f"{first.file}:{first.line}); give each its own 'id:'")
        if d.id in vars_:
            raise d.src.error(d.path[:-1], f"the resource id {d.id!r} is also a variable name; rename one")
        seen[d.id] = d


def _prevalidate(decls: list[Decl], vars_: dict[str, object], dirs: list[Path]) -> None:
    earlier: list[str] = []
    for d in decls:
        runtime = {"facts", *earlier}
        known = set(vars_) | runtime
        if isinstance(d.when, str):
            try:
                unknown = names_in(d.when, expression=True) - known
            except RenderError as exc:
                raise d.src.error(d.path[:-1] + ("when",), str(exc)) from None
            if unknown:
                raise d.src.error(d.path[:-1] + ("when",), undefined(unknown, known))
        partial, deferred = partial_values(d.raw, vars_, runtime, known, functools.partial(_key_error, d))
        try:
            spec = d.cls.spec_type.model_validate(partial)
        except ValidationError as exc:
            allowed = list(d.cls.spec_type.model_fields) + list(COMMON_KEYS)
            error = first_error(exc, deferred, allowed, d.error)
            if error is not None:
                raise error from None
        else:
            if not deferred:
                d.spec = spec
        for fname in d.cls.template_fields:
            tname = partial.get(fname, d.cls.spec_type.model_fields[fname].default)
            if isinstance(tname, str):
                try:
                    unknown = template_names_in(tname, dirs) - known
                except RenderError as exc:
                    raise d.error((fname,), str(exc)) from None
                if unknown:
                    raise d.error((fname,), f"template {tname}: {undefined(unknown, known)}")
        earlier.append(d.id)


def _key_error(d: Decl, key: str, message: str) -> PlaybookError:
    return d.error((key,), message)


__all__ = ["Decl", "Playbook", "load", "parse_extra_vars", "resolve", "format_path"]
