"""Benchmark `score_book` on a big synthetic book (not a test; run it by hand).

    .venv/bin/python bench/bench_score.py                 # 150k accounts x 24 months
    .venv/bin/python bench/bench_score.py --accounts 20000 --keep /tmp/bench.db

Generates `DemoSpec(accounts=150_000, months=24, at_start=1.0)` (about 2.45M rows),
writes it as monthly CSV files and ingests them through `storage.ingest` (not timed),
then times the first `score_book` run (training included) and a rerun with no new data.
Scoring runs in a child process so its peak RSS (resource.getrusage) is the scoring's
own, not the ingest's. Target: first run under 3 minutes and 4 GB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _score_only(db: str) -> None:
    """Child process: first run and rerun, printed as one JSON line."""
    from bot.config import load_settings
    from scoring.pipeline import score_book
    from storage.store import Store

    settings = load_settings(None, db, env={}).for_scoring
    store = Store(db)
    started = time.perf_counter()
    first = score_book(store, settings)
    first_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rerun = score_book(store, settings)
    rerun_s = time.perf_counter() - started
    print(json.dumps({
        "first_run_s": round(first_s, 1), "rerun_s": round(rerun_s, 2),
        "peak_rss_mb": round(peak_mb), "rows_scored": first.rows_scored,
        "rerun_retrained": rerun.trained, "stages_s": first.timings,
        "churn": {k: first.model_metrics["churn"].get(k)
                  for k in ("roc_auc", "pr_auc", "brier", "family", "base_rate", "calibration")},
        "upsell": {k: first.model_metrics.get("upsell", {}).get(k)
                   for k in ("roc_auc", "pr_auc", "brier", "family", "base_rate", "calibration",
                             "threshold")},
        "summary": first.summary(),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=150_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--keep", metavar="DB", help="keep the ingested database here")
    parser.add_argument("--db", metavar="DB", help="score this already-ingested, unscored copy instead (scored in place)")
    parser.add_argument("--score-only", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score_only:
        _score_only(args.score_only)
        return

    from storage.demo_book import DemoSpec, generate, write_csv
    from storage.ingest import ingest_file
    from storage.store import Store

    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        db = args.db or args.keep or str(Path(tmp) / "bench.db")
        if not args.db:
            started = time.perf_counter()
            book = generate(DemoSpec(accounts=args.accounts, months=args.months, at_start=1.0))
            rows = len(book)
            with Store(db) as store:
                for path in write_csv(book, Path(tmp) / "csv"):
                    ingest_file(store, path)
            del book
            print(f"generated and ingested {rows:,} rows in {time.perf_counter() - started:.0f}s "
                  "(not part of the benchmark)", flush=True)
        out = subprocess.run([sys.executable, __file__, "--score-only", db], check=True,
                             capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(result.pop("summary"))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
