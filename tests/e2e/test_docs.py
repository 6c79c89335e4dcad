"""Every provision command shown in README.md and docs/*.md (shell blocks) runs, so the docs cannot
drift: each is run against a lab root (its -H/-i targets replaced by the root, in a scratch
directory) and must not be refused as usage (no unknown command, option, variable or value: exit 2)
unless the docs say it is refused there. Exit 1 (a check failing, a host problem) is fine: the
command is real."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.lab

TARGETED = {"plan", "apply", "facts", "verify", "doctor", "history", "rollback"}
DROP_WITH_VALUE = {"-H", "--host", "-i", "--inventory", "--limit", "--ssh-config", "--known-hosts"}
DROP = {"-K", "--ask-become-pass", "--accept-new-host-keys"}
# What a doc says is refused on a machine that is not WSL (exit 2, with this in the message).
REFUSED_HERE = {"--wsl-instance": "%USERPROFILE% cannot be found here (not WSL",
                "--run": "no such run on this target"}  # an example run id
SHELL = {">", ">>", "2>&1", "||", "|", ";"}  # the command ends there (the rest is the shell's)


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text()
        for block in re.findall(r"```(?:sh|console|bash)\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#\s.*$", "", line).strip()
                for part in line.split("&&"):
                    part = part.strip()
                    part = re.sub(r"^(sudo\s+)?(\.venv/bin/)?(?=provision\s)", "", part)
                    if part.startswith("provision "):
                        found.append((doc.name, part))
    return found


def runnable(command: str, target: str) -> list[str]:
    words = shlex.split(command.replace("$ssh_opts", ""))[1:]
    out, skip = [], False
    for w in words:
        if w in SHELL:
            break
        if skip:
            skip = False
            continue
        if w in DROP_WITH_VALUE:
            skip = True
            continue
        if w in DROP:
            continue
        out.append(w)
    if out and out[0] in TARGETED or out[:2] == ["export", "wsl-image"] and "--lint-only" not in out:
        out += ["-H", target]  # (export wsl-image really packs the root: its image is checked next)
    return out


def test_the_docs_show_enough_commands_to_be_worth_checking():
    assert len(documented_commands()) >= 30


def test_every_documented_command_runs(converged_root, tmp_path):
    (tmp_path / "ci/tests").mkdir(parents=True)
    (tmp_path / "reports").mkdir()
    (tmp_path / "ci/tests/test_site.py").write_text("def test_ok(host):\n    assert host.exists('sh')\n")
    failures = []
    for doc, command in documented_commands():
        argv = runnable(command, converged_root.target)
        r = subprocess.run([sys.executable, "-m", "provision", *argv], cwd=tmp_path, capture_output=True,
                           text=True, timeout=900, stdin=subprocess.DEVNULL)
        refused = next((why for opt, why in REFUSED_HERE.items() if opt in argv and "-o" not in argv), None)
        usage = re.search(r"No such (option|command)|Usage: |Error: (Invalid|Missing|Got unexpected)", r.stderr)
        if refused is not None:
            ok = r.returncode == 2 and refused in r.stderr
        else:
            ok = r.returncode in (0, 1) and not usage
        if not ok:
            failures.append(f"{doc}: {command!r} → exit {r.returncode}: {r.stderr.strip()[-400:]}")
    assert not failures, "\n".join(failures)


def test_the_starter_playbook_of_provision_init_applies_cleanly(converged_root, tmp_path):
    from conftest import provision

    assert provision("init", str(tmp_path)).rc == 0
    book = str(tmp_path / "playbook.yml")
    first = provision("apply", book, "-H", converged_root.target, "--json")
    assert first.rc == 0, first
    assert converged_root.out("dpkg-query -W -f='${Status}' curl") == "install ok installed"
    assert 'JAVA_HOME="/usr/lib/jvm/java-17-openjdk-amd64"' in converged_root.file("/etc/environment").read_text()
    again = provision("apply", book, "-H", converged_root.target, "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
    assert provision("verify", book, "-H", converged_root.target).rc == 0
