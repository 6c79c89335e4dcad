"""The user's own testinfra test files (``provision verify --tests DIR``), run in-process by
pytest against the same hosts and connections as the built-in checks.

Test functions take testinfra's usual ``host`` fixture; here it is parametrized over the
verified hosts and backed by our connections (host keys, sudo), so a file written for
``pytest --hosts=…`` runs unchanged. Each test is one check per host in the report and the JUnit
file, named ``tests: <file>::<test>``. pytest's own output goes to stderr (stdout is for --json).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from provision.verify.checks import Probe
from provision.verify.results import FAILED, PASSED, SKIPPED, CheckResult


def _message(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        text = crash.message
    elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:  # skip: (file, line, reason)
        text = str(report.longrepr[2])
    else:
        text = str(report.longrepr or "")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines[:3])[:300]


class _Plugin:
    def __init__(self, probes: dict[str, Probe], directory: str) -> None:
        self.probes = probes
        self.directory = directory
        self.results: dict[str, list[CheckResult]] = {h: [] for h in probes}
        self._host_of: dict[str, str | None] = {}
        self._started: dict[str, float] = {}

    @pytest.fixture
    def host(self, request: pytest.FixtureRequest) -> Any:
        return self.probes[request.param].host

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "host" in metafunc.fixturenames:
            names = list(self.probes)
            metafunc.parametrize("host", names, indirect=True, ids=names)

    def _name(self, item: pytest.Item, host: str | None) -> str:
        node = item.nodeid
        if host is not None:
            for a, b in ((f"[{host}]", ""), (f"-{host}]", "]"), (f"[{host}-", "["), (f"-{host}-", "-")):
                if a in node:
                    node = node.replace(a, b, 1)
                    break
        return f"tests: {node}"

    def _add(self, host: str | None, result: CheckResult) -> None:
        for h in ([host] if host is not None else list(self.results)):
            self.results[h].append(CheckResult(result.name, result.resource, result.status,
                                               result.message, result.duration))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("host") if callspec is not None else None
        if report.when == "setup":
            self._started[item.nodeid] = time.monotonic()
        record = (report.when == "call" or (report.when == "setup" and not report.passed)
                  or (report.when == "teardown" and report.failed))
        if not record:
            return
        status = PASSED if report.passed else SKIPPED if report.skipped else FAILED
        message = "" if report.passed else _message(report)
        if report.when == "teardown":
            message = f"teardown: {message}"
        self._add(host, CheckResult(self._name(item, host), "tests", status, message,
                                    time.monotonic() - self._started.get(item.nodeid, time.monotonic())))

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self._add(None, CheckResult(f"tests: {report.nodeid or self.directory} can be collected",
                                        "tests", FAILED, _message(report)))


def run_user_tests(directory: str, probes: dict[str, Probe]) -> dict[str, list[CheckResult]]:
    """Run the test files in ``directory`` against every host; results per host."""
    root = str(Path(directory).resolve())
    plugin = _Plugin(probes, directory)
    # testinfra's own plugin (entry point "pytest11.testinfra") would bring its own `host` fixture,
    # with its own backends: blocked, so `host` is ours. No ini file of the caller's is read.
    args = [root, "--rootdir", root, "-c", os.devnull, "-p", "no:pytest11.testinfra",
            "-p", "no:cacheprovider", "-q", "--no-header", "--no-summary",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]  # testinfra is imported already
    printed = io.StringIO()  # pytest's own progress dots and report: results come through the plugin
    with contextlib.redirect_stdout(printed):
        rc = pytest.main(args, plugins=[plugin])
    if rc == pytest.ExitCode.NO_TESTS_COLLECTED:
        plugin._add(None, CheckResult(f"tests: {directory} has tests", "tests", FAILED,
                                      f"no test files (test_*.py) with test functions in {directory}"))
    elif rc in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR) \
            and not any(plugin.results.values()):
        tail = " | ".join(line for line in printed.getvalue().splitlines()[-5:] if line.strip())
        plugin._add(None, CheckResult(f"tests: {directory} runs", "tests", FAILED,
                                      f"pytest stopped (exit {int(rc)}): {tail[-600:]}"))
    return plugin.results
