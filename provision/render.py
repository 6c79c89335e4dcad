"""Jinja2 rendering: sandboxed, StrictUndefined, native values for whole-value expressions.

Rendering is bounded, so a hostile playbook cannot take the controller's memory or time: ``*`` and
``**`` that would build a value larger than ``MAX_VALUE``, output longer than ``MAX_OUTPUT``, or
more than ``MAX_STEPS`` steps of template code (nested loops) stop the render with a RenderError.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from provision.paths import templates_dir

_WHOLE_EXPR = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.S)


class RenderError(Exception):
    """A template or expression could not be parsed or evaluated (message is one line)."""


def is_templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


MAX_VALUE = 1 << 20  # characters or items a * or ** may produce
MAX_OUTPUT = 1 << 20  # characters a template may render
MAX_STEPS = 2_000_000  # lines of template code one render may run


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox, with the sizes of * and ** checked before they are computed."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_VALUE:
                    raise RenderError(f"a value of {len(seq) * n} items is too big (at most {MAX_VALUE})")
        if operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 4096:
                raise RenderError(f"{left} ** {right} is too big")
        return super().call_binop(context, operator, left, right)


def make_env(search_paths: Iterable[Path] = ()) -> SandboxedEnvironment:
    paths = [str(p) for p in search_paths] + [str(templates_dir())]
    return BoundedEnvironment(
        loader=jinja2.FileSystemLoader(paths),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@contextmanager
def _budget() -> Iterator[None]:
    """At most MAX_STEPS lines of code run in this thread while rendering (loops inside loops)."""
    steps = [0]

    def line(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        if event == "line":
            steps[0] += 1
            if steps[0] > MAX_STEPS:
                raise RenderError(f"the template does too much work (more than {MAX_STEPS} steps)")
        return line

    def call(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        return line if frame.f_code.co_filename.startswith("<") or frame.f_code.co_filename.endswith(
            (".j2", ".yml", ".yaml", ".jinja")) else None

    previous = sys.gettrace()
    sys.settrace(call)
    try:
        yield
    finally:
        sys.settrace(previous)


def _bounded(render: Callable[[], Any]) -> Any:
    with _budget():
        try:
            return render()
        except RecursionError:
            raise RenderError("the template recurses too deeply") from None
        except MemoryError:
            raise RenderError("the template needs too much memory") from None


def _joined(chunks: Iterable[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderError(f"the template renders more than {MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)


_ENV = make_env()


@functools.lru_cache(maxsize=16)
def _env_for(search_paths: tuple[Path, ...]) -> SandboxedEnvironment:
    """One environment per template search path, so each template is read and compiled once per
    run (not once per host and resource); jinja2 environments are safe to share between threads."""
    return make_env(search_paths) if search_paths else _ENV


def _one_line(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined: {exc.message}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def render_string(text: str, ctx: Mapping[str, Any]) -> Any:
    """Render one string. A value that is exactly ``{{ expr }}`` keeps the expression's native type."""
    try:
        m = _WHOLE_EXPR.match(text.strip())
        if m and "{{" not in m.group("expr"):
            expr = _ENV.compile_expression(m.group("expr"), undefined_to_none=False)
            return _bounded(lambda: expr(**ctx))
        template = _ENV.from_string(text)
        return _bounded(lambda: _joined(template.generate(**ctx)))
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise RenderError(_one_line(exc)) from None


def render_value(value: Any, ctx: Mapping[str, Any]) -> Any:
    """Render every templated string inside a YAML value (dicts, lists, scalars)."""
    if isinstance(value, str):
        return render_string(value, ctx) if is_templated(value) else value
    if isinstance(value, dict):
        return {k: render_value(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, ctx) for v in value]
    return value


def eval_condition(expr: str | bool, ctx: Mapping[str, Any]) -> bool:
    """Evaluate a ``when:`` expression (plain Jinja2 expression, no braces)."""
    if isinstance(expr, bool):
        return expr
    text = expr.strip()
    m = _WHOLE_EXPR.match(text)
    if m:
        text = m.group("expr")
    try:
        compiled = _ENV.compile_expression(text, undefined_to_none=False)
        return bool(_bounded(lambda: compiled(**ctx)))
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise RenderError(_one_line(exc)) from None


def names_in(value: Any, *, expression: bool = False) -> set[str]:
    """Top-level variable names a value's templates refer to (raises RenderError on bad syntax)."""
    if isinstance(value, dict):
        return set().union(*(names_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(names_in(v) for v in value)) if value else set()
    if not isinstance(value, str):
        return set()
    source = value
    if expression:
        m = _WHOLE_EXPR.match(value.strip())
        source = "{{ " + (m.group("expr") if m else value) + " }}"
    elif not is_templated(value):
        return set()
    try:
        return set(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(_one_line(exc)) from None


def render_template_file(name: str, ctx: Mapping[str, Any], search_paths: Iterable[Path] = ()) -> str:
    env = _env_for(tuple(search_paths))
    try:
        template = env.get_template(name)
        return str(_bounded(lambda: _joined(template.generate(**ctx))))
    except jinja2.TemplateNotFound:
        raise RenderError(f"template not found: {name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise RenderError(f"{name}: {_one_line(exc)}") from None


def template_names_in(name: str, search_paths: Iterable[Path] = ()) -> set[str]:
    env = _env_for(tuple(search_paths))
    assert env.loader is not None  # make_env always sets one
    try:
        source, filename, _ = env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        raise RenderError(f"template not found: {name}") from None
    except UnicodeDecodeError:  # a binary file (a key_file given as binary)
        raise RenderError(f"{name}: not UTF-8 text (a template, or an ASCII-armored key, is text)") from None
    try:
        return set(jinja2.meta.find_undeclared_variables(env.parse(source, name, filename)))
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{name}:{exc.lineno}: template syntax error: {exc.message}") from None
