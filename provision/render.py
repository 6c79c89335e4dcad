"""Jinja2 rendering: sandboxed, StrictUndefined, native values for whole-value expressions.

Rendering is bounded, so a hostile playbook or template cannot take the controller's memory or
time, whatever the template's file is named:

- every value a template builds is checked BEFORE it is built, where its size can be told from
  the arguments: ``*``, ``+``, ``**``, ``%`` and ``~``, ``str.format`` (widths included), the str
  and bytes methods that grow a string (center, ljust, rjust, zfill, expandtabs, replace, join,
  translate, an int argument above ``MAX_VALUE``), the filters that do (center, indent, wordwrap,
  join, replace, format, batch, slice, tojson, sum of lists, and every filter that prints its
  input), ``lipsum``; and after every call (its result, and the list, dict or set it grew, with
  what they hold);
- each printed value, each buffer joined (macros, ``{% set %}`` blocks) and the whole output are
  at most ``MAX_OUTPUT`` characters, and all a render prints (buffers included) ``MAX_PRINTED``;
  template files are regular files of at most ``MAX_SOURCE`` bytes;
- one render runs at most ``MAX_STEPS`` lines of Python (the template's and the filters' it calls)
  and ``MAX_SECONDS`` of CPU time (which also counts the C-level work of builtins in a loop);
- an interrupt (``stop_renders``, from provision.interrupts) ends every render under way at its
  next step with ``Interrupted``.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
import jinja2.meta
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.nodes import Concat
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import _PassArg, generate_lorem_ipsum
from markupsafe import EscapeFormatter, Markup

from provision.errors import Interrupted
from provision.paths import templates_dir

_WHOLE_EXPR = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.S)


class RenderError(Exception):
    """A template or expression could not be parsed or evaluated (message is one line)."""


def is_templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


MAX_VALUE = 1 << 20  # characters or items one operation, call or filter may produce
MAX_OUTPUT = 1 << 20  # characters a template may render (and one printed value, one joined buffer)
MAX_PRINTED = 8 * MAX_OUTPUT  # characters one render may print, into buffers included
MAX_SOURCE = 1 << 20  # bytes of one template file
MAX_STEPS = 2_000_000  # lines of Python one render may run
MAX_SECONDS = 3.0  # CPU seconds one render may take (its thread's: other threads and a busy machine do not count)

_stop = threading.Event()  # set by an interrupt: renders under way end at their next step


def stop_renders(stop: bool = True) -> None:
    """Make every render under way, in every thread, end with Interrupted (``False``: renders run
    again, once the interrupted command is over)."""
    if stop:
        _stop.set()
    else:
        _stop.clear()


def _check(size: int, what: str, limit: int = MAX_VALUE) -> None:
    if size > limit:
        raise RenderError(f"{what} of {size} characters or items is too big (at most {limit})")


def _size(value: object, limit: int = MAX_VALUE) -> int:
    """About how many characters ``value`` prints as; the count stops once it passes ``limit``
    (so a list holding one big list a million times costs no more than ``limit`` to measure)."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    total = 0
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, (str, bytes, bytearray)):
            total += len(v) + 2
        elif isinstance(v, Mapping):
            total += 2 + 4 * len(v)
            if total <= limit:
                todo += itertools.chain.from_iterable(v.items())
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(v)
            if total <= limit:
                todo += v
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 1
        else:
            total += 8
        if total > limit:
            break
    return total


_render = threading.local()  # printed: characters printed so far by this thread's render


def _printable(value: Any) -> Any:
    """A value a template prints (the environment's finalize): measured before str() is taken,
    and counted: what one render prints in all, into buffers (macros, {% set %} blocks) too, is
    at most MAX_PRINTED (the buffers hold what was printed until they are joined)."""
    size = _size(value, MAX_OUTPUT)
    _check(size, "a printed value", MAX_OUTPUT)
    if hasattr(_render, "printed"):
        _render.printed += size
        _check(_render.printed, "what the template prints in all", MAX_PRINTED)
    return value


def _measured(value: object, what: str) -> None:
    if isinstance(value, (str, bytes, bytearray, list, tuple, Mapping, set, frozenset)):
        _check(_size(value), what)


def _small_int(value: object, what: str) -> None:
    if isinstance(value, int) and abs(value) > MAX_VALUE:
        raise RenderError(f"{what}: {value if abs(value) < 10**30 else 'a number'} is too big (at most {MAX_VALUE})")


