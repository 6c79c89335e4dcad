"""No import cycles in provision/: the layers depend one way.

Every import statement counts, wherever it is: at module level, inside a function (a cycle held
together by deferring one import is still a cycle) and under ``if TYPE_CHECKING:`` (a layer that
names a type from above it depends on it). Only ``provision`` modules are nodes; importing
``a.b`` is an edge to ``a.b``, not to the package ``a`` that Python runs first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE, FUNCTION, TYPING = "at module level", "in a function", "for typing only"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    file: Path
    line: int
    where: str  # MODULE, FUNCTION or TYPING

    def __str__(self) -> str:
        return f"{self.source} → {self.target} ({self.file}:{self.line}, {self.where})"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Module name → file, for every module of ``package`` under ``root``."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement, and where it sits."""
    def walk(node: ast.AST, where: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, FUNCTION)
            elif isinstance(child, ast.If) and where == MODULE and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from walk(child, TYPING)
            else:
                yield from walk(child, where)
    return walk(tree, MODULE)


def edges(root: Path, package: str) -> list[Edge]:
    mods = modules(root, package)
    out: list[Edge] = []
    for name, path in mods.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node, where in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            rel = path.relative_to(root)
            out += [Edge(name, t, rel, node.lineno, where) for t in dict.fromkeys(targets)
                    if t in mods and t != name]
    return out


def cycles(graph: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    succ: dict[str, list[str]] = {}
    for e in graph:
        succ.setdefault(e.source, []).append(e.target)
        succ.setdefault(e.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(graph: list[Edge], components: list[list[str]]) -> str:
    lines = []
    for component in components:
        lines.append("cycle: " + ", ".join(component))
        lines += [f"    {e}" for e in graph if e.source in component and e.target in component]
    return "\n".join(lines)


def test_provision_has_no_import_cycle() -> None:
    graph = edges(REPO, "provision")
    assert len({e.source for e in graph}) > 40  # the graph was read (not an empty walk)
    found = cycles(graph)
    assert not found, "import cycles in provision/ (cut them by structure, not by deferring):\n" \
        + describe(graph, found)


def test_a_deferred_import_that_closes_a_loop_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub/__init__.py").write_text("from .b import B\n")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub/b.py").write_text("B = 1\ndef f():\n    from .. import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n")
    graph = edges(tmp_path, "pkg")
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    assert "pkg.sub.b → pkg.a (pkg/sub/b.py:3, in a function)" in describe(graph, cycles(graph))
    assert any(e.source == "pkg.c" and e.target == "pkg.a" and e.where == TYPING for e in graph)
