"""Ingest takes any source of record batches, with exactly the rules it applies to files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from storage.batch_source import BatchSource, SourceProblem
from storage.ingest import IngestError, ingest_batches, ingest_file
from storage.snapshot_file import open_snapshot_file
from storage.store import Store


@dataclass
class Rows:
    """A source in memory: typed columns, as a database driver would give them."""

    table: pa.Table
    label: str = "rows in memory"
    noun: str = "query result"
    first_row: int = 1
    batch_rows: int = 2
    broken_after: int | None = None

    @property
    def headers(self) -> list[str]:
        return self.table.column_names

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(repr(self.table.to_pylist()).encode()).hexdigest()

    def batches(self) -> Iterator[pa.RecordBatch]:
        for i, batch in enumerate(self.table.to_batches(max_chunksize=self.batch_rows)):
            if self.broken_after is not None and i >= self.broken_after:
                raise SourceProblem("the connection was lost")
            yield batch


def table(**columns: list) -> pa.Table:
    return pa.table(columns)


GOOD = table(account_id=["a1", "a2", "a3"], as_of=["2025-01-01"] * 3, arr=[100, 250.5, 0],
             logins_30d=[3, None, 7], plan=["pro", "basic", "pro"])


def test_source_protocol_is_met_by_files(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("account_id,as_of\na,2025-01-01\n")
    snap: BatchSource = open_snapshot_file(path)
    assert (snap.label, snap.noun, snap.first_row) == (str(path), "file", 2)
    assert snap.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


def test_typed_batches_are_stored_like_a_file(tmp_path: Path) -> None:
    with Store() as store:
        report = ingest_batches(store, Rows(GOOD))
        assert (report.rows, report.accounts, report.file) == (3, 3, "rows in memory")
        assert {p.name: p.kind for p in report.metrics} == {"logins_30d": "numeric", "plan": "category"}
        csv = tmp_path / "same.csv"
        csv.write_text("account_id,as_of,arr,logins_30d,plan\n"
                       "a1,2025-01-01,100,3,pro\na2,2025-01-01,250.5,,basic\na3,2025-01-01,0,7,pro\n")
        with Store() as other:
            ingest_file(other, csv)
            sql = "SELECT * FROM snapshots ORDER BY account_id"
            assert store.query(sql) == other.query(sql)


def test_a_bad_row_rejects_the_whole_source_naming_column_and_rows() -> None:
    bad = table(account_id=["a1", None, "a3", "a4"], as_of=["2025-01-01", "2025-01-01", "1/2/2025",
                                                          "2025-01-01"], arr=[1, 2, 3, -4])
    with Store() as store:
        with pytest.raises(IngestError) as err:
            ingest_batches(store, Rows(bad))
        text = str(err.value)
        assert "nothing from this query result was stored" in text
        assert "column 'account_id': is blank at row 2" in text
        assert "column 'as_of': is not a date in YYYY-MM-DD form at row 3" in text
        assert "column 'arr': is negative (ARR must be 0 or more) at row 4" in text
        assert store.counts()["snapshots"] == 0


def test_missing_required_column_and_unreadable_source_are_named() -> None:
    with Store() as store:
        with pytest.raises(IngestError, match="(?s)query result was stored.*'as_of': is required"):
            ingest_batches(store, Rows(table(account_id=["a"])))
        with pytest.raises(IngestError, match="the connection was lost"):
            ingest_batches(store, Rows(GOOD, batch_rows=1, broken_after=2))
        assert store.counts()["snapshots"] == 0


def test_same_fingerprint_again_changes_nothing() -> None:
    with Store() as store:
        ingest_batches(store, Rows(GOOD))
        before = store.query("SELECT * FROM ingests")
        again = ingest_batches(store, Rows(GOOD))
        assert again.unchanged and again.rows == 3
        assert store.query("SELECT * FROM ingests") == before
