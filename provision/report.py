"""Output: live progress and results on stderr for people, one JSON document on stdout for tools."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from typing import Any, TextIO

import click

from provision import __version__
from provision.engine import HostResult, ResourceResult
from provision.facts import HostFacts
from provision.plan import Mode, Restart, Status

_STATUS_COLOUR = {Status.OK: "green", Status.CHANGED: "yellow", Status.SKIPPED: "cyan", Status.FAILED: "red"}
_PLAN_WORD = {Status.CHANGED: "change", Status.OK: "ok", Status.SKIPPED: "skip", Status.FAILED: "failed"}


COMPACT_FROM = 6  # hosts from which each host gets one line (its summary), not its every step


class ConsoleReporter:
    """Human output on stderr. With several hosts every line carries the host's name; with many
    (``hosts`` >= COMPACT_FROM, unless -v) each host prints one line when it is done, failures
    in full, and a terminal shows one status line (hosts done, failed, what the others are doing)
    that updates in place."""

    def __init__(self, *, multi: bool = False, diff: bool = False, verbose: int = 0,
                 stream: TextIO | None = None, quiet: bool = False, hosts: int = 1) -> None:
        self.multi = multi or hosts > 1
        self.diff = diff
        self.verbose = verbose
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.colour = self.stream.isatty()
        self.lock = threading.Lock()
        self.doing: dict[str, str] = {}  # host → the step it is on (for an interrupt's message)
        self.compact = hosts >= COMPACT_FROM and not verbose
        self.total = hosts
        self.done = 0
        self.failed = 0
        self._status = ""  # the status line on screen (terminal only)

    def running(self) -> dict[str, str]:
        with self.lock:
            return dict(self.doing)

    def _emit(self, host: str, text: str) -> None:
        prefix = f"[{host}] " if self.multi else ""
        with self.lock:
            self._clear_status()
            for line in text.splitlines() or [""]:
                click.echo(prefix + line, file=self.stream, color=self.colour)
            self._show_status()

    def _clear_status(self) -> None:
        if self._status:
            self.stream.write("\r\033[K")
            self._status = ""

    def _show_status(self) -> None:
        if not (self.compact and self.colour and not self.quiet) or self.done >= self.total:
            return
        running = [f"{h} ({what[:40]})" for h, what in sorted(self.doing.items())][:3]
        more = len(self.doing) - len(running)
        line = (f"[{self.done}/{self.total} hosts done, {self.failed} failed] "
                + ("running: " + ", ".join(running) + (f" and {more} more" if more > 0 else "") if running else ""))
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self._status = line[:width]
        self.stream.write(self._status)
        self.stream.flush()

    def _refresh(self) -> None:
        with self.lock:
            self._clear_status()
            self._show_status()

    def _style(self, text: str, status: Status) -> str:
        if not self.colour:
            return text
        return click.style(text, fg=_STATUS_COLOUR.get(status), bold=status == Status.FAILED)

    def host_started(self, host: str) -> None:
        if self.compact:
            with self.lock:
                self.doing[host] = "connecting"
            self._refresh()
        elif self.multi and not self.quiet:
            self._emit(host, "connecting…")

    def facts_gathered(self, host: str, facts: HostFacts) -> None:
        if self.quiet or self.compact:
            return
        wsl = f", WSL{facts.wsl.version}" if facts.wsl.version else ""
        self._emit(host, f"{host}: {facts.os.label} {facts.arch}, kernel {facts.kernel}, "
                         f"PID 1 {facts.pid1 or '?'}{wsl}")

    def progress(self, host: str, message: str) -> None:
        with self.lock:
            self.doing[host] = message
        if self.compact:
            self._refresh()
        elif not self.quiet:
            self._emit(host, f"  … {message}")

    def output(self, host: str, line: str) -> None:
        if self.verbose and not self.quiet:
            self._emit(host, f"    | {line}")

    def resource_done(self, host: str, r: ResourceResult, mode: Mode) -> None:
        with self.lock:
            self.doing.pop(host, None)
        if (self.quiet or self.compact) and r.status != Status.FAILED:
            return
        word = str(r.status) if mode == Mode.APPLY else _PLAN_WORD[r.status]
        head = f"  {self._style(f'{word:<8}', r.status)} {r.label}"
        lines: list[str] = []
        if r.status == Status.CHANGED:
            for c in r.changes:
                lines.append(f"{head}: {c.summary}" if not lines else f"{' ' * 11}{c.summary}")
                if c.reason:
                    lines.append(f"{' ' * 13}because {c.reason}")
                if c.diff and (self.diff or mode != Mode.APPLY):
                    lines.extend(" " * 13 + d for d in c.diff.rstrip("\n").splitlines())
        else:
            lines.append(f"{head}: {r.reason}" if r.reason else head)
        for note in r.notes:
            lines.append(f"{' ' * 13}note: {note}")
        self._emit(host, "\n".join(lines))

    def host_done(self, host: str, result: HostResult, mode: Mode) -> None:
        with self.lock:
            self.doing.pop(host, None)
            self.done += 1
            self.failed += bool(result.failed)
        verb = "changed" if mode == Mode.APPLY else "to change"
        status = Status.FAILED if result.failed else (Status.CHANGED if result.changed else Status.OK)
        summary = (f"{host}: {result.changed} {verb}, {result.count(Status.OK)} ok, "
                   f"{result.count(Status.SKIPPED)} skipped, {result.count(Status.FAILED)} failed "
                   f"({result.duration:.1f}s)")
        if result.unreachable or (result.failed and not result.resources):
            summary = f"{host}: {'unreachable' if result.unreachable else 'failed'}: {result.error}"
        self._emit(host, self._style(summary, status))
        if result.restart_required:
            self._emit(host, restart_text(host, result.restart_required, mode))

    def table(self, results: list[HostResult]) -> None:
        """The final per-host table (several hosts)."""
        width = max(len(r.host) for r in results)
        rows = [f"{'host':<{width}}  changed  failed  unreachable  time"]
        for r in results:
            rows.append(f"{r.host:<{width}}  {r.changed:>7}  {('yes' if r.failed and not r.unreachable else 'no'):>6}"
                        f"  {('yes' if r.unreachable else 'no'):>11}  {r.duration:5.1f}s")
        with self.lock:
            self._clear_status()
            click.echo("\n".join(rows), file=self.stream)


def restart_text(host: str, restart: Restart, mode: Mode) -> str:
    """The "restart required" block printed at the end of a host's output."""
    if restart.pending:
        head = f"{host}: restart required (pending: made earlier, not restarted since): {restart.reason}"
    elif mode == Mode.APPLY:
        head = f"{host}: restart required: {restart.reason}"
    else:
        head = f"{host}: restart required after this apply: {restart.reason}"
    lines = [head, f"  {restart.where}:"]
    lines += [f"    {c}" for c in restart.commands]
    lines += [f"  {note}" for note in restart.notes]
    return "\n".join(lines)


def document(command: str, playbook: str | None, mode: Mode, results: list[HostResult],
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"provision": __version__, "command": command, "playbook": playbook,
                           "mode": str(mode), "ok": not any(r.failed for r in results),
                           "changed": sum(r.changed for r in results),
                           "hosts": [r.as_dict() for r in results]}
    if extra:
        doc.update(extra)
    return doc


def print_json(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))
