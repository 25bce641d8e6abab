"""How many accounts 'move' when a month of identical data arrives.

Builds the demo book (400 accounts, seed 42) in a temporary database, scores it, then
ingests one more monthly snapshot that repeats the last one exactly (same metrics, same
renewal dates, the date one month later), scores again, and counts the accounts of the
new period whose Renewal Index or Upsell Index moved by the app's movement rule (the
rows `/outcome summary` and the pulse list). Identical data should move almost nobody:
what is left comes from time passing (renewal one month closer, tenure, trends).

    .venv/bin/python bench/movement_stability.py [--accounts 400] [--seed 42] [--keep DIR]

Prints one line: moved accounts / accounts of the new period (share).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _outcomes(db: Path, *args: str) -> None:
    cmd = [sys.executable, "-c", "from bot.cli import main; main()", "--db", str(db), *args]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=400)
    ap.add_argument("--seed", type=int, default=42, help="demo book seed [42]")
    ap.add_argument("--keep", type=Path, default=None, help="keep the database in this folder")
    args = ap.parse_args()

    from storage.demo_book import DemoSpec, generate, write_csv

    tmp = Path(tempfile.mkdtemp(prefix="outcomes-stability-"))
    folder = args.keep or tmp
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "stability.db"
    db.unlink(missing_ok=True)
    book = generate(DemoSpec(accounts=args.accounts, seed=args.seed))
    files = write_csv(book, tmp / "csv")
    _outcomes(db, "ingest", *map(str, files))
    _outcomes(db, "score")
    last = pd.read_csv(files[-1], dtype=str, keep_default_na=False)
    as_of_col = "as_of"
    current = pd.Timestamp(last[as_of_col].iloc[0])
    nxt = (current + pd.offsets.MonthBegin(1)).strftime("%Y-%m-%d")
    last[as_of_col] = nxt
    repeat = tmp / "csv" / f"snapshots-{nxt[:7]}-repeat.csv"
    last.to_csv(repeat, index=False)
    _outcomes(db, "ingest", str(repeat))
    _outcomes(db, "score")

    from bot.config import load_settings
    from bot.services.core import movement_direction
    from storage import queries
    from storage.store import Store

    settings = load_settings()
    with Store(db) as store:
        new = queries.latest_as_of(store)
        prev = queries.previous_as_of(store, new)
        total = store.scalar("SELECT count(*) FROM scores WHERE as_of = ?", (new,))
        rows = queries.movements(store, prev, new)
    moved = sum(1 for r in rows
                if movement_direction(settings, r["from_renewal_index"], r["to_renewal_index"])
                or movement_direction(settings, r["from_upsell_index"], r["to_upsell_index"],
                                      "upsell"))
    renewal = sum(1 for r in rows
                  if movement_direction(settings, r["from_renewal_index"], r["to_renewal_index"]))
    print(f"identical month {prev} -> {new}: {moved} of {total} accounts moved "
          f"({100 * moved / max(total, 1):.1f}%; Renewal Index {renewal}, "
          f"{100 * renewal / max(total, 1):.1f}%)")


if __name__ == "__main__":
    main()
