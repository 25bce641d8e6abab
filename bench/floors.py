"""The floors `bench/run.py` compares Outcomes with: the same file, done the plain way.

    .venv/bin/python bench/floors.py ingest BOOK.csv FLOOR.db
    .venv/bin/python bench/floors.py score BOOK.csv

ingest  Python's sqlite3: csv.reader over the file, one `executemany` into a table of the
        same columns with the store's key (UNIQUE account_id, as_of), its as_of index, page
        size and journal settings, in one transaction. No validation at all.
score   pandas `read_csv` of the file, the contract's labels (scoring.labels on plain
        arrays), then for churn and for upsell a default `HistGradientBoostingClassifier`
        fit on the rows whose outcome is known (numeric metrics + the category columns
        as pandas categories) and `predict_proba` for every row. Prints one JSON line
        with the time of each step.

Each runs in its own process (bench/run.py measures its wall time and peak RSS).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Same as the store (storage.store.PAGE_SIZE; written out so this file imports nothing of ours).
PAGE_SIZE = 16384
CATEGORIES = ("plan", "industry", "region")
NOT_FEATURES = {"account_id", "as_of", "name", "owner_email", "owner_slack_id", "renewal_date",
                "products", "status", "churned", "upsold", "notes"}


def floor_ingest(csv_path: str, db_path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(db_path + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        cols = ", ".join(f'"{h}"' for h in header)
        conn.execute(f"CREATE TABLE snapshots ({cols}, UNIQUE (account_id, as_of))")
        conn.execute("CREATE INDEX snapshots_as_of ON snapshots (as_of)")
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO snapshots VALUES ({', '.join('?' * len(header))})", rows)
        conn.execute("COMMIT")
    n = conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    conn.close()
    print(json.dumps({"rows": n}))


def floor_score(csv_path: str) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    from scoring.labels import derive_label_arrays

    steps: dict[str, float] = {}
    t = time.perf_counter()
    book = pd.read_csv(csv_path)
    steps["read_csv"] = time.perf_counter() - t

    t = time.perf_counter()
    codes = pd.factorize(book["account_id"])[0]
    days = pd.to_datetime(book["as_of"]).to_numpy().astype("datetime64[D]").astype("int64")
    left = (book["status"] == "churned").to_numpy()
    nan = np.full(len(book), np.nan)
    churned, upsold = derive_label_arrays(codes, days, left, book["arr"].to_numpy("float64"),
                                          nan, nan, 90, 0.10)  # the default horizon and growth
    steps["label"] = time.perf_counter() - t

    features = [c for c in book.columns if c not in NOT_FEATURES]
    X = book[features]
    for c in CATEGORIES:
        if c in X:
            X[c] = X[c].astype("category")
    for kind, y in (("churn", churned), ("upsell", upsold)):
        known = ~np.isnan(y)
        t = time.perf_counter()
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        model.fit(X[known], y[known].astype(int))
        steps[f"fit_{kind}"] = time.perf_counter() - t
        t = time.perf_counter()
        model.predict_proba(X)
        steps[f"predict_{kind}"] = time.perf_counter() - t
    print(json.dumps({"rows": len(book), "features": len(features),
                      "steps_s": {k: round(v, 2) for k, v in steps.items()}}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "ingest":
        floor_ingest(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "score":
        floor_score(sys.argv[2])
    else:
        raise SystemExit(__doc__)