_WIDTHS = re.compile(r"\d+")


def _spec_widths(spec: str, what: str) -> int:
    """The widths and precisions of a format spec (each at most MAX_VALUE); their sum."""
    total = 0
    for digits in _WIDTHS.findall(spec):
        if len(digits) > 7:
            raise RenderError(f"{what}: a width of {len(digits)} digits is too big (at most {MAX_VALUE})")
        _small_int(int(digits), what)
        total += int(digits)
    return total


_PERCENT = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<conv>.?)",
                      re.S)


def _check_percent(fmt: str | bytes | bytearray, args: object) -> None:
    """``fmt % args``: its widths, and the size of what it prints, checked before it is built."""
    text = fmt.decode("latin-1") if isinstance(fmt, (bytes, bytearray)) else fmt
    total = len(text)
    star = False
    for m in _PERCENT.finditer(text):
        if m.group("conv") == "%":
            continue
        for part in (m.group("width"), m.group("prec")):
            if part == "*":
                star = True
            elif part:
                total += _spec_widths(part, "%-format")
        key = m.group("key")
        if key is not None and isinstance(args, Mapping) and key in args:
            total += _size(args[key])
        _check(total, "a %-formatted string")
    items = args if isinstance(args, tuple) else (args,)
    if star:
        for item in items:
            _small_int(item, "%-format")
    if not (isinstance(args, Mapping) and "%(" in text):
        total += sum(_size(item) for item in items)
    _check(total, "a %-formatted string")


class _Formatter(SandboxedFormatter):
    """str.format in the sandbox, its widths and the size of what it builds checked first."""

    total = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.total = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion:
            _check(_size(value), "a formatted value")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.total += _spec_widths(format_spec, "str.format") + _size(value)
        _check(self.total, "a formatted string")
        return super().format_field(value, format_spec)


class _EscapeFormatter(_Formatter, EscapeFormatter):
    pass


class _CodeGenerator(CodeGenerator):
    """Jinja2's code generator, with ``~`` measured (by the environment) before it is joined."""

    @optimizeconst
    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write("environment.concat_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {join})")


def _joined(chunks: Iterable[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderError(f"the template renders more than {MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)


def _materialized(items: object, what: str) -> list[Any]:
    """An iterable (a generator too) as a list of at most MAX_VALUE items."""
    if not isinstance(items, Iterable):
        raise TypeError(f"{what}: {type(items).__name__} is not iterable")
    out = list(itertools.islice(items, MAX_VALUE + 1))
    _check(len(out), what)
    return out


def _check_join(sep: object, items: list[Any], what: str) -> None:
    sep_len = _size(sep)
    total = sep_len * max(len(items) - 1, 0)
    for item in items:
        total += _size(item)
        _check(total, what)


def _check_replace(s: object, old: object, new: object, count: object) -> None:
    if not isinstance(old, (str, bytes)) or not isinstance(new, (str, bytes)):
        return
    size = _size(s)
    if isinstance(s, type(old)):
        hits = len(s) + 1 if not old else s.count(old)  # type: ignore[arg-type]
    else:
        hits = size + 1 if not old else size // len(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _check(size + hits * max(len(new) - len(old), 0), "a replaced string")


_GROWING = {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate"}


def _before_method(owner: str | bytes | bytearray | int, name: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
    """A str, bytes or int method: no int argument above MAX_VALUE (widths, lengths), and the
    methods that grow a string checked against what they would build."""
    for arg in (*args, *kwargs.values()):
        _small_int(arg, f"{type(owner).__name__}.{name}")
    if isinstance(owner, int) or name not in _GROWING:
        return
    n = len(owner)
    if name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int):
            _check(n * max(tab, 1), "an expanded string")
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))), default=1)
        _check(n * max(longest, 1), "a translated string")


_LIPSUM = inspect.signature(generate_lorem_ipsum)


