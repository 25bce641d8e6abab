"""The store: migrations once, all-or-nothing transactions, one connection per thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from storage.migrations import MIGRATIONS
from storage.store import Store, StoreError


def test_migrations_run_once_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.scalar("PRAGMA journal_mode") == "wal"
    with Store(path) as again:  # reopening applies nothing twice
        assert again.scalar("SELECT count(*) FROM _migrations") == len(MIGRATIONS)


def test_transaction_rolls_back_everything_on_error(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("INSERT INTO locks VALUES ('a', 'me', '2030-01-01')")
            raise RuntimeError("crash mid-write")
        assert store.scalar("SELECT count(*) FROM locks") == 0


def test_nested_transaction_is_a_savepoint(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        with store.transaction() as conn:
            conn.execute("INSERT INTO locks VALUES ('outer', 'me', '2030-01-01')")
            with pytest.raises(ValueError), store.transaction() as inner:
                inner.execute("INSERT INTO locks VALUES ('inner', 'me', '2030-01-01')")
                raise ValueError
        assert [r["name"] for r in store.query("SELECT name FROM locks")] == ["outer"]


def test_threads_get_their_own_connection_to_the_same_file(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        with store.transaction() as conn:
            conn.execute("INSERT INTO locks VALUES ('x', 'me', '2030-01-01')")
        seen: list[object] = []

        def read() -> None:
            seen.append((store.conn is not store._anchor, store.scalar("SELECT holder FROM locks")))

        worker = threading.Thread(target=read)
        worker.start()
        worker.join()
        assert seen == [(True, "me")]


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an Outcomes database"):
        Store(path)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing" / "o.db")
