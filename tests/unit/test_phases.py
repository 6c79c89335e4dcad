"""Issue 20 item 3: a resource type's phases decide when it runs, whatever its place in the
playbook: the proxy and the CA before any package or repository step, and again after the
others (for a JDK or Maven those steps installed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from provision import engine, playbook
from provision.errors import PlaybookError
from provision.facts import HOST, Facts, FileContent
from provision.facts.files import FileState
from provision.facts.host import HostFacts
from provision.plan import Mode
from provision.resources.proxy import JavaConfs, JavaNetConfs

PLAYBOOK = """\
resources:
  - apt: {packages: [maven]}
  - jdk: {version: 17}
  - proxy: {url: "http://127.0.0.1:3128", no_proxy: [localhost]}
  - env_file: {set: {A: b}}
"""


def load(tmp_path: Path, text: str) -> playbook.Playbook:
    f = tmp_path / "p.yml"
    f.write_text(textwrap.dedent(text))
    return playbook.load(str(f))


def test_the_proxy_runs_first_and_again_last(tmp_path):
    pb = load(tmp_path, PLAYBOOK)
    assert [d.type for d in pb.resources] == ["proxy", "apt", "jdk", "env_file"]
    order = [(d.type, again) for d, again in engine.schedule(pb.resources)]
    assert order == [("proxy", False), ("apt", False), ("jdk", False), ("env_file", False), ("proxy", True)]


def test_a_resource_of_an_early_phase_cannot_read_a_later_ones_outputs(tmp_path):
    with pytest.raises(PlaybookError, match="undefined variable jdk"):
        load(tmp_path, """\
            resources:
              - jdk: {version: 17}
              - proxy: {url: "http://127.0.0.1:3128", no_proxy: ["{{ jdk.home }}"]}
            """)


def test_a_secret_in_a_bad_url_is_not_in_the_error(tmp_path):
    with pytest.raises(PlaybookError) as exc:
        load(tmp_path, """\
            resources:
              - proxy: {url: "http://alice:Hunter2x@proxy.corp:3128/x"}
            """)
    assert "Hunter2x" not in str(exc.value) and "no path" in str(exc.value)


def test_credentials_need_a_group_for_maven(tmp_path):
    with pytest.raises(PlaybookError) as exc:
        load(tmp_path, """\
            resources:
              - proxy: {url: "http://alice:Hunter2x@proxy.corp:3128"}
            """)
    assert "maven_group" in str(exc.value) and "Hunter2x" not in str(exc.value)


def test_plan_shows_a_resource_once(tmp_path):
    """plan runs no second pass: nothing was applied since the first, it would say the same twice."""
    pb = load(tmp_path, """\
        resources:
          - proxy: {url: "http://127.0.0.1:3128", apt: false, jvm: false, maven: false}
        """)
    facts = Facts()
    facts.set(HOST, HostFacts())
    facts.set(FileContent("/etc/environment"), FileState("/etc/environment", exists=False))
    facts.set(JavaNetConfs(), JavaConfs())
    result = engine.HostResult("h")
    engine.walk(pb, facts, lambda wanted: None, Mode.PLAN, engine.Silent(), result)
    assert [(r.type, str(r.status)) for r in result.resources] == [("proxy", "changed")]
