"""Issue 18: a run that lost its target's lock notices, and stops before its next change. The
held command ends after SILENCE seconds without a line from the controller (a stopped process, a
stalled heartbeat, a suspended laptop); another run may then take the lock. Before, the controller
swallowed the failed sends and went on changing the host with neither lock nor journal. In
process, over a chroot lab root, with a short SILENCE and no heartbeat (as if stalled)."""

from __future__ import annotations

import io
import json
import time

import pytest

from provision import engine, journal, playbook
from provision.connections.chroot import ChrootConnection
from provision.errors import ConnectError
from provision.facts import HOST
from provision.plan import Status
from provision.report import ConsoleReporter
from provision.targets import Target

pytestmark = pytest.mark.lab

SILENCE = 2


@pytest.fixture
def stalled(monkeypatch):
    """A short silence limit, and a heartbeat that never beats in a test's time."""
    monkeypatch.setattr(journal, "SILENCE", SILENCE)
    monkeypatch.setattr(journal, "HEARTBEAT", 3600.0)


def lock_free(root) -> bool:
    return root.sh("flock -n /var/lib/provision/lock true", check=False).returncode == 0


def wait_until_free(root) -> None:
    deadline = time.monotonic() + 15
    while not lock_free(root):
        assert time.monotonic() < deadline, "the held command outlived the silence limit"
        time.sleep(0.2)


def test_a_record_after_the_held_command_ended_raises_and_sends_nothing(fresh_root, stalled, monkeypatch):
    with ChrootConnection(str(fresh_root.path)) as conn:
        session, _ = journal.Session.open(conn, "20260101T000000-lost00", [HOST], command="test",
                                          progress=lambda _: None)
        try:
            session.record({"event": "begin", "resource": "one"})
            wait_until_free(fresh_root)  # the held command ended: another run could take the lock now
            monkeypatch.setattr(journal, "SILENCE", 3600)  # only the failed send can tell
            with pytest.raises(ConnectError, match="lost the target's lock: the command holding it is gone"):
                session.record({"event": "write", "path": "/etc/motd"})
            with pytest.raises(ConnectError):  # and every record after it
                session.record({"event": "begin", "resource": "two"})
        finally:
            session.close("failed")
    entries = [json.loads(line) for line in
               fresh_root.file("/var/lib/provision/runs/20260101T000000-lost00.jsonl").read_text().splitlines()]
    assert [e["event"] for e in entries] == ["start", "begin"]


def test_a_controller_silent_too_long_takes_its_lock_as_lost_even_if_a_send_would_pass(fresh_root, monkeypatch):
    """Stopped (SIGSTOP) or suspended for longer than the held command waits: whether a line
    still gets through or not, the lock may be another run's by now."""
    monkeypatch.setattr(journal, "HEARTBEAT", 3600.0)
    with ChrootConnection(str(fresh_root.path)) as conn:
        session, _ = journal.Session.open(conn, "20260101T000000-lost01", [HOST], command="test",
                                          progress=lambda _: None)  # the held command waits 50s
        try:
            monkeypatch.setattr(journal, "SILENCE", SILENCE)
            time.sleep(SILENCE + 0.5)
            with pytest.raises(ConnectError, match=r"nothing reached the command holding it for \d+s"):
                session.record({"event": "begin", "resource": "one"})
        finally:
            session.close("failed")


class SlowChroot(ChrootConnection):
    """A chroot whose first file write takes longer than the silence limit (like a long apt run)."""

    slow = True

    def write_file(self, path: str, data: bytes, **kwargs) -> None:  # noqa: ANN003
        super().write_file(path, data, **kwargs)
        if self.slow:
            self.slow = False
            time.sleep(SILENCE + 2)


def test_an_apply_that_lost_its_lock_stops_before_its_next_change_and_says_so(fresh_root, stalled, tmp_path):
    (tmp_path / "one.j2").write_text("one\n")
    (tmp_path / "two.j2").write_text("two\n")
    book = tmp_path / "site.yml"
    book.write_text("resources:\n"
                    "  - {id: one, template: {src: one.j2, dest: /etc/provision-one}}\n"
                    "  - {id: two, template: {src: two.j2, dest: /etc/provision-two}}\n")
    pb = playbook.load(str(book))
    stream = io.StringIO()
    conn = SlowChroot(str(fresh_root.path))
    [result] = engine.run(pb, [Target("lab", "chroot", root=str(fresh_root.path))], engine.APPLY,
                          ConsoleReporter(stream=stream), connect=lambda t: conn)
    text = stream.getvalue()
    one, two = result.resources
    assert result.failed and one.status == Status.FAILED, text
    assert one.reason.startswith("lost the target's lock: "), one.reason
    assert "stopped before the next change" in one.reason and "lost the target's lock" in text
    assert two.status == Status.SKIPPED and two.reason.startswith("not run: "), text
    assert fresh_root.file("/etc/provision-one").read_text() == "one\n"  # done before the lock went
    assert not fresh_root.file("/etc/provision-two").exists()  # nothing changed without the lock
    assert lock_free(fresh_root)
    journal_file = fresh_root.file(f"/var/lib/provision/runs/{result.run_id}.jsonl")
    events = [json.loads(line)["event"] for line in journal_file.read_text().splitlines()]
    assert events == ["start", "begin", "write"]  # nothing after the lock was lost
