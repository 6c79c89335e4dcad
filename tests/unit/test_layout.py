"""The redesign's promises about the code itself: a resource type is one module (its name appears
in no other module of provision/), types are found without a list, and the extending guide shows
the example plugin's real code."""

from __future__ import annotations

import ast
import re
import tokenize
from pathlib import Path

from provision.registry import registry

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "provision"


def _strings(path: Path) -> set[str]:
    with tokenize.open(path) as fh:
        return {ast.literal_eval(t.string) for t in tokenize.generate_tokens(fh.readline)
                if t.type == tokenize.STRING and not t.string.startswith(("f", "F", "rf", "fr"))}


def _spec_fields(path: Path) -> set[str]:
    """Key names of the specs a module defines (a key may share a type's name: env_file's template)."""
    fields: set[str] = set()
    for cls in registry().values():
        if Path(cls.__module__.replace(".", "/") + ".py") == path.relative_to(REPO):
            fields |= set(cls.spec_type.model_fields)
    return fields


# A type's domain package (knowledge the type uses, no resource of its own) may name it too.
DOMAINS = {"jdk": PACKAGE / "java",
           "proxy": PACKAGE / "formats/mavensettings.py"}  # Maven's <proxy> element


def test_a_resource_types_name_appears_in_its_own_module_only():
    builtins = {name: Path(cls.__module__.replace(".", "/") + ".py")
                for name, cls in registry().items() if cls.__module__.startswith("provision.resources.")}
    assert set(builtins) >= {"apt", "jdk", "env_file", "profile_script", "template", "wsl_conf"}
    for path in sorted(PACKAGE.rglob("*.py")):
        strings, fields = _strings(path), _spec_fields(path)
        for name, home in builtins.items():
            if path.relative_to(REPO) != home and not path.is_relative_to(DOMAINS.get(name, home)):
                assert name not in strings - fields, f"{path.relative_to(REPO)} names the type {name!r}"


def test_resource_modules_are_found_not_listed():
    init = (PACKAGE / "resources/__init__.py").read_text()
    assert "import" not in init
    modules = {p.stem for p in (PACKAGE / "resources").glob("*.py") if p.stem != "__init__"}
    assert modules == {cls.__module__.rsplit(".", 1)[1] for cls in registry().values()
                       if cls.__module__.startswith("provision.resources.")}


def test_the_extending_guide_shows_the_example_plugin_as_it_is():
    doc = (REPO / "docs/extending.md").read_text()
    blocks = re.findall(r"```(python|toml)\n(.*?)```", doc, re.S)
    plugin = REPO / "tests/plugins/provision-timezone"
    python = [text for kind, text in blocks if kind == "python"]
    assert python[0] == (plugin / "provision_timezone.py").read_text()
    assert [text for kind, text in blocks if kind == "toml"] == [(plugin / "pyproject.toml").read_text()]


def test_the_extending_guides_testing_example_runs(monkeypatch):
    """The guide's provision.testing snippet, run as it is against the example plugin."""
    doc = (REPO / "docs/extending.md").read_text()
    snippet = [text for kind, text in re.findall(r"```(python|toml)\n(.*?)```", doc, re.S) if kind == "python"][1]
    monkeypatch.syspath_prepend(str(REPO / "tests/plugins/provision-timezone"))
    import provision_timezone

    exec(compile(snippet, "docs/extending.md", "exec"), dict(vars(provision_timezone)))


def test_statuses_are_an_enum_everywhere():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for word in ("ok", "changed", "skipped"):
            assert not re.search(rf"status\s*[=!]=\s*[\"']{word}[\"']", text), f"{path}: bare status {word!r}"


def test_no_two_test_files_share_a_name():
    """tests/ has no packages: pytest imports test files by basename, and a second file of the same
    name anywhere under tests/ stops the whole collection ("import file mismatch")."""
    names = [p.name for p in (REPO / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
