"""Ingest checks and stores in one pass: a problem found late still stores nothing, and a
metric whose kind the later rows change is stored by its settled kind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from storage import snapshot_file
from storage.ingest import IngestError, _refresh_accounts, ingest_file
from storage.store import Store

HEADER = "account_id,as_of,name,arr,status,logins_30d,tier\n"


def fingerprint(store: Store) -> str:
    return hashlib.sha256("\n".join(store.conn.iterdump()).encode()).hexdigest()


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_file, "CSV_BLOCK_BYTES", 2048)  # many batches per file


def book(rows: int, last: str | None = None, tier=lambda i: str(i % 3)) -> str:
    lines = [f"A{i:04d},2025-01-01,Acct {i},{1000 + i},active,{i % 50},{tier(i)}" for i in range(rows)]
    if last is not None:
        lines[-1] = last
    return HEADER + "\n".join(lines) + "\n"


def test_file_is_read_in_many_batches(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(book(600))
    assert sum(1 for _ in snapshot_file.open_snapshot_file(path).batches()) > 5


def test_problem_in_the_last_batch_stores_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        ingest_file(store, _write(tmp_path, "seed.csv", book(5)))
        before = fingerprint(store)
        bad = book(600, last="A9999,2025-13-01,Late,12,active,3,1")
        with pytest.raises(IngestError) as err:
            ingest_file(store, _write(tmp_path, "bad.csv", bad))
        assert "as_of" in str(err.value) and "row 601" in str(err.value)
        assert fingerprint(store) == before
        # A metric first seen in the rejected file left no column behind.
        bad_new = book(600, last="A9999,2025-13-01,Late,12,active,3,1").replace(
            "tier\n", "tier2\n", 1)
        with pytest.raises(IngestError):
            ingest_file(store, _write(tmp_path, "bad2.csv", bad_new))
        assert fingerprint(store) == before
        assert "m_tier2" not in store.snapshot_columns()


def test_duplicate_across_batches_stores_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        before = fingerprint(store)
        dup = book(600, last="A0000,2025-01-01,Again,1,active,3,1")
        with pytest.raises(IngestError) as err:
            ingest_file(store, _write(tmp_path, "dup.csv", dup))
        assert "repeats the same account and date" in str(err.value)
        problems = {column: rows for column, _, rows in err.value.problems}
        assert list(problems["account_id, as_of"]) == [2, 601]
        # The first ingest drops the snapshots' indexes to build them after the rows: the
        # rollback brought them back (the fingerprint holds the schema).
        assert fingerprint(store) == before


def test_same_id_on_another_date_or_a_blank_id_is_no_duplicate(tmp_path: Path) -> None:
    text = HEADER + "A1,2025-01-01,a,1,active,1,x\nA1,2025-02-01,a,1,active,1,x\n,2025-01-01,b,1,active,1,x\n"
    with Store(tmp_path / "o.db") as store, pytest.raises(IngestError) as err:
        ingest_file(store, _write(tmp_path, "b.csv", text))
    assert [(column, list(rows)) for column, _, rows in err.value.problems] == [("account_id", [4])]


def test_duplicates_are_found_the_same_in_a_dense_and_a_sparse_key_space() -> None:
    """`_duplicate_rows` counts integer keys (bincount) when accounts x dates is small for
    the rows, else sorts them; both name every row of a repeated key, and only those."""
    import numpy as np
    import pyarrow as pa

    from storage import ingest

    rng = np.random.default_rng(7)
    n = 5000
    account = rng.integers(-1, 300, n)  # -1: a blank id; 300 x 28 keys: dense
    days = pa.chunked_array([pa.array([None if x < 0 else f"2025-01-{x:02d}"
                                       for x in rng.integers(-1, 28, n)], pa.string())])
    rows = np.arange(2, n + 2)
    day = np.array([-1 if d is None else int(d[-2:]) for d in days.to_pylist()])
    pairs = [(a, d) for a, d in zip(account, day, strict=True)]
    seen: dict = {}
    for a, d in pairs:
        seen[(a, d)] = seen.get((a, d), 0) + 1
    expected = [r for r, (a, d) in zip(rows, pairs, strict=True)
                if a >= 0 and d >= 0 and seen[(a, d)] > 1]
    assert expected  # the case holds duplicates
    got = ingest._duplicate_rows(account, day, rows)
    assert got.tolist() == expected
    # The same keys spread far apart (the sort path) give the same rows.
    assert ingest._duplicate_rows(np.where(account >= 0, account * 10_000, -1), day,
                                  rows).tolist() == expected
    assert ingest._duplicate_rows(np.arange(n), day, rows).tolist() == []


def test_first_ingest_builds_the_snapshot_indexes_after_the_rows(tmp_path: Path) -> None:
    lines = [f"A{i:04d},2025-0{m}-01,{'' if m == 2 and i % 7 == 0 else f'Acct {i} v{m}'},"
             f"{1000 + i * m},active,{i % 50},{i % 3}" for m in (1, 2) for i in range(300)]
    with Store(tmp_path / "o.db") as store:
        def indexes() -> list:
            return store.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                                      " AND tbl_name = 'snapshots' ORDER BY name").fetchall()

        before, cache = indexes(), store.scalar("PRAGMA cache_size")
        report = ingest_file(store, _write(tmp_path, "a.csv", HEADER + "\n".join(lines) + "\n"))
        assert indexes() == before and store.scalar("PRAGMA cache_size") == cache
        plan = " ".join(r[3] for r in store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM snapshots WHERE as_of = '2025-01-01'"))
        assert "snapshots_as_of" in plan
        assert report.stored is not None and report.stored.new_dates == {"2025-01-01", "2025-02-01"}
        # Its accounts (from one scan of the key index) are what the look-up per account makes.
        first = store.query("SELECT * FROM accounts ORDER BY account_id")
        assert first[0]["name"] == "Acct 0 v1" and first[1]["name"] == "Acct 1 v2"
        with store.transaction() as conn:
            _refresh_accounts(conn, [a["account_id"] for a in first])
        assert store.query("SELECT * FROM accounts ORDER BY account_id") == first


def test_kind_settled_by_later_batches_is_what_is_stored(tmp_path: Path) -> None:
    # 'tier' holds numbers in the first batch, then words: a category, stored as text.
    words = ["gold", "silver", "bronze"]
    text = book(900, tier=lambda i: str(i % 3) if i < 40 else words[i % 3])
    with Store(tmp_path / "o.db") as store:
        report = ingest_file(store, _write(tmp_path, "b.csv", text))
        plans = {p.name: p.kind for p in report.metrics}
        assert plans["tier"] == "category"
        assert plans["logins_30d"] == "numeric"
        got = dict(store.conn.execute("SELECT account_id, m_tier FROM snapshots"))
        assert got["A0001"] == "1" and got["A0500"] == words[500 % 3]
        assert store.scalar("SELECT kind FROM metrics WHERE name = 'tier'") == "category"
        assert store.scalar("SELECT count(*) FROM snapshots") == 900
        assert store.scalar("SELECT count(*) FROM accounts") == 900
        # the rows the label summary may reuse are the stored ones
        assert len(report.stored) == 900 and report.stored.new_dates == {"2025-01-01"}


def test_rows_kept_for_labels_say_which_dates_were_new(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        ingest_file(store, _write(tmp_path, "a.csv", book(10)))
        second = book(10).replace("2025-01-01", "2025-02-01") + "B0001,2025-01-01,New,5,churned,1,1\n"
        report = ingest_file(store, _write(tmp_path, "b.csv", second))
        assert report.stored.new_dates == {"2025-02-01"}
        assert report.stored.left.sum() == 1


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_impossible_calendar_dates_are_rejected(tmp_path: Path) -> None:
    text = HEADER + "A1,2025-02-30,One,1,active,1,1\nA2,2024-02-29,Leap,1,active,1,1\n"
    with Store(tmp_path / "o.db") as store:
        with pytest.raises(IngestError) as err:
            ingest_file(store, _write(tmp_path, "feb.csv", text))
        assert "'as_of': is not a date in YYYY-MM-DD form at row 2" in str(err.value)
        assert store.scalar("SELECT count(*) FROM snapshots") == 0
