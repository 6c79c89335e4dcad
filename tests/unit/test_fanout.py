"""provision.fanout: the one fan-out of every per-host command (bounded, in order, stoppable)."""

from __future__ import annotations

import threading
import time

import pytest

from provision.fanout import fan_out


def test_at_most_forks_at_once_and_results_in_order() -> None:
    lock = threading.Lock()
    running, peak = 0, 0
    meet = threading.Barrier(3, timeout=10)  # the first three must run together (forks=3)

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if i < 3:
            meet.wait()
        time.sleep(0.01 * (8 - i))  # the later items finish first
        with lock:
            running -= 1
        return i * 10

    seen: list[int] = []
    assert fan_out(list(range(8)), work, 3, done=lambda i, r: seen.append(r)) == [i * 10 for i in range(8)]
    assert peak == 3
    assert seen == [i * 10 for i in range(8)]  # done: on the caller's thread, in the items' order


def test_done_sees_each_result_as_soon_as_the_earlier_ones_are_in() -> None:
    release = threading.Event()
    shown: list[str] = []

    def work(i: int) -> str:
        if i == 1:
            assert release.wait(10)
        return f"h{i}"

    def done(i: int, r: str) -> None:
        shown.append(r)
        if i == 0:  # h0 is shown while h1 is still working
            release.set()

    assert fan_out([0, 1, 2], work, 3, done=done) == ["h0", "h1", "h2"]
    assert shown == ["h0", "h1", "h2"]


def test_a_stop_starts_no_further_item() -> None:
    stop = threading.Event()
    ran: list[int] = []

    def work(i: int) -> str:
        ran.append(i)
        stop.set()  # the first item is interrupted: the queued ones are not started
        return "ran"

    out = fan_out([0, 1, 2, 3], work, 1, stop=stop, not_run=lambda i: "not run")
    assert out == ["ran", "not run", "not run", "not run"] and ran == [0]


def test_an_error_is_raised_after_the_running_items_are_done() -> None:
    finished: list[int] = []
    started = threading.Barrier(2, timeout=10)

    def work(i: int) -> int:
        started.wait()
        if i == 0:
            raise ValueError("boom")
        time.sleep(0.2)
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="boom"):
        fan_out([0, 1], work, 2)
    assert finished == [1]  # the other host was not cut short


def test_one_item_runs_on_the_calling_thread() -> None:
    assert fan_out(["x"], lambda _: threading.current_thread() is threading.main_thread(), 10) == [True]
    assert fan_out([], lambda _: 1, 10) == []
