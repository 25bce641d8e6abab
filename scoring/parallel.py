"""Side-by-side work for the scoring run, on as many threads as the process has cores.

What the run spends its time in (numpy over whole columns, tree histograms and walks,
matrix products, SQLite) runs without the GIL, so threads share the cores; what they do
is independent of how many there are, so results do not depend on the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def single_thread() -> Any:
    """Limit OpenMP / BLAS thread pools to one thread for the duration of a block:
    threads in gradient boosting slow down many times over when another process holds
    a core, and training must stay predictable on a small shared machine. The limit is
    per thread for OpenMP: a worker thread sets its own (`ordered_map` does)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def single_threaded(work: Callable[..., R]) -> Callable[..., R]:
    """`work`, run single-threaded in OpenMP on whichever thread calls it: the limit is
    per thread, so a worker thread does not inherit its caller's."""

    def limited(*args: Any) -> R:
        with single_thread():
            return work(*args)

    return limited


def ordered_map(work: Callable[[T], R], items: Sequence[T], *, name: str) -> list[R]:
    """`[work(item) for item in items]`, on up to one thread per core (`name` the threads'
    prefix), each single-threaded in OpenMP; the first exception raised is raised here."""
    threads = min(len(items), cores())
    if threads <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name) as pool:
        return list(pool.map(single_threaded(work), items))


@contextmanager
def beside(work: Callable[[], R], *, name: str) -> Iterator[Future[R]]:
    """Run `work()` on a thread of its own (`name`), single-threaded in OpenMP, while the
    block runs; the block gets its Future (`.result()` waits for it, and raises what it
    raised). Leaving the block waits for it too."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        yield pool.submit(single_threaded(work))
