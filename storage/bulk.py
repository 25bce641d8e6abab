"""Bulk writes into a table with secondary indexes.

Inserting a million rows into a table with secondary indexes updates every index row by
row, in an order that is random for each index: far slower than building the index
afterwards from one sort. `indexes_rebuilt` drops a table's secondary indexes (those
created by CREATE INDEX; the primary key stays) for the duration of a block inside a
transaction, and creates them again, from their own stored SQL, when the block ends.
Use it inside a transaction: DDL is transactional in SQLite, so a failure rolls the
indexes back with the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

# Helper threads for an index build's sort (SQLite's own, in C: no GIL). The two indexes
# of 1.6M score rows: 2.1 s without, 1.5-1.7 s with two (one: 1.7 s).
SORT_THREADS = 2


def drop_indexes(conn: sqlite3.Connection, table: str) -> list[str]:
    """Drop `table`'s secondary indexes; returns their SQL, for `create_indexes`."""
    dropped = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        " AND sql IS NOT NULL", (table,)).fetchall()
    for name, _ in dropped:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in dropped]


def create_indexes(conn: sqlite3.Connection, sqls: list[str]) -> None:
    """Create again the indexes `drop_indexes` dropped, each from one sort that SQLite's
    sorter runs on SORT_THREADS helper threads besides the caller's (it sorts runs of
    records on them while the caller's thread merges)."""
    threads = conn.execute("PRAGMA threads").fetchone()[0]
    conn.execute(f"PRAGMA threads = {SORT_THREADS}")
    try:
        for sql in sqls:
            conn.execute(sql)
    finally:
        conn.execute(f"PRAGMA threads = {int(threads)}")


@contextmanager
def indexes_rebuilt(conn: sqlite3.Connection, table: str, *, when: bool = True) -> Iterator[None]:
    """Drop `table`'s secondary indexes for the block and create them again after it
    (nothing happens when `when` is false). On an exception the indexes are not
    recreated here: the caller's transaction rolls back, which restores them."""
    if not when:
        yield
        return
    dropped = drop_indexes(conn, table)
    yield
    create_indexes(conn, dropped)
