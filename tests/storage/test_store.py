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


def test_bulk_commit_checkpoints_on_a_thread_after_the_commit(tmp_path: Path) -> None:
    """The commit leaves the pages in the WAL (no automatic checkpoint: the database file
    has not grown), a thread then copies them into the file while this one goes on, and the
    setting is the connection's own again."""
    path = tmp_path / "o.db"
    with Store(path) as store:
        automatic = store.scalar("PRAGMA wal_autocheckpoint")
        started = threading.Event()
        release = threading.Event()
        checkpointed: list = []
        real = store.checkpoint_in_background

        def held() -> None:  # the commit is over when the checkpoint is asked for
            checkpointed.append(path.stat().st_size)
            started.set()
            release.wait(5)
            real()

        store.checkpoint_in_background = held  # type: ignore[method-assign]
        before = path.stat().st_size
        rows = [(f"n{i}", "me", "2030-01-01") for i in range(40_000)]  # > 1000 WAL pages
        worker = threading.Thread(target=lambda: _bulk_insert(store, rows))
        worker.start()
        assert started.wait(5)
        assert Path(f"{path}-wal").stat().st_size > 1000 * 16384
        assert checkpointed[0] == before  # nothing copied out of the WAL at the commit
        release.set()
        worker.join(5)
        store.wait_for_checkpoint()
        # All frames are in the database file now: a passive checkpoint finds none to copy.
        busy, frames, copied = store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and frames == copied
        assert path.stat().st_size > 1000 * 16384
        assert store.scalar("PRAGMA wal_autocheckpoint") == automatic
        assert store.scalar("SELECT count(*) FROM locks") == 40_000


def _bulk_insert(store: Store, rows: list) -> None:
    with store.bulk_commit(), store.transaction() as conn:
        conn.executemany("INSERT INTO locks VALUES (?, ?, ?)", rows)
        conn.execute("UPDATE locks SET holder = holder || ?", ("x" * 600,))


def test_a_failed_bulk_write_starts_no_checkpoint(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        automatic = store.scalar("PRAGMA wal_autocheckpoint")
        with pytest.raises(RuntimeError), store.bulk_commit(), store.transaction() as conn:
            conn.execute("INSERT INTO locks VALUES ('a', 'me', '2030-01-01')")
            raise RuntimeError("crash mid-write")
        assert store._checkpoint is None
        assert store.scalar("PRAGMA wal_autocheckpoint") == automatic
