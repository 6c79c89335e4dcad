"""The status and event vocabularies are enums whose values are the bytes older versions wrote:
a journal on a target (read back by rollback and history, possibly from an older run) and the
JSON documents tools read keep their exact words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from provision import doctor
from provision.journal import Event, RunStatus, Session
from provision.plan import Status
from provision.rollback import RunJournals

PACKAGE = Path(__file__).resolve().parents[2] / "provision"

# What provision wrote before the enums: never change one of these values.
ON_DISK = {
    Event: {"START": "start", "BEGIN": "begin", "END": "end", "WRITE": "write", "REMOVE": "remove",
            "RESTORE": "restore", "INSTALL": "install", "REMOVE_PACKAGES": "remove-packages",
            "DPKG_CONFIGURE": "dpkg-configure", "ALTERNATIVES": "alternatives", "UNDO": "undo", "UNDONE": "undone"},
    RunStatus: {"COMPLETE": "complete", "FAILED": "failed", "INTERRUPTED": "interrupted"},
    Status: {"OK": "ok", "CHANGED": "changed", "SKIPPED": "skipped", "FAILED": "failed"},
    doctor.Verdict: {"OK": "ok", "WARN": "warn", "PROBLEM": "problem", "INFO": "info"},
}


def test_every_value_is_the_one_older_versions_wrote():
    for enum, values in ON_DISK.items():
        assert {m.name: m.value for m in enum} == values, enum.__name__


class _Pipe:
    """The held command's stdin: what the controller sends to the journal."""

    def __init__(self) -> None:
        self.sent = b""

    def send(self, data: bytes) -> None:
        self.sent += data

    def finish(self, timeout: float) -> int:
        return 0


def test_a_journal_is_written_in_the_same_bytes():
    pipe = _Pipe()
    session = Session(pipe, "20240101T000000-abcdef")  # type: ignore[arg-type]
    session.record({"event": Event.BEGIN, "resource": "jdk", "label": "jdk", "changes": ["install x"]})
    session.record({"event": Event.WRITE, "path": "/etc/environment", "backup": None})
    session.record({"event": Event.END, "resource": "jdk", "status": Status.CHANGED})
    session.close(RunStatus.COMPLETE)
    lines = pipe.sent.decode().splitlines()
    entries = [json.loads(line) for line in lines]
    plain = [json.dumps({k: (str(v) if isinstance(v, str) else v) for k, v in e.items()},
                        separators=(",", ":")) for e in entries]
    assert lines == plain
    t = [json.dumps(e["time"]) for e in entries]
    assert lines[1:] == [
        f'{{"time":{t[1]},"event":"begin","resource":"jdk","label":"jdk","changes":["install x"]}}',
        f'{{"time":{t[2]},"event":"write","path":"/etc/environment","backup":null}}',
        f'{{"time":{t[3]},"event":"end","resource":"jdk","status":"changed"}}',
        f'{{"event":"end","status":"complete","time":{t[4]}}}',
    ]
    assert lines[0].startswith('{"event":"start","run":"20240101T000000-abcdef","provision":')


OLD_JOURNAL = [  # as provision wrote it before the enums (and as a run cut short leaves it)
    '{"event":"start","run":"20240101T000000-abcdef","provision":"0.9.0","time":"2024-01-01T00:00:00+0000",'
    '"playbook":"java17","file":"java17.yml","vars":{},"host":"local"}',
    '{"time":1.0,"event":"begin","resource":"jdk","label":"jdk","changes":["install openjdk-17-jdk-headless"]}',
    '{"time":1.1,"event":"install","packages":["openjdk-17-jdk-headless"],"apt_tag":"provision::run=x"}',
    '{"time":1.2,"event":"alternatives","previous":{"java":"/usr/lib/jvm/java-11/bin/java"}}',
    '{"time":1.3,"event":"end","resource":"jdk","status":"changed"}',
    '{"time":1.4,"event":"begin","resource":"env_file","label":"JAVA_HOME","changes":["set JAVA_HOME"]}',
    '{"time":1.5,"event":"write","path":"/etc/environment","backup":"/var/lib/provision/backups/x",'
    '"created":false,"sha256":"ab","mode":"0644","owner":"0:0"}',
    '{"time":1.6,"event":"remove","path":"/etc/profile.d/old.sh","backup":"/var/lib/provision/backups/y"}',
    '{"time":1.7,"event":"end","resource":"env_file","status":"changed"}',
    '{"event":"end","status":"complete","time":1.8}',
]


def test_a_journal_an_older_run_wrote_is_still_read():
    runs = RunJournals().parse(["run 20240101T000000-abcdef", *(f"j {line}" for line in OLD_JOURNAL),
                                "run 20240101T000001-cut", f"j {OLD_JOURNAL[0]}", f"j {OLD_JOURNAL[1]}"])
    done, cut = runs
    assert done.status == RunStatus.COMPLETE and cut.status == RunStatus.INTERRUPTED
    assert done.changes() == ["install openjdk-17-jdk-headless", "set JAVA_HOME"]
    assert done.alternatives() == {"java": "/usr/lib/jvm/java-11/bin/java"}
    files = done.files()
    assert files["/etc/environment"].left == "ab" and files["/etc/profile.d/old.sh"].left == "absent"
    assert json.dumps(done.summary()["status"]) == '"complete"'


def test_doctor_findings_say_their_status_in_the_same_words():
    finding = doctor.Finding("java", doctor.PROBLEM, "no java", "install one")
    assert json.dumps(finding.as_dict()) == \
        '{"check": "java", "status": "problem", "summary": "no java", "fix": "install one"}'


def test_no_journal_event_is_a_bare_string():
    bare = re.compile(r"""["']event["']\s*(?::|\)\s*==)\s*["']""")
    for path in sorted(PACKAGE.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not bare.search(line), f"{path.relative_to(PACKAGE.parent)}:{n}: a bare event name: {line}"