def _filter_checks(name: str, a: Mapping[str, Any]) -> None:
    """What a filter would build, from its (bound) arguments, checked before it runs."""
    what = f"|{name}"
    if name in ("center", "indent", "wordwrap", "truncate", "batch", "slice", "urlize"):
        for key in ("width", "length", "leeway", "linecount", "slices", "trim_url_limit"):
            _small_int(a.get(key), what)
    if name == "indent":
        width = a.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        lines = str(a["s"]).count("\n") + 1 if isinstance(a.get("s"), str) else _size(a.get("s")) + 1
        _check(_size(a.get("s")) + lines * max(pad, 0), "an indented string")
    elif name == "wordwrap":
        s, width = a.get("s"), a.get("width", 79)
        lines = _size(s) // max(width if isinstance(width, int) else 1, 1) + 1
        _check(_size(s) + lines * (_size(a.get("wrapstring") or "\n") + 1), "a wrapped string")
    elif name == "replace":
        _check_replace(a.get("s"), a.get("old"), a.get("new"), a.get("count"))
    elif name == "join":
        _check_join(a.get("d", ""), a["value"], "a joined string")
    elif name == "format":
        kwargs = a.get("kwargs") or {}
        _check_percent(str(a.get("value")), kwargs or tuple(a.get("args", ())))
    elif name == "tojson":
        indent = a.get("indent")
        if isinstance(indent, int) and indent > 64 or isinstance(indent, str) and len(indent) > 64:
            raise RenderError("|tojson: an indent of more than 64 is too big")


_QUIET = {"length", "count", "first", "last", "list", "sort", "unique", "reverse", "select", "reject",
          "selectattr", "rejectattr", "map", "batch", "slice", "groupby", "dictsort", "items", "min", "max",
          "random", "default", "d", "attr", "abs", "float", "int", "round", "sum"}  # do not print their input


def _sum(iterable: Iterable[Any], start: list[Any]) -> list[Any]:
    """|sum(start=[]) of lists, in linear time and bounded (sum() copies the list at each step)."""
    out = list(start)
    for item in iterable:
        if not isinstance(item, list):
            raise TypeError(f"can only concatenate list (not {type(item).__name__!r}) to list")
        out += item
        _check(len(out), "a sum of lists")
    return out


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(fn)
    first = 1 if _PassArg.from_obj(fn) is not None else 0  # the environment or context comes first

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if name == "join" and len(args) > first:
            args = (*args[:first], _materialized(args[first], "a joined list"), *args[first + 1:])
        if name not in _QUIET:
            for arg in (*args[first:], *kwargs.values()):
                _check(_size(arg), f"|{name}'s input")
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            bound = None  # fn itself says what is wrong
        if bound is not None:
            bound.apply_defaults()
            a = bound.arguments
            _filter_checks(name, a)
            if name == "sum" and isinstance(a.get("start"), list) and a.get("attribute") is None:
                return _sum(a["iterable"], a["start"])
            if name == "sum" and isinstance(a.get("start"), tuple):
                raise RenderError("|sum: a tuple start is not supported (use a list)")
        result = fn(*args, **kwargs)
        _measured(result, f"|{name}'s result")
        return result

    return run


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox, with the size of every value checked before it is built (see above)."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _CodeGenerator
    concat = staticmethod(_joined)  # joins every buffer: macros, {% set %} blocks, call blocks

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_printable, **options)
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and n > 0:
                    size = len(seq) * n if isinstance(seq, (str, bytes)) else _size(seq) * n
                    if size > MAX_VALUE:
                        raise RenderError(f"a value of {size} items is too big (at most {MAX_VALUE})")
        elif operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
                _check(len(left) + len(right), "a sum")
        elif operator == "%":
            if isinstance(left, (str, bytes, bytearray)):
                _check_percent(left, right)
        elif isinstance(left, (int, float)) and isinstance(right, (int, float)):  # **
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 4096:
                raise RenderError(f"{left} ** {right} is too big")
        return super().call_binop(context, operator, left, right)

    def concat_values(self, parts: tuple[Any, ...], join: Callable[[Iterable[Any]], str]) -> str:
        """``a ~ b ~ c``: measured before each part is turned into a string."""
        total = 0
        for part in parts:
            total += _size(part)
            _check(total, "a concatenated string")
        return join(parts)

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes: checked before (what it would build) and after (its
        result, and the list, dict or set it grew)."""
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", "")
        if isinstance(owner, (str, bytes, bytearray, int)):
            _before_method(owner, name, args, kwargs)
            if name == "join" and args and isinstance(owner, (str, bytes)):
                items = _materialized(args[0], "a joined list")
                _check_join(owner, items, "a joined string")
                args = (items, *args[1:])
        elif obj is generate_lorem_ipsum:
            a = _LIPSUM.bind(*args, **kwargs)
            a.apply_defaults()
            n, most = a.arguments["n"], a.arguments["max"]
            if isinstance(n, int) and isinstance(most, int):
                _check(max(n, 0) * max(most, 0) * 16, "lipsum")
        result = super().call(context, obj, *args, **kwargs)
        _measured(result, f"the result of {name or 'a call'}")
        if isinstance(owner, (list, dict, set, bytearray)):
            _measured(owner, f"a {type(owner).__name__} grown by {name}")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and str.format_map through the bounded formatter (see jinja2's own)."""
        if not isinstance(value, Callable) or getattr(value, "__name__", "") not in ("format", "format_map"):  # type: ignore[arg-type]
            return None
        f_self = getattr(value, "__self__", None)
        if not isinstance(f_self, str):
            return None
        formatter = _EscapeFormatter(self, escape=f_self.escape) if isinstance(f_self, Markup) else _Formatter(self)
        is_map = value.__name__ == "format_map"
        str_type = type(f_self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)


