"""Output: live progress and results on stderr for people, one JSON document on stdout for tools."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

import click

from provision import __version__, colour
from provision.facts import HostFacts
from provision.plan import Mode, Restart, Status
from provision.results import HostResult, ResourceResult
from provision.sanitise import Line, Styled, render_lines, shown

if TYPE_CHECKING:
    from rich.text import Text

_STATUS_COLOUR = {Status.OK: "green", Status.CHANGED: "yellow", Status.SKIPPED: "cyan", Status.FAILED: "red"}
_PLAN_WORD = {Status.CHANGED: "change", Status.OK: "ok", Status.SKIPPED: "skip", Status.FAILED: "failed"}


COMPACT_FROM = 6  # hosts from which each host gets one line (its summary), not its every step
STATUS_EVERY = 10.0  # seconds between two plain status lines of one host (not a terminal)


class _Live:
    """The lines that update in place at the bottom of a terminal (rich's Live display); other
    output is printed above them."""

    def __init__(self, stream: TextIO, colour: bool) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, force_terminal=True, no_color=not colour, highlight=False,
                               soft_wrap=False)
        self.lines: list[str] = []
        self.live = Live(console=self.console, get_renderable=self._render, transient=True,
                         refresh_per_second=8, redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def _render(self) -> Text:
        from rich.text import Text

        width = max(20, self.console.width - 1)
        return Text("\n".join(shown(line, lines=False)[:width] for line in self.lines))

    def print(self, text: str) -> None:
        """A line already rendered (escaped, in provision's own colour): rich gets ``Text``, never
        markup, so a ``[link=…]`` from a target stays text."""
        from rich.text import Text

        self.console.print(Text.from_ansi(text), soft_wrap=True)

    def show(self, lines: list[str]) -> None:
        self.lines = lines
        self.live.refresh()

    def stop(self) -> None:
        self.lines = []
        self.live.stop()


class ConsoleReporter:
    """Human output on stderr. With several hosts every line carries the host's name; with many
    (``hosts`` >= COMPACT_FROM, unless -v) each host prints one line when it is done, failures
    in full, and a terminal shows one status line (hosts done, failed, what the others are doing)
    that updates in place."""

    def __init__(self, *, multi: bool = False, diff: bool = False, verbose: int = 0,
                 stream: TextIO | None = None, quiet: bool = False, hosts: int = 1,
                 restarts: bool = True) -> None:
        self.multi = multi or hosts > 1
        self.restarts = restarts  # False: a run whose target restarts only as what it makes (an image)
        self.diff = diff
        self.verbose = verbose
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.colour = colour.enabled(self.stream)
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"
        self.live: _Live | None = None  # started with the first thing to show in place
        self.statuses: dict[str, str] = {}  # host → its long step's live state
        self._said: dict[str, float] = {}  # host → when its last plain status line was printed
        self.lock = threading.Lock()
        self.doing: dict[str, str] = {}  # host → the step it is on (for an interrupt's message)
        self.compact = hosts >= COMPACT_FROM and not verbose
        self.total = hosts
        self.done = 0
        self.failed = 0

    def running(self) -> dict[str, str]:
        with self.lock:
            return dict(self.doing)

    def _emit(self, host: str, text: str | list[Line]) -> None:
        """The one way reporter output reaches the stream: each line escaped (see sanitise)."""
        prefix = f"[{host}] " if self.multi else ""
        lines = text.removesuffix("\n").split("\n") if isinstance(text, str) else text  # a \r is shown
        with self.lock:
            for line in render_lines([[prefix, *([line] if isinstance(line, str) else line)] for line in lines],
                                     self.colour):
                if self.live is not None:
                    self.live.print(line)
                else:
                    click.echo(line, file=self.stream, color=self.colour)
            self._show_status()

    def _status_lines(self) -> list[str]:
        if self.quiet or not self.tty:
            return []
        if self.compact:
            if self.done >= self.total:
                return []
            running = [f"{h} ({(self.statuses.get(h) or what)[:40]})" for h, what in sorted(self.doing.items())][:3]
            more = len(self.doing) - len(running)
            return [f"[{self.done}/{self.total} hosts done, {self.failed} failed] "
                    + ("running: " + ", ".join(running) + (f" and {more} more" if more > 0 else "")
                       if running else "")]
        return [f"{'[' + h + '] ' if self.multi else ''}  … {s}" for h, s in sorted(self.statuses.items())]

    def _show_status(self) -> None:
        lines = self._status_lines()
        if lines and self.live is None:
            self.live = _Live(self.stream, self.colour)
        if self.live is not None:
            self.live.show(lines)

    def _refresh(self) -> None:
        with self.lock:
            self._show_status()

    def finish(self) -> None:
        """Take the lines shown in place off the screen (the run is over)."""
        with self.lock:
            if self.live is not None:
                self.live.stop()
                self.live = None

    def status(self, host: str, message: str) -> None:
        """A long step's state (apt's progress): in place on a terminal, else a line now and then."""
        if self.quiet:
            return
        if self.tty:
            with self.lock:
                self.statuses[host] = message
            self._refresh()
            return
        now = time.monotonic()
        if self.compact or now - self._said.get(host, -1e9) < STATUS_EVERY:
            return
        self._said[host] = now
        self._emit(host, f"  … {message}")

    @staticmethod
    def _style(text: str, status: Status) -> Styled:
        return Styled(text, _STATUS_COLOUR.get(status), status == Status.FAILED)

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
        name = "" if self.multi else f"{host}: "
        self._emit(host, f"{name}{facts.headline()}")

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
            self.statuses.pop(host, None)
        if (self.quiet or self.compact) and r.status != Status.FAILED:
            return
        word = str(r.status) if mode == Mode.APPLY else _PLAN_WORD[r.status]
        head: list[str | Styled] = ["  ", self._style(f"{word:<8}", r.status), f" {r.label}"]
        lines: list[Line] = []
        if r.status == Status.CHANGED:
            for c in r.changes:
                summary = c.as_done if mode == Mode.APPLY else c.summary
                lines.append([*head, f": {summary}"] if not lines else f"{' ' * 11}{summary}")
                if c.reason:
                    lines.append(f"{' ' * 13}because {c.reason}")
                if c.diff and self.diff:
                    lines.extend([" " * 13, colour.diff_style(d)] for d in c.diff.rstrip("\n").splitlines())
        else:
            lines.append([*head, f": {r.reason}"] if r.reason else head)
        for note in r.notes:
            lines.append(f"{' ' * 13}note: {note}")
        self._emit(host, lines)

    def host_done(self, host: str, result: HostResult, mode: Mode) -> None:
        with self.lock:
            self.doing.pop(host, None)
            self.statuses.pop(host, None)
            self.done += 1
            self.failed += bool(result.failed)
        verb = "changed" if mode == Mode.APPLY else "to change"
        status = Status.FAILED if result.failed else (Status.CHANGED if result.changed else Status.OK)
        name = "" if self.multi else f"{host}: "
        summary = (f"{name}{result.changed} {verb}, {result.count(Status.OK)} ok, "
                   f"{result.count(Status.SKIPPED)} skipped, {result.count(Status.FAILED)} failed "
                   f"({result.duration:.1f}s)")
        if result.unreachable or (result.failed and not result.resources):
            summary = f"{name}{'unreachable' if result.unreachable else 'failed'}: {result.error}"
        self._emit(host, [[self._style(summary, status)]])
        if result.restart_required and self.restarts:
            self._emit(host, restart_text(host, result.restart_required, mode))

    def table(self, results: list[HostResult]) -> None:
        """The final per-host table (several hosts)."""
        width = max(4, *(len(r.host) for r in results))
        rows = [f"{'host':<{width}}  ok  changed  skipped  failed  unreachable   time"]
        for r in results:
            failed = r.count(Status.FAILED) or (1 if r.failed and not r.unreachable else 0)
            rows.append(f"{r.host:<{width}}  {r.count(Status.OK):>2}  {r.changed:>7}  {r.count(Status.SKIPPED):>7}"
                        f"  {failed:>6}  {('yes' if r.unreachable else 'no'):>11}  {r.duration:5.1f}s")
        self.finish()
        with self.lock:
            click.echo("\n".join(render_lines(rows, False)), file=self.stream)


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
    lines += [f"  {note}" for note in (restart.hint, *restart.notes) if note]
    return "\n".join(lines)


def document(command: str, playbook: str | None, mode: Mode, results: list[HostResult],
             extra: dict[str, object] | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"provision": __version__, "command": command, "playbook": playbook,
                           "mode": str(mode), "ok": not any(r.failed for r in results),
                           "changed": sum(r.changed for r in results),
                           "hosts": [r.as_dict() for r in results]}
    if extra:
        doc.update(extra)
    return doc


def print_json(doc: dict[str, object]) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))
