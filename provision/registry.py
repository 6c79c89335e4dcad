"""Finds the resource types: every module of provision/resources/ and the ``provision.resources``
entry-point group (a plugin package names its Resource subclass: ``motd = "pkg.module:Motd"``).
Loaded once, on first use; provision/resources/ is listed once per process.

``lookup`` imports only what a playbook uses: a built-in type is the module of its name
(provision/resources/<type>.py), so a playbook of built-ins never scans the installed packages
for plugins (that scan, and importing every type, is most of a run's start-up otherwise)."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points

import provision.resources as package
from provision.errors import UsageError
from provision.resource import Resource, ResourceType

ENTRY_POINTS = "provision.resources"


@functools.cache
def _builtins() -> frozenset[str]:
    """The module names of provision/resources/ (the folder is listed here only)."""
    return frozenset(info.name for info in pkgutil.iter_modules(package.__path__))


@functools.cache
def registry() -> dict[str, ResourceType]:
    """Resource types by the name playbooks use, built-ins first."""
    found: dict[str, ResourceType] = {}
    for name in sorted(_builtins()):
        module = importlib.import_module(f"{package.__name__}.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Resource) and cls.__module__ == module.__name__ and cls.type_name:
                _add(found, cls, f"{module.__name__}")
    for ep in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        where = f"entry point {ep.name!r} ({ep.value}) of {ep.dist.name if ep.dist else 'a package'}"
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not a traceback
            raise UsageError(f"resource plugin {where} cannot be loaded: {type(exc).__name__}: {exc}") from None
        if not (inspect.isclass(cls) and issubclass(cls, Resource) and cls.type_name):
            raise UsageError(f"resource plugin {where} is not a Resource subclass with a type_name")
        if cls.type_name != ep.name:
            raise UsageError(f"resource plugin {where} defines type {cls.type_name!r}: the entry point "
                             "must be named after it")
        _add(found, cls, where)
    return found


@functools.cache  # asked per host and resource; the installed types do not change during a run
def lookup(name: str) -> ResourceType | None:
    """The type a playbook names, or None when there is no such type."""
    if name.isidentifier() and name in _builtins():
        module = importlib.import_module(f"{package.__name__}.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Resource) and cls.__module__ == module.__name__ and cls.type_name == name:
                return cls
    return registry().get(name)


def _add(found: dict[str, ResourceType], cls: ResourceType, where: str) -> None:
    if cls.type_name in found:
        other = found[cls.type_name]
        raise UsageError(f"resource type {cls.type_name!r} is defined twice: by {other.__module__} and "
                         f"by {where}")
    found[cls.type_name] = cls
