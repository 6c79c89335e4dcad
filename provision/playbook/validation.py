"""The load-time rules shared by resources and ``checks:``: render what is known before facts
(deferring what waits for facts or outputs), name undefined variables, and say the first
validation error at its place in the file."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from provision.errors import PlaybookError
from provision.render import RenderError, names_in, render_value
from provision.yamlsrc import YamlPath


class _Deferred:
    def __repr__(self) -> str:
        return "<deferred>"


DEFERRED = _Deferred()


def _partial(value: object, runtime: set[str], vars_: dict[str, object]) -> object:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            r = _partial(v, runtime, vars_)
            if r is not DEFERRED:
                out[k] = r
        return out
    if isinstance(value, list):
        return [r for r in (_partial(v, runtime, vars_) for v in value) if r is not DEFERRED]
    if names_in(value) & runtime:
        return DEFERRED
    return render_value(value, vars_)


def partial_values(raw: dict[str, object], vars_: dict[str, object], runtime: set[str], known: set[str],
                   error: Callable[[str, str], PlaybookError]) -> tuple[dict[str, object], set[str]]:
    """Render what is known before facts: (values, keys deferred to run time). Undefined names and
    template syntax errors are raised through ``error(key, message)``."""
    deferred: set[str] = set()
    partial: dict[str, object] = {}
    for key, value in raw.items():
        try:
            unknown = names_in(value) - known
            if unknown:
                raise error(key, undefined(unknown, known))
            r = _partial(value, runtime, vars_)
        except RenderError as exc:
            raise error(key, str(exc)) from None
        if r is DEFERRED or (r != value and names_in(value) & runtime):
            deferred.add(key)  # wholly or partly (a list or mapping with runtime values)
        if r is not DEFERRED:
            partial[key] = r
    return partial, deferred


def first_error(exc: ValidationError, deferred: set[str], allowed: list[str],
                error: Callable[[YamlPath, str], PlaybookError]) -> PlaybookError | None:
    """The first validation error not about a deferred key, as one line at its location."""
    for err in exc.errors():
        loc = tuple(err["loc"])
        if deferred and (not loc or loc[0] in deferred):
            continue  # decided when the deferred values are known
        etype = err["type"]
        if etype == "extra_forbidden":
            msg = f"unknown key (allowed here: {', '.join(allowed)})"
        elif etype == "missing":
            msg = "missing required key"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if "input" in err and etype != "value_error" and not isinstance(err["input"], dict):
                got = repr(err["input"])
                msg += f" (got {got if len(got) <= 80 else got[:79] + '…'})"
        return error(loc, msg)
    return None


def undefined(unknown: set[str], known: set[str]) -> str:
    """The message for names used but not defined, with the names that are."""
    names = ", ".join(sorted(unknown))
    return f"undefined variable {names} (defined here: {', '.join(sorted(known)) or 'nothing'})"
