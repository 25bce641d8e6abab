"""One big ordered read of numbers, in parts read side by side by helper processes.

Reading a million snapshot rows is mostly the sqlite3 module making a Python float for
every value (SQLite itself is a quarter of it), which holds the GIL: threads cannot
share it, processes can. `read_transaction` opens a read transaction here and in up to
`helpers` helper processes, all on the same state of the store; `read_floats` then reads
a query's parts (ranges of its rows), the first here and each other one in a helper
that sends its rows back as raw float64 blocks through a pipe.

Same state: while the helpers start their transactions this thread holds the store's
write lock on a connection of its own (`Store.commits_held`), so nothing can commit
between the first read transaction and the last; the lock is held only that long. When
it is not free soon (an ingest is committing) or a helper does not start, the read runs
here alone. A part whose helper fails half-way is read here, in this thread's own read
transaction: the result never depends on whether helpers ran.

Helpers are spawned (not forked: the process has threads and SQLite connections), and
import little (sqlite3, numpy and the store module): one starts in about 0.1 s.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from storage.store import MEMORY, Store

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

LOCK_WAIT_S = 2.0      # how long to wait for the write lock before reading alone
START_WAIT_S = 30.0    # how long a helper may take to start its read transaction
HELPER_ROWS = 65_536   # rows a helper fetches and sends at a time


@dataclass
class Part:
    """A query returning `rows` rows of numbers (NULLs read as NaN)."""

    sql: str
    params: Sequence[Any]
    rows: int


@dataclass
class Helpers:
    """Helper processes in a read transaction on this thread's state of the store."""

    processes: list[BaseProcess] = field(default_factory=list)
    pipes: list[Connection] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.processes)


@contextlib.contextmanager
def read_transaction(store: Store, helpers: int) -> Iterator[Helpers]:
    """A read transaction on this thread's connection and, when `helpers` > 0 and the
    store is a file, up to that many helper processes reading the same state (see the
    module doc); yields them (none when they could not start). The helpers end with
    the block."""
    conn = store.conn
    started = Helpers()
    try:
        if helpers > 0 and store.path != MEMORY:
            with store.commits_held(LOCK_WAIT_S) as held:
                _begin(conn)
                if held:
                    started = _start(store.uri, helpers)
        else:
            _begin(conn)
        yield started
    finally:
        _stop(started)
        if conn.in_transaction:
            conn.execute("COMMIT")


def _begin(conn: sqlite3.Connection) -> None:
    """Begin a read transaction and take its snapshot now (a WAL reader's state is fixed
    by its first read, not by BEGIN)."""
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def _start(uri: str, count: int) -> Helpers:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    started = Helpers()
    try:
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(uri, theirs), daemon=True,
                                      name="outcomes-reader")
            process.start()
            theirs.close()
            started.processes.append(process)
            started.pipes.append(ours)
        for pipe in started.pipes:
            if not pipe.poll(START_WAIT_S) or pipe.recv_bytes() != b"pinned":
                raise RuntimeError("a reader process did not start")
    except (OSError, EOFError, RuntimeError):
        _stop(started)   # read alone (see the module doc)
        return Helpers()
    return started


def _stop(helpers: Helpers) -> None:
    for pipe in helpers.pipes:
        with contextlib.suppress(OSError):
            pipe.send(None)    # nothing (more) to read: a helper still waiting ends
        pipe.close()
    for process in helpers.processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    helpers.processes.clear()
    helpers.pipes.clear()


def read_floats(store: Store, parts: Sequence[Part], columns: int, helpers: Helpers
                ) -> np.ndarray:
    """The rows of `parts`, one part after the other, as one float64 matrix of `columns`
    columns (column-major: a column is contiguous). Part 0 is read here and part i by
    helper i - 1 (there must be no more parts than helpers + 1); a part whose helper fails
    is read here. Raises ValueError when a part does not return its `rows`."""
    if len(parts) > helpers.count + 1:
        raise ValueError(f"{len(parts)} parts for {helpers.count} helpers")
    starts = np.cumsum([0, *(p.rows for p in parts)])
    matrix = np.empty((int(starts[-1]), columns), order="F")
    failed: list[int] = []

    def receive(i: int) -> None:
        if not _received(helpers.pipes[i - 1], parts[i], matrix[starts[i]:starts[i + 1]]):
            failed.append(i)

    threads = []
    for i, part in enumerate(parts[1:], start=1):
        try:
            helpers.pipes[i - 1].send((part.sql, list(part.params)))
        except OSError:      # the helper is gone
            failed.append(i)
            continue
        threads.append(threading.Thread(target=receive, args=(i,), name="outcomes-receive"))
        threads[-1].start()
    try:
        _fetch(store.conn, parts[0], matrix[starts[0]:starts[1]])
    finally:
        for thread in threads:
            thread.join()
    for i in sorted(failed):
        _fetch(store.conn, parts[i], matrix[starts[i]:starts[i + 1]])
    return matrix


def _fetch(conn: sqlite3.Connection, part: Part, out: np.ndarray) -> None:
    """Read `part` on `conn` into `out` (its rows x columns)."""
    cur = conn.execute(part.sql, part.params)
    filled = 0
    while rows := cur.fetchmany(HELPER_ROWS):
        if filled + len(rows) > len(out):
            raise ValueError(f"a read returned more than its {part.rows:,} rows")
        out[filled:filled + len(rows)] = np.array(rows, dtype="float64")
        filled += len(rows)
    if filled != len(out):
        raise ValueError(f"a read returned {filled:,} rows, not {part.rows:,}")


def _received(pipe: Connection, part: Part, out: np.ndarray) -> bool:
    """Copy a helper's blocks into `out`; False when it failed or sent other than
    `part.rows` rows (the part is then read again here)."""
    filled = 0
    try:
        while block := pipe.recv_bytes():
            rows = np.frombuffer(block, dtype="float64").reshape(-1, out.shape[1])
            if filled + len(rows) > len(out):
                return False
            out[filled:filled + len(rows)] = rows
            filled += len(rows)
    except (OSError, EOFError):
        return False
    return filled == len(out)


def _serve(uri: str, pipe: Connection) -> None:
    """A helper process: pin a read transaction, tell the parent, then read the one query
    it sends as blocks of raw float64 rows and an empty block (None instead of a query:
    nothing to read)."""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    try:
        _begin(conn)
        pipe.send_bytes(b"pinned")
        try:
            job = pipe.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            cur = conn.execute(*job)
            while rows := cur.fetchmany(HELPER_ROWS):
                pipe.send_bytes(np.array(rows, dtype="float64"))
            pipe.send_bytes(b"")
        except sqlite3.Error:
            return   # the parent reads the part itself, and reports the error
        except BrokenPipeError:
            return   # the parent stopped listening (it failed or ended early)
    finally:
        conn.close()
