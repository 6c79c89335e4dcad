"""Console output with many hosts: one line per host when it is done, failures in full, a final
table; a terminal also gets one status line that is rewritten in place, never a scroll of steps."""

from __future__ import annotations

import io
import re

from provision.engine import HostResult, ResourceResult
from provision.facts import HostFacts
from provision.plan import Change, Mode, Status
from provision.report import COMPACT_FROM, ConsoleReporter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drive(reporter: ConsoleReporter, n: int) -> list[HostResult]:
    results = []
    for i in range(n):
        host = f"h{i:02}"
        reporter.host_started(host)
        reporter.facts_gathered(host, HostFacts())
        reporter.progress(host, "apt-get install openjdk-17-jdk-headless")
        ok = ResourceResult("jdk", "jdk", "OpenJDK", Status.OK, "installed")
        changed = ResourceResult("java_home", "env_file", "JAVA_HOME", Status.CHANGED,
                                 changes=[Change("set JAVA_HOME", "missing")])
        failed = ResourceResult("x", "apt", "extra", Status.FAILED, "apt-get install failed: boom")
        resources = [ok, changed] + ([failed] if i == 3 else [])
        for r in resources:
            reporter.resource_done(host, r, Mode.APPLY)
        result = HostResult(host, resources, failed=i == 3, duration=0.5)
        reporter.host_done(host, result, Mode.APPLY)
        results.append(result)
    return results


def test_many_hosts_print_one_line_each_and_failures_in_full():
    out = io.StringIO()
    reporter = ConsoleReporter(hosts=COMPACT_FROM * 5, stream=out)
    reporter.table(drive(reporter, COMPACT_FROM * 5))
    lines = out.getvalue().splitlines()
    summaries = [ln for ln in lines if re.fullmatch(r"\[h\d+\] 1 changed, 1 ok, .*", ln)]  # the host named once
    assert len(summaries) == COMPACT_FROM * 5
    assert [ln for ln in lines if "boom" in ln] == ["[h03]   failed   extra: apt-get install failed: boom"]
    assert not any("connecting" in ln or "…" in ln or "set JAVA_HOME" in ln for ln in lines)
    assert len(lines) == 2 * COMPACT_FROM * 5 + 2  # a summary each, the failure, the table (header + rows)
    assert "\r" not in out.getvalue()  # not a terminal: no status line


def test_a_terminal_gets_a_status_line_rewritten_in_place():
    out = Terminal()
    reporter = ConsoleReporter(hosts=COMPACT_FROM, stream=out)
    drive(reporter, COMPACT_FROM)
    reporter.finish()
    text = out.getvalue()
    assert "hosts done, " in text and "running: " in text
    assert f"[{COMPACT_FROM - 1}/{COMPACT_FROM} hosts done, 1 failed]" in text
    assert "\x1b[2K" in text  # rich's live display erases its line, rather than scrolling it
    summaries = [ln for ln in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "\n").splitlines()
                 if re.fullmatch(r"\[h\d+\] 1 changed, 1 ok, .*", ln)]
    assert len(summaries) == COMPACT_FROM  # each host's line printed once, above the status line


def test_apt_progress_updates_in_place_on_a_terminal_and_now_and_then_elsewhere(monkeypatch):
    from provision import report

    out = Terminal()
    reporter = ConsoleReporter(hosts=1, stream=out)
    for i in range(30):
        reporter.status("h", f"installing 25 packages {i}%: Unpacking p{i}")
    reporter.finish()
    assert "installing 25 packages 29%" in out.getvalue()  # the last state reached the screen
    plain = io.StringIO()
    clock = iter(range(0, 1000, 3))
    monkeypatch.setattr(report.time, "monotonic", lambda: next(clock))
    reporter = ConsoleReporter(hosts=1, stream=plain)
    for i in range(30):  # every 3 s for 90 s: a line every STATUS_EVERY (10 s)
        reporter.status("h", f"downloading {i}%")
    lines = plain.getvalue().splitlines()
    assert lines[0] == "  … downloading 0%" and 8 <= len(lines) <= 10, lines
    assert "\x1b" not in plain.getvalue()


def test_a_few_hosts_show_every_step():
    out = io.StringIO()
    reporter = ConsoleReporter(hosts=2, stream=out)
    drive(reporter, 2)
    text = out.getvalue()
    assert "[h00] connecting…" in text and "[h01]   … apt-get install" in text and "set JAVA_HOME" in text


def test_apply_reports_what_was_done_and_plan_what_would_be():
    assert Change("do something new").as_done == "do something new (done)"  # a change without its wording
    assert Change("x", done="did x").as_done == "did x"
    for mode, word in ((Mode.APPLY, "installed openjdk-17-jdk-headless"),
                       (Mode.PLAN, "apt-get install openjdk-17-jdk-headless")):
        out = io.StringIO()
        reporter = ConsoleReporter(stream=out)
        reporter.resource_done("h", ResourceResult("jdk", "jdk", "OpenJDK", Status.CHANGED,
                                                   changes=[Change("apt-get install openjdk-17-jdk-headless",
                                                                   "not installed",
                                                                   done="installed openjdk-17-jdk-headless")]),
                               mode)
        assert f"OpenJDK: {word}\n" in out.getvalue(), out.getvalue()
