"""YAML → plain Python values plus a map from each value's path to its line in the file."""

from __future__ import annotations

from typing import Any

import yaml

from provision.errors import PlaybookError

YamlPath = tuple[str | int, ...]  # e.g. ("resources", 1, "jdk", "version")

try:  # the C loader is several times faster; the pure one behaves the same
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


class Located:
    """A parsed document and the 1-based line where every path in it starts."""

    def __init__(self, value: Any, lines: dict[YamlPath, int], file: str) -> None:
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


def format_path(path: YamlPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse(text: str, file: str) -> Located:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlaybookError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise PlaybookError(f"YAML error: {exc}", file=file) from None
    finally:
        loader.dispose()
    lines: dict[YamlPath, int] = {}
    if node is None:
        return Located(None, lines, file)
    value = _build(node, (), lines, loader, file)
    return Located(value, lines, file)


def _build(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int], loader: Any, file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
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
            out[key] = _build(value_node, child, lines, loader, file)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, loader, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node)
