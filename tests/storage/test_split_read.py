"""storage.split_read: one ordered read in parts, the later parts read by helper processes
(real ones, on a real SQLite file) in read transactions on the same state as this one."""

from __future__ import annotations

import itertools
import sqlite3

import numpy as np
import pytest

from storage import split_read
from storage.split_read import Part, read_floats, read_transaction
from storage.store import Store

ROWS = 3_000


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "split.db") as store:
        with store.transaction() as conn:
            conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, a REAL, b REAL)")
            conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                             [(k, k * 0.5, None if k % 7 == 0 else -k) for k in range(ROWS)])
        yield store


def _parts(bounds: list[int]) -> list[Part]:
    return [Part("SELECT k, a, b FROM t WHERE k >= ? AND k < ? ORDER BY k", [lo, hi], hi - lo)
            for lo, hi in itertools.pairwise(bounds)]


@pytest.fixture
def read_here(monkeypatch):
    """The parts read in this process (the others were read by helpers)."""
    parts = []
    fetch = split_read._fetch
    monkeypatch.setattr(split_read, "_fetch", lambda conn, part, out: parts.append(part.params)
                        or fetch(conn, part, out))
    return parts


def _expected(rows: int = ROWS) -> np.ndarray:
    k = np.arange(rows, dtype="float64")
    return np.column_stack([k, k * 0.5, np.where(k % 7 == 0, np.nan, -k)])


def test_parts_read_by_helpers_equal_one_read_here(store, read_here):
    with read_transaction(store, helpers=2) as helpers:
        assert helpers.count == 2
        assert all(p.is_alive() for p in helpers.processes)
        matrix = read_floats(store, _parts([0, 1_000, 1_800, ROWS]), 3, helpers)
    assert read_here == [[0, 1_000]]
    assert matrix.flags.f_contiguous
    np.testing.assert_array_equal(matrix, _expected())
    with read_transaction(store, helpers=0) as alone:
        assert alone.count == 0
        np.testing.assert_array_equal(read_floats(store, _parts([0, ROWS]), 3, alone),
                                      _expected())
    assert not store.conn.in_transaction
    assert not helpers.processes          # the helpers ended with the block


def test_a_commit_after_the_start_is_seen_by_no_part(store, tmp_path, read_here):
    """Helpers start while the write lock is held: a writer that commits once they have
    started changes what no part reads, neither here nor in a helper (an update keeps
    the row count, so a helper that saw it would not be caught and read again here)."""
    with read_transaction(store, helpers=1) as helpers:
        writer = sqlite3.connect(tmp_path / "split.db", isolation_level=None, timeout=5)
        writer.execute("UPDATE t SET a = -1")
        writer.close()
        matrix = read_floats(store, _parts([0, 1_500, ROWS]), 3, helpers)
    assert read_here == [[0, 1_500]]
    np.testing.assert_array_equal(matrix, _expected())
    assert (store.conn.execute("SELECT a FROM t WHERE k = 2999").fetchone()[0]) == -1


def test_a_busy_writer_means_reading_alone(store, tmp_path, monkeypatch):
    monkeypatch.setattr(split_read, "LOCK_WAIT_S", 0.05)
    writer = sqlite3.connect(tmp_path / "split.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")   # an ingest at work
    try:
        with read_transaction(store, helpers=1) as helpers:
            assert helpers.count == 0
            matrix = read_floats(store, _parts([0, ROWS]), 3, helpers)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    np.testing.assert_array_equal(matrix, _expected())


def test_a_part_whose_helper_dies_is_read_here(store, read_here):
    with read_transaction(store, helpers=1) as helpers:
        helpers.processes[0].kill()
        helpers.processes[0].join()
        matrix = read_floats(store, _parts([0, 1_000, ROWS]), 3, helpers)
    assert read_here == [[0, 1_000], [1_000, ROWS]]
    np.testing.assert_array_equal(matrix, _expected())


def test_a_part_that_fails_in_its_helper_fails_here_with_the_same_error(store, capfd):
    with read_transaction(store, helpers=1) as helpers, pytest.raises(
            sqlite3.OperationalError, match="no such column: c"):
        read_floats(store, [*_parts([0, 1_000]), Part("SELECT k, a, c FROM t", [], 2_000)],
                    3, helpers)
    assert "Traceback" not in capfd.readouterr().err    # the helper ended quietly


def test_a_part_that_returns_other_rows_than_counted_is_an_error(store):
    with read_transaction(store, helpers=0) as helpers, pytest.raises(ValueError, match="rows"):
        read_floats(store, [Part("SELECT k, a, b FROM t", [], ROWS - 1)], 3, helpers)


def test_an_in_memory_store_reads_alone():
    with Store() as store, read_transaction(store, helpers=2) as helpers:
        assert helpers.count == 0
