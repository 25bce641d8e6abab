"""SQL sources against a real PostgreSQL (and DuckDB): the same rules as files, no mocks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from storage.demo_book import DemoSpec, generate
from storage.ingest import IngestError, ingest_file
from storage.sources import (
    NEVER,
    SqlSource,
    SqlSourceError,
    last_sync,
    preview_source,
    read_query,
    sync_source,
)
from storage.store import Store
from tests.fakes.postgres import READER_PASSWORD, PostgresServer

# Each test here but the DuckDB one talks to a real PostgreSQL server (started once).
PG = pytest.mark.slow
PW = "WAREHOUSE_PASSWORD"
ENV = {PW: READER_PASSWORD}
SPEC = DemoSpec(accounts=40, owners=3, months=4)


def dump(store: Store, table: str = "snapshots") -> list[dict]:
    return store.query(f"SELECT * FROM {table} ORDER BY 1, 2")


def everything(store: Store) -> str:
    return hashlib.sha256("\n".join(store.conn.iterdump()).encode()).hexdigest()


class FixedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return generate(SPEC)


@pytest.fixture(scope="module")
def warehouse(postgres: PostgresServer, book: pd.DataFrame) -> str:
    """The demo book in PostgreSQL (as_of a real DATE, an updated_at); a read-only role's URL."""
    engine = sa.create_engine(postgres.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS account_snapshots CASCADE")
    book.to_sql("account_snapshots", engine, index=False)
    engine.dispose()
    postgres.psql("""
        ALTER TABLE account_snapshots ALTER COLUMN as_of TYPE date USING as_of::date;
        ALTER TABLE account_snapshots ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        CREATE TABLE changes (LIKE account_snapshots INCLUDING DEFAULTS);
    """)
    return postgres.create_reader("account_snapshots", "changes")


def source(url: str, query: str, name: str | None = "warehouse") -> SqlSource:
    return SqlSource(name, url, query, password_env=PW)


@PG
def test_a_postgres_view_is_stored_exactly_like_the_same_rows_in_a_file(
        tmp_path: Path, warehouse: str, book: pd.DataFrame) -> None:
    parquet = tmp_path / "book.parquet"
    book.to_parquet(parquet, index=False)
    with Store() as from_sql, Store() as from_file:
        report = sync_source(from_sql, source(warehouse, "SELECT * FROM account_snapshots"),
                             env=ENV)
        ingest_file(from_file, parquet)
        assert report.ingest is not None and report.ingest.rows == len(book)
        assert report.ingest.accounts == book["account_id"].nunique()
        assert report.ingest.file == "source 'warehouse'"
        # updated_at is extra in the database: a text column (one value per load)
        assert dump(from_file) == [{k: v for k, v in r.items() if k != "m_updated_at"}
                                   for r in dump(from_sql)]
        assert dump(from_file, "accounts") == dump(from_sql, "accounts")
        kinds = {r["name"]: r["kind"] for r in from_file.query("SELECT * FROM metrics")}
        assert {r["name"]: r["kind"] for r in from_sql.query("SELECT * FROM metrics")
                if r["name"] != "updated_at"} == kinds


@PG
def test_a_bad_result_is_rejected_whole_naming_column_and_rows(warehouse: str) -> None:
    query = """SELECT account_id, as_of,
                      CASE WHEN row_number() OVER (ORDER BY account_id, as_of) IN (3, 5)
                           THEN -arr ELSE arr END AS arr
               FROM account_snapshots ORDER BY account_id, as_of"""
    with Store() as store:
        with pytest.raises(IngestError) as err:
            sync_source(store, source(warehouse, query), env=ENV)
        text = str(err.value)
        assert text.startswith("source 'warehouse': rejected, nothing from this query result was stored.")
        assert "column 'arr': is negative (ARR must be 0 or more) at rows 3, 5" in text
        assert store.counts()["snapshots"] == 0
        assert store.scalar("SELECT count(*) FROM ingests") == 0
        assert last_sync(store, "warehouse") is None


@PG
def test_rerunning_changes_nothing_even_in_another_row_order(warehouse: str) -> None:
    with Store() as store:
        first = sync_source(store, source(warehouse, "SELECT * FROM account_snapshots"), env=ENV)
        assert first.ingest is not None and not first.ingest.unchanged
        before = dump(store, "ingests")
        again = sync_source(store, source(warehouse, "SELECT * FROM account_snapshots "
                                          "ORDER BY account_id DESC, as_of DESC"), env=ENV)
        assert again.ingest is not None and again.ingest.unchanged
        assert dump(store, "ingests") == before


@PG
def test_last_sync_reads_only_rows_changed_since_the_last_successful_sync(
        postgres: PostgresServer, warehouse: str) -> None:
    query = "SELECT * FROM changes WHERE updated_at > :last_sync ORDER BY account_id, as_of"
    postgres.psql("TRUNCATE changes; INSERT INTO changes SELECT * FROM account_snapshots"
                  " WHERE as_of < (SELECT max(as_of) FROM account_snapshots);")
    total = int(postgres.psql("\\pset tuples_only on\nSELECT count(*) FROM changes").strip())
    clock = FixedClock(datetime.now(UTC) + timedelta(seconds=1))
    src = source(warehouse, query, "incremental")
    with Store() as store:
        first = sync_source(store, src, env=ENV, clock=clock)
        assert (first.since, first.rows_read) == (NEVER, total)
        assert last_sync(store, "incremental") == clock.now.replace(microsecond=0)

        # The newest month arrives, stamped after the first sync started.
        postgres.psql("INSERT INTO changes SELECT * FROM account_snapshots"
                      " WHERE as_of = (SELECT max(as_of) FROM account_snapshots);"
                      " UPDATE changes SET updated_at = now() + interval '1 minute'"
                      " WHERE as_of = (SELECT max(as_of) FROM changes);")
        newest = int(postgres.psql("\\pset tuples_only on\nSELECT count(*) FROM changes"
                                   " WHERE as_of = (SELECT max(as_of) FROM changes)").strip())
        clock.now += timedelta(minutes=5)
        second = sync_source(store, src, env=ENV, clock=clock)
        assert second.rows_read == newest and second.ingest is not None
        assert len(second.ingest.dates) == 1
        assert store.counts()["snapshots"] == total + newest

        clock.now += timedelta(minutes=5)
        third = sync_source(store, src, env=ENV, clock=clock)
        assert (third.rows_read, third.ingest) == (0, None)
        assert last_sync(store, "incremental") == clock.now.replace(microsecond=0)


@PG
def test_a_rejected_incremental_sync_keeps_its_window(postgres: PostgresServer, warehouse: str) -> None:
    postgres.psql("TRUNCATE changes; INSERT INTO changes SELECT * FROM account_snapshots;"
                  " UPDATE changes SET account_id = NULL WHERE ctid IN"
                  " (SELECT ctid FROM changes ORDER BY account_id, as_of LIMIT 1 OFFSET 1);")
    src = source(warehouse, "SELECT * FROM changes WHERE updated_at > :last_sync "
                 "ORDER BY account_id NULLS LAST, as_of", "flaky")
    with Store() as store:
        with pytest.raises(IngestError, match="column 'account_id': is blank at row"):
            sync_source(store, src, env=ENV)
        assert last_sync(store, "flaky") is None and store.counts()["snapshots"] == 0


@PG
def test_preview_shows_rows_and_mapping_and_stores_nothing(warehouse: str) -> None:
    query = "SELECT account_id AS customer_id, as_of, arr, plan FROM account_snapshots ORDER BY 1, 2"
    with Store() as store:
        before = everything(store)
        preview = preview_source(store, source(warehouse, query), rows=5, env=ENV,
                                 column_map={"customer_id": "account_id"})
        assert len(preview.rows) == 5 and preview.headers == ["customer_id", "as_of", "arr", "plan"]
        assert preview.mapping == {"customer_id": "account_id", "as_of": "as_of", "arr": "arr",
                                   "plan": "plan"}
        assert preview.problems is None and preview.check is not None
        assert [(p.name, p.kind) for p in preview.check.metrics] == [("plan", "category")]
        assert everything(store) == before

        bad = preview_source(store, source(warehouse, "SELECT account_id, 'soon' AS as_of"
                                           " FROM account_snapshots"), rows=3, env=ENV)
        assert bad.problems is not None and "at rows 1, 2, 3" in str(bad.problems)
        assert everything(store) == before


@PG
def test_large_results_stream_in_batches(warehouse: str, book: pd.DataFrame) -> None:
    src = source(warehouse, "SELECT * FROM account_snapshots")
    seen: list[int] = []
    with read_query(src, env=ENV, batch_rows=17, progress=seen.append) as result:
        assert result.rows == len(book) and max(seen) == 17 and len(seen) == -(-len(book) // 17)
        assert sum(b.num_rows for b in result.batches()) == len(book)
        with read_query(src, env=ENV) as whole:
            assert whole.fingerprint == result.fingerprint


@PG
def test_connection_problems_are_named_without_the_password(warehouse: str) -> None:
    with Store() as store:
        with pytest.raises(SqlSourceError, match=f"set the environment variable {PW}"):
            sync_source(store, source(warehouse, "SELECT 1"), env={})
        with pytest.raises(SqlSourceError, match="the database said") as err:
            sync_source(store, source(warehouse, "SELECT 1"), env={PW: "wrong-password-123"})
        assert "wrong-password-123" not in str(err.value)
        with pytest.raises(SqlSourceError, match="only :last_sync is bound"):
            sync_source(store, source(warehouse, "SELECT * FROM t WHERE a = :a"), env=ENV)
        with pytest.raises(SqlSourceError, match="the database said: .*syntax"):
            sync_source(store, source(warehouse, "SELECT * FROM WHERE"), env=ENV)
        with pytest.raises(SqlSourceError, match="must be a SELECT .*'delete'"):
            sync_source(store, source(warehouse, "-- tidy up\nDELETE FROM account_snapshots"),
                        env=ENV)
        with pytest.raises(SqlSourceError, match="the database said"):
            sync_source(store, source(warehouse, "WITH gone AS (DELETE FROM account_snapshots"
                                      " RETURNING *) SELECT * FROM gone"), env=ENV)
        assert read_query(source(warehouse, "SELECT * FROM account_snapshots"), env=ENV).rows
        with pytest.raises(SqlSourceError, match="no SQLAlchemy driver.*outcomes\\[snowflake\\]"):
            sync_source(store, SqlSource("sf", "snowflake://u@acct/db", "SELECT 1"))


def test_a_duckdb_file_works_out_of_the_box(tmp_path: Path, book: pd.DataFrame) -> None:
    import duckdb

    path = tmp_path / "book.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("book", book)
        con.execute("CREATE TABLE snapshots AS SELECT * EXCLUDE (as_of, products),"
                    " CAST(as_of AS DATE) AS as_of, string_split(products, ';') AS products"
                    " FROM book")
    parquet = tmp_path / "book.parquet"
    book.to_parquet(parquet, index=False)
    lake = SqlSource("lake", f"duckdb:///{path}", "SELECT * FROM snapshots")
    with Store() as store, Store() as from_file:
        report = sync_source(store, lake)
        assert report.ingest is not None and report.ingest.rows == len(book)
        ingest_file(from_file, parquet)
        assert dump(store) == dump(from_file)   # lists of products arrive ';'-joined
        assert sync_source(store, lake).ingest.unchanged