class _Loader(jinja2.FileSystemLoader):
    """Templates are regular files of at most MAX_SOURCE bytes (not a FIFO, /dev/zero, 1 GB)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        for base in self.searchpath:
            path = os.path.join(base, *jinja2.loaders.split_template_path(template))
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                raise RenderError(f"{template}: not a regular file")
            if st.st_size > MAX_SOURCE:
                raise RenderError(f"{template}: a template of {st.st_size} bytes is too big (at most {MAX_SOURCE})")
            break
        return super().get_source(environment, template)


def make_env(search_paths: Iterable[Path] = ()) -> SandboxedEnvironment:
    paths = [str(p) for p in search_paths] + [str(templates_dir())]
    return BoundedEnvironment(
        loader=_Loader(paths),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@contextmanager
def _budget() -> Iterator[None]:
    """At most MAX_STEPS lines of Python (the template's, and the filters' and methods' it calls;
    not this module's own measuring) and MAX_SECONDS of this thread's CPU time; an interrupt ends
    it at the next step."""
    steps = 0
    deadline = time.thread_time() + MAX_SECONDS

    def line(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        nonlocal steps
        if event == "line":
            steps += 1
            if steps & 255 == 0:
                if _stop.is_set():
                    raise Interrupted("interrupted while rendering a template")
                if steps > MAX_STEPS:
                    raise RenderError(f"the template does too much work (more than {MAX_STEPS} steps)")
                if time.thread_time() > deadline:
                    raise RenderError(f"the template takes too long (more than {MAX_SECONDS:g}s of CPU)")
        return line

    def call(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        if _stop.is_set():
            raise Interrupted("interrupted while rendering a template")
        return None if frame.f_code.co_filename == __file__ else line

    previous, printed = sys.gettrace(), getattr(_render, "printed", None)
    _render.printed = 0
    sys.settrace(call)
    try:
        yield
    finally:
        sys.settrace(previous)
        if printed is None:
            del _render.printed
        else:
            _render.printed = printed


def _bounded(render: Callable[[], Any]) -> Any:
    with _budget():
        try:
            return render()
        except RecursionError:
            raise RenderError("the template recurses too deeply") from None
        except MemoryError:
            raise RenderError("the template needs too much memory") from None


def _compiled(compile: Callable[[], Any]) -> Any:
    try:
        return compile()
    except RecursionError:
        raise RenderError("the template is nested too deeply") from None


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


@functools.lru_cache(maxsize=1024)
def _compile_string(text: str) -> tuple[Any, jinja2.Template | None]:
    """``text`` compiled once per run, not once per host and resource (a compiled expression or
    template is only code: rendering it is what the budget bounds); an error is not cached."""
    m = _WHOLE_EXPR.match(text.strip())
    if m and "{{" not in m.group("expr"):
        return _compiled(lambda: _ENV.compile_expression(m.group("expr"), undefined_to_none=False)), None
    return None, _compiled(lambda: _ENV.from_string(text))


def render_string(text: str, ctx: Mapping[str, Any]) -> Any:
    """Render one string. A value that is exactly ``{{ expr }}`` keeps the expression's native type."""
    try:
        expr, template = _compile_string(text)
        if expr is not None:
            return _bounded(lambda: _printable(expr(**ctx)))
        assert template is not None
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
        compiled = _compiled(lambda: _ENV.compile_expression(text, undefined_to_none=False))
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
        template = _compiled(lambda: env.get_template(name))
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
