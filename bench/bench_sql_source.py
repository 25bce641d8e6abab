"""Benchmark: a SQL source's result into the store (storage.sources.sync_source).

    .venv/bin/python bench/bench_sql_source.py [--accounts 20000] [--months 6] [--postgres]

The demo book (`storage.demo_book`, --accounts x --months rows) is written into a
DuckDB file (and, with --postgres, into a throwaway PostgreSQL server started as
the tests do), then synced into a fresh store twice: the first sync reads, spools
and stores every row; the second reads it again and finds the fingerprint already
ingested. Reported per database: rows, seconds to read and spool (`read_query`),
seconds for the whole first sync, the unchanged second sync, rows/s, and the
peak RSS of the process that synced (a fresh one per database, so the book built
here does not count).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, url: str, query: str, env: dict[str, str], password_env: str | None,
            tmp: Path) -> dict[str, float | int | str]:
    from storage.sources import SqlSource, read_query, sync_source
    from storage.store import Store

    source = SqlSource(name, url, query, password_env)
    start = time.perf_counter()
    with read_query(source, env=env) as result:
        read_s = time.perf_counter() - start
        rows = result.rows
    with Store(tmp / f"{name}.db") as store:
        start = time.perf_counter()
        sync_source(store, source, env=env)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = sync_source(store, source, env=env)
        second_s = time.perf_counter() - start
        assert again.ingest is not None and again.ingest.unchanged
    return {"database": name, "rows": rows, "read_and_spool_s": round(read_s, 2),
            "first_sync_s": round(first_s, 2), "rows_per_s": int(rows / first_s),
            "unchanged_resync_s": round(second_s, 2), "peak_rss_mib": round(peak_mib())}


def in_child(*args: object) -> dict[str, float | int | str]:
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--postgres", action="store_true", help="also a throwaway PostgreSQL")
    args = parser.parse_args()

    import duckdb

    from storage.demo_book import DemoSpec, generate

    book = generate(DemoSpec(accounts=args.accounts, months=args.months, owners=20))
    book_mib = book.memory_usage(deep=True).sum() / 2**20
    base_rss = peak_mib()
    out = {"book_rows": len(book), "book_in_pandas_mib": round(book_mib),
           "bench_process_rss_mib": round(base_rss), "results": []}
    with tempfile.TemporaryDirectory(prefix="outcomes-bench-sql-") as name:
        tmp = Path(name)
        lake = tmp / "book.duckdb"
        with duckdb.connect(str(lake)) as con:
            con.register("book", book)
            con.execute("CREATE TABLE snapshots AS SELECT * REPLACE (CAST(as_of AS DATE) AS as_of)"
                        " FROM book")
        out["results"].append(in_child("duckdb", f"duckdb:///{lake}", "SELECT * FROM snapshots",
                                       {}, None, tmp))
        if args.postgres:
            import sqlalchemy as sa

            from tests.fakes.postgres import READER_PASSWORD, PostgresServer

            with PostgresServer() as pg:
                engine = sa.create_engine(pg.url)
                book.head(0).to_sql("snapshots", engine, index=False)   # the table, typed
                engine.dispose()
                csv = pg.root / "book.csv"
                book.to_csv(csv, index=False)
                if pg._as:   # psql runs as the postgres user: let it read the file
                    shutil.chown(csv, "postgres")
                pg.psql(f"\\copy snapshots FROM '{csv}' CSV HEADER")
                reader = pg.create_reader("snapshots")
                out["results"].append(in_child("postgresql", reader, "SELECT * FROM snapshots",
                                               {"PW": READER_PASSWORD}, "PW", tmp))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
