"""The one fan-out of every per-host command: each item (a target) handled by a bounded pool.

``apply``, ``plan``, ``verify``, ``facts``, ``doctor``, ``history`` and ``rollback`` all hand
their per-host function to ``fan_out``: at most ``forks`` hosts run at once, the results come back
in the targets' order whatever order the hosts finish in, and ``done`` sees each result in that
order as soon as every earlier host is done too (output in host order, shown as it can be).

Stopping: a host not yet started when ``stop`` is set (the first Ctrl-C of a run, see
provision.interrupts) is not started; ``not_run`` makes its result. The main thread waits in
short slices, so it takes signals while the hosts work. A KeyboardInterrupt there (a command that
leaves Ctrl-C to Python: it stops at once) starts no further host and is raised at once; an
error raised by the per-host function is raised once the hosts already running are done (none
is cut short by another's failure).

This module imports nothing of provision: every layer can use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WAIT_SLICE = 0.2  # seconds the main thread waits at a time (signal handlers run between slices)


def fan_out(items: Sequence[T], work: Callable[[T], R], forks: int, *,
            stop: threading.Event | None = None, not_run: Callable[[T], R] | None = None,
            done: Callable[[T, R], None] | None = None, name: str = "host") -> list[R]:
    """``work(item)`` for every item, ``forks`` at once; the results in the items' order.

    With ``stop`` set before an item starts, its result is ``not_run(item)`` (without
    ``not_run``, ``work`` runs anyway: it is then the one to look at ``stop``). ``done(item,
    result)`` is called on the calling thread, in the items' order. One item runs on the calling
    thread itself (no pool: nothing to overlap).
    """
    def one(item: T) -> R:
        if stop is not None and stop.is_set() and not_run is not None:
            return not_run(item)
        return work(item)

    if len(items) <= 1:
        results = [one(item) for item in items]
        if done is not None:
            for item, result in zip(items, results, strict=True):
                done(item, result)
        return results
    pool = ThreadPoolExecutor(max_workers=max(1, min(forks, len(items))), thread_name_prefix=name)
    futures = [pool.submit(one, item) for item in items]
    try:
        results = _in_order(items, futures, done)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)  # the running hosts end with the process
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # let the running hosts finish first
        raise
    pool.shutdown(wait=True)
    return results


def _in_order(items: Sequence[T], futures: list[Future[R]], done: Callable[[T, R], None] | None) -> list[R]:
    """Every future's result in order; ``done`` for each as soon as all before it are done."""
    results: list[R] = []
    for item, future in zip(items, futures, strict=True):
        while not future.done():  # in slices: the main thread takes signals while it waits
            wait([future], timeout=WAIT_SLICE, return_when=FIRST_COMPLETED)
        result = future.result()
        results.append(result)
        if done is not None:
            done(item, result)
    return results
