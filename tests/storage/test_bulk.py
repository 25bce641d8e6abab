"""storage.bulk: secondary indexes dropped for a bulk write and built again after it."""

from __future__ import annotations

import sqlite3

import pytest

from storage.bulk import indexes_rebuilt


def _db(tmp_path):
    conn = sqlite3.connect(tmp_path / "bulk.db", isolation_level=None)
    conn.executescript("""
        CREATE TABLE t (k TEXT PRIMARY KEY, a INTEGER, b TEXT) WITHOUT ROWID;
        CREATE INDEX t_a ON t (a);
        CREATE INDEX t_b_a ON t (b, a);
    """)
    return conn


def _indexes(conn):
    return sorted(r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 't'"
        " AND sql IS NOT NULL"))


def test_indexes_are_gone_during_the_write_and_back_after(tmp_path):
    conn = _db(tmp_path)
    conn.execute("BEGIN")
    with indexes_rebuilt(conn, "t"):
        assert _indexes(conn) == []
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(f"k{i}", i % 7, "x") for i in range(500)])
    conn.execute("COMMIT")
    assert _indexes(conn) == ["t_a", "t_b_a"]
    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN SELECT k FROM t WHERE a = 3"))
    assert "t_a" in plan
    assert conn.execute("SELECT count(*) FROM t WHERE a = 3").fetchone()[0] == 71
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failed_write_rolls_back_rows_and_keeps_the_indexes(tmp_path):
    conn = _db(tmp_path)
    conn.execute("INSERT INTO t VALUES ('old', 1, 'y')")
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError):
        with indexes_rebuilt(conn, "t"):
            conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [("new", 2, "z"), ("old", 3, "z")])
    conn.execute("ROLLBACK")
    assert _indexes(conn) == ["t_a", "t_b_a"]
    assert [r[0] for r in conn.execute("SELECT k FROM t")] == ["old"]


def test_when_false_leaves_the_indexes_alone(tmp_path):
    conn = _db(tmp_path)
    conn.execute("BEGIN")
    with indexes_rebuilt(conn, "t", when=False):
        assert _indexes(conn) == ["t_a", "t_b_a"]
    conn.execute("COMMIT")


def test_each_index_is_sorted_on_helper_threads_and_the_setting_is_given_back(tmp_path):
    from storage import bulk

    conn = _db(tmp_path)
    threads_during = []

    class Spy:
        def __init__(self, inner):
            self.inner = inner

        def execute(self, sql, *args):
            if sql.startswith("CREATE INDEX"):
                threads_during.append(self.inner.execute("PRAGMA threads").fetchone()[0])
            return self.inner.execute(sql, *args)

    conn.execute("BEGIN")
    sqls = bulk.drop_indexes(conn, "t")
    bulk.create_indexes(Spy(conn), sqls)
    conn.execute("COMMIT")
    assert threads_during == [bulk.SORT_THREADS] * 2
    assert conn.execute("PRAGMA threads").fetchone()[0] == 0
