"""Issue 18, in-process: what a run puts on the target's command lines (every local user reads
them), and the facts script's shape (the path walk defined once, the read of a file capped)."""

from __future__ import annotations

import pytest
from fakehost import FakeHost, encode

from provision import journal
from provision.cli import recorded_command
from provision.connections.base import WALK
from provision.facts import FileContent, batch
from provision.facts.files import MAX_READ, parse_file


@pytest.mark.parametrize("argv", [
    ["apply", "-e", "db_pass=S3CRET", "-H", "web1"],
    ["apply", "-edb_pass=S3CRET"],
    ["apply", "--extra-var", "db_pass=S3CRET"],
    ["apply", "--extra-var=db_pass=S3CRET"],
    ["apply", "-qedb_pass=S3CRET"],
])
def test_the_recorded_command_names_extra_keys_not_their_values(argv):
    text = recorded_command(argv, ("db_pass=S3CRET",))
    assert "S3CRET" not in text and "db_pass=…" in text, text
    assert text.startswith("provision apply")


def test_the_recorded_command_keeps_vars_files_and_the_rest():
    assert recorded_command(["plan", "site.yml", "-e", "@vars.yml", "-H", "web1"], ("@vars.yml",)) == \
        "provision plan site.yml -e @vars.yml -H web1"


class Recording(FakeHost):
    """A FakeHost that keeps the held command's arguments and what was sent to it."""

    def _start(self, argv):  # noqa: ANN001, ANN202
        self.started = list(argv)
        return super()._start(argv)


def test_the_owner_line_goes_on_stdin_not_in_the_held_commands_arguments():
    host = Recording([])
    session, _ = journal.Session.open(host, "r1", [], command="provision apply -e db_pass=… MARKER",
                                      progress=lambda _: None)
    session.close("complete")
    assert not any("MARKER" in a for a in host.started)
    assert 'IFS= read -r owner' in host.started[2]


def test_the_path_walk_is_defined_once_per_facts_script():
    parts = batch.sections([FileContent(f"/etc/f{i}") for i in range(20)])
    assert batch.script(parts).count("pv_walk() {") == 1
    held = batch.script(parts, end="", defined=(WALK,))
    assert "pv_walk() {" not in held


def test_a_file_read_is_capped_and_a_larger_one_refused():
    cmd = FileContent("/etc/f").command()
    assert f"bs={MAX_READ + 1} count=1" in cmd and "iflag=nofollow,nonblock,fullblock" in cmd
    big = encode([f"644 0 0 root root regular file\n{'A' * ((MAX_READ + 3) // 3 * 4)}"])
    lines = batch.split(big.encode(), 1)[0]
    state = parse_file("/etc/f", lines)
    assert not state.exists and "more than the 1 MiB provision reads" in state.refused
