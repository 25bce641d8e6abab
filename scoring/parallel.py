"""Side-by-side work for the scoring run, on as many threads as the process has cores.

What the run spends its time in (numpy over whole columns, tree histograms and walks,
matrix products, SQLite) runs without the GIL, so threads share the cores; what they do
is independent of how many there are, so results do not depend on the machine.
Work that holds the GIL much of the time (per-account Python, a model's training with
its tree growing in Python) goes to a forked child process instead (`in_child`), where
the process allows it.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

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


class Pending(Generic[R]):
    """The result of work started by `in_child`: `.result()` gives it."""

    def __init__(self, work: Callable[[], R]) -> None:
        self._work = work
        self._pipe: Any = None
        self._pid = 0

    def _start(self) -> None:
        """Fork a child that runs the work and sends back its pickled result, when this
        process has no other thread (a fork copies only the calling thread: a lock another
        thread holds would stay locked in the child for ever), more than one core, and
        twice the memory it holds available: every page the child or this process writes
        from then on is copied, and the child allocates in the freed memory this process
        keeps (`bot/allocator.py`). At 1M accounts the parent held 9.7 GB when it forked,
        with 12 GB available, and the machine went to 18.8 GB in use."""
        if not hasattr(os, "fork") or threading.active_count() > 1 or cores() < 2:
            return
        if not _memory_for_a_copy():
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:   # the child: no finalizers, no atexit, no SQLite handle of the parent's
            os.close(read)
            try:
                with os.fdopen(write, "wb") as out:
                    pickle.dump(self._work(), out, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            except BaseException:   # noqa: BLE001
                code = 1            # the parent runs the work itself, and raises there
            finally:
                os._exit(code)
        os.close(write)
        self._pipe, self._pid = os.fdopen(read, "rb"), pid

    @property
    def forked(self) -> bool:
        """Whether a child process was started for the work (else `.result()` runs it)."""
        return self._pid != 0

    def result(self) -> R:
        """The child's result; the work run here when no child ran or it failed (so an
        error is raised here, as if it had run here from the start)."""
        if self._pipe is not None:
            try:
                with self._pipe:
                    data = self._pipe.read()
            finally:
                _, status = os.waitpid(self._pid, 0)
                self._pipe = None
            if os.waitstatus_to_exitcode(status) == 0:
                return pickle.loads(data)
        return self._work()

    def _abandon(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pipe = None


def _memory_for_a_copy() -> bool:
    """Whether the machine has twice the memory this process holds available (Linux's
    /proc; elsewhere: no)."""
    try:
        with open("/proc/self/statm") as fh:
            resident = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/meminfo") as fh:
            available = next(int(line.split()[1]) * 1024 for line in fh
                             if line.startswith("MemAvailable:"))
    except (OSError, ValueError, StopIteration):
        return False
    return available >= 2 * resident


@contextmanager
def in_child(work: Callable[[], R]) -> Iterator[Pending[R]]:
    """Run `work()` in a forked child process while the block runs (see `Pending._start`
    for when), so work that holds the GIL runs beside this process's own; its result
    must pickle. `.result()` inside the block gives it. A child still running when the
    block ends (it raised) is stopped."""
    pending = Pending(work)
    pending._start()
    try:
        yield pending
    finally:
        pending._abandon()
