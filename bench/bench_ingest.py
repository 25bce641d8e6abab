"""Benchmark: ingest a book of about 2.4M rows (24 monthly snapshots, 19 metrics).

Not a test. Generates the book with the demo generator, writes one CSV, then runs
`outcomes ingest` in a child process (so its peak memory is measured alone) on a
fresh database, and once more to show that re-ingesting the same file is a no-op.

    .venv/bin/python bench/bench_ingest.py [--accounts 150000] [--months 24] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage.demo_book import DemoSpec, generate


def run_child(args: list[str]) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MiB."""
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Churned accounts stop appearing, so 150k accounts give about 100k x 24 = 2.4M rows.
    parser.add_argument("--accounts", type=int, default=150_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--keep", type=Path, help="keep the CSV and database in this folder")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="outcomes-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # Nobody joins late, so the book has (almost) accounts x months rows; churn removes a few.
    book = generate(DemoSpec(accounts=args.accounts, months=args.months, at_start=1.0))
    csv_path = folder / "book.csv"
    book.to_csv(csv_path, index=False, float_format="%.6g")
    metrics = len(book.columns) - 8
    print(f"generated {len(book):,} rows x {len(book.columns)} columns ({metrics} metrics), "
          f"{csv_path.stat().st_size / 2**20:,.0f} MiB CSV in {time.perf_counter() - t0:.1f}s")
    del book

    db = folder / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cli = [str(Path(sys.executable).with_name("outcomes")), "--db", str(db), "ingest", str(csv_path)]
    wall, peak = run_child(cli)
    print(f"first ingest: {wall:.1f}s wall, peak RSS {peak:,.0f} MiB, db {db.stat().st_size / 2**20:,.0f} MiB")
    wall, _ = run_child(cli)
    print(f"re-ingest of the same file (no-op): {wall:.1f}s wall")


if __name__ == "__main__":
    main()
