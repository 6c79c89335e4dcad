"""Ctrl-C and SIGTERM during a run: stop cleanly, never in the middle of dpkg.

The first signal asks every host to stop after its current step (a running apt-get is left to
finish: the commands run in sessions of their own, so the terminal's Ctrl-C does not reach them),
and ends at once what changes nothing: a template being rendered, a wait for a target's lock;
the run then writes its journal, prints what was done and what was not run, and exits 130. A
second signal says what stopping at once would break and asks for a third; the third stops the
running commands and exits 130 at once (the next apply repairs an interrupted dpkg with
``dpkg --configure -a``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from provision import render
from provision.connections.local import stop_children
from provision.errors import Interrupted

EXIT_CODE = Interrupted.exit_code  # interrupted, by SIGINT or SIGTERM alike


class Interrupts:
    def __init__(self, stop: threading.Event, echo: Callable[[str], None],
                 running: Callable[[], dict[str, str]]) -> None:
        self.stop = stop
        self.echo = echo
        self.running = running  # host → what it is doing now
        self.count = 0
        self.first_at = 0.0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        now = self.running()
        doing = "; ".join(f"{h}: {what}" for h, what in sorted(now.items())) or "nothing"
        if self.count == 1:
            self.stop.set()
            render.stop_renders()
            self.first_at = time.monotonic()
            self.echo(f"provision: {signal.Signals(signum).name}: stopping after the current step "
                      f"(running: {doing}); press Ctrl-C again to see what stopping now would break")
        elif self.count == 2:
            self.echo(f"provision: stopping now would cut these short: {doing}. An apt-get or dpkg cut "
                      "short leaves packages half-installed (the next apply repairs that with dpkg "
                      "--configure -a) and a half-done step is not in the journal. Press Ctrl-C once "
                      "more to stop now anyway.")
        else:
            stopped = stop_children()
            self.echo(f"provision: stopped now ({stopped} running command(s) ended)")
            sys.stderr.flush()
            os._exit(EXIT_CODE)


@contextmanager
def handled(stop: threading.Event, echo: Callable[[str], None],
            running: Callable[[], dict[str, str]]) -> Iterator[Interrupts]:
    """SIGINT and SIGTERM handled as above while the block runs (main thread only)."""
    handler = Interrupts(stop, echo, running)
    if threading.current_thread() is not threading.main_thread():
        yield handler
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield handler
    finally:
        render.stop_renders(False)
        for s, h in old.items():
            signal.signal(s, h)
