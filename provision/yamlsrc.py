"""YAML → plain Python values plus a map from each value's path to its line in the file."""

from __future__ import annotations

import re

import yaml

from provision.errors import PlaybookError

YamlPath = tuple[str | int, ...]  # e.g. ("resources", 1, "jdk", "version")

try:  # the C loader is several times faster; the pure one behaves the same
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


class Located:
    """A parsed document and the 1-based line where every path in it starts."""

    def __init__(self, value: object, lines: dict[YamlPath, int], file: str) -> None:
        self.value = value
        self.lines = lines
        self.file = file

    def line_of(self, path: YamlPath) -> int | None:
        """Line of the deepest part of ``path`` that exists in the file."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None

    def error(self, path: YamlPath, message: str) -> PlaybookError:
        return PlaybookError(message, file=self.file, line=self.line_of(path), key=format_path(path) or None)


_SHOWN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def format_path(path: YamlPath) -> str:
    """``resources[2].jdk.version``. A key that is not a plain name is shown as ``?``: an error
    about a file that is not a playbook (imports: [/etc/shadow]) must not quote its content."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = str(part) if _SHOWN.fullmatch(str(part)) else "?"
            out += f".{shown}" if out else shown
    return out


MAX_BYTES = 1 << 20  # a playbook or inventory file
MAX_VALUES = 50_000  # values built, aliases expanded (a "billion laughs" alias bomb stops here)
MAX_DEPTH = 64
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map",
                                                           "timestamp"))


def parse(text: str, file: str) -> Located:
    if len(text) > MAX_BYTES:
        raise PlaybookError(f"the file is {len(text)} bytes; playbooks and inventories are at most "
                            f"{MAX_BYTES} bytes", file=file)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlaybookError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise PlaybookError(f"YAML error: {str(exc).splitlines()[0][:200]}", file=file) from None
    except RecursionError:
        raise PlaybookError(f"the YAML nests deeper than {MAX_DEPTH} levels", file=file) from None
    finally:
        loader.dispose()
    lines: dict[YamlPath, int] = {}
    if node is None:
        return Located(None, lines, file)
    try:
        value = _build(node, (), lines, loader, file, [0])
    except yaml.MarkedYAMLError as exc:  # a tag no safe loader constructs (!!python/...)
        mark = exc.problem_mark or exc.context_mark
        raise PlaybookError(f"YAML error: {exc.problem or exc.context or 'invalid value'}", file=file,
                            line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise PlaybookError(f"YAML error: {str(exc).splitlines()[0][:200]}", file=file) from None
    return Located(value, lines, file)


def _build(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int],
           loader: yaml.constructor.SafeConstructor, file: str, built: list[int]) -> object:
    built[0] += 1
    if built[0] > MAX_VALUES:
        raise PlaybookError(f"the YAML expands to more than {MAX_VALUES} values (an alias bomb?)", file=file,
                            line=node.start_mark.line + 1)
    if len(path) > MAX_DEPTH:
        raise PlaybookError(f"the YAML nests deeper than {MAX_DEPTH} levels", file=file,
                            line=node.start_mark.line + 1)
    lines[path] = node.start_mark.line + 1
    if node.tag not in _PLAIN_TAGS:
        raise PlaybookError(f"YAML tags are not supported ({node.tag[:60]})", file=file,
                            line=node.start_mark.line + 1, key=format_path(path) or None)
    if isinstance(node, yaml.MappingNode):
        out: dict[object, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise PlaybookError("mapping keys must be plain scalars", file=file,
                                    line=key_node.start_mark.line + 1, key=format_path(path) or None)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise PlaybookError("YAML merge keys (<<) are not supported", file=file,
                                    line=key_node.start_mark.line + 1, key=format_path(path) or None)
            key = loader.construct_object(key_node)
            if key in out:
                raise PlaybookError("duplicate key", file=file, line=key_node.start_mark.line + 1,
                                    key=format_path(path + (key,)))
            child = path + (key,)
            out[key] = _build(value_node, child, lines, loader, file, built)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, loader, file, built) for i, item in enumerate(node.value)]
    return loader.construct_object(node)
