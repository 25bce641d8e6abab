"""Reading and writing the scoring tables (models, scores, indicators, segments,
components) in the shapes the table contract fixes. SQL stays here, parameterised;
writes take the connection of an open `Store.transaction()` so a whole scoring run
commits or rolls back as one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import joblib
import numpy as np
import pandas as pd

from storage import queries
from storage.bulk import indexes_rebuilt
from storage.store import Store

SCORE_COLUMNS = (
    "account_id", "as_of", "health_score", "churn_probability", "renewal_index",
    "upsell_probability", "upsell_index", "segment_id", "drivers", "levels", "churn_model",
    "upsell_model", "scored_at", "previous_as_of", "previous_health_score",
    "previous_renewal_index", "previous_upsell_index", "movement", "data_gaps",
)
# Filled only on the rows a run explains (each current account's latest); NULL elsewhere.
EXPLAIN_ONLY = ("drivers", "levels", "previous_as_of", "previous_health_score",
                "previous_renewal_index", "previous_upsell_index", "movement", "data_gaps")
CHUNK = 50_000
BULK_ROWS = 100_000          # a score write this large rebuilds the indexes after it


def dumps(obj: Any) -> str:
    """Compact, key-sorted JSON (stable bytes for identical content)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def pipeline_bytes(pipeline: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(pipeline, buf, compress=3)
    return buf.getvalue()


def pipeline_from_bytes(blob: bytes) -> Any:
    return joblib.load(io.BytesIO(blob))


# -- fingerprint and state -------------------------------------------------------------


def data_fingerprint(store: Store, settings_part: dict[str, Any], engine: str) -> str:
    """A hash of what the models learn from: ingested files, row counts, the metric
    registry, the scoring settings and the engine version. Cheap on big books."""
    files = sorted(r[0] for r in store.conn.execute("SELECT sha256 FROM ingests"))
    counts = store.conn.execute(
        "SELECT count(*), count(DISTINCT account_id), min(as_of), max(as_of), total(arr),"
        " count(churned), total(churned), count(upsold), total(upsold) FROM snapshots"
    ).fetchone()
    registry = [tuple(r) for r in store.conn.execute(
        "SELECT name, kind, in_model FROM metrics ORDER BY name")]
    payload = dumps({"files": files, "counts": list(counts), "metrics": registry,
                     "settings": settings_part, "engine": engine})
    return hashlib.sha256(payload.encode()).hexdigest()


def active_models(store: Store) -> dict[str, dict[str, Any]]:
    """The active model row of each kind (without loading blobs)."""
    rows = store.query(
        "SELECT kind, version, data_fingerprint, features, metrics, provisional, train_start,"
        " train_end FROM models WHERE active = 1 ORDER BY kind"
    )
    out = {}
    for row in rows:
        row["features"] = json.loads(row["features"])
        row["metrics"] = json.loads(row["metrics"])
        out[row["kind"]] = row
    return out


def load_pipeline(store: Store, version: str) -> Any:
    blob = store.scalar("SELECT blob FROM models WHERE version = ?", (version,))
    return pipeline_from_bytes(blob)


def pending_count(store: Store) -> int:
    """Snapshot rows of current accounts that have no score yet."""
    return int(store.scalar(
        "SELECT count(*) FROM snapshots s WHERE (s.status IS NULL OR s.status != 'churned')"
        " AND NOT EXISTS (SELECT 1 FROM scores c WHERE c.account_id = s.account_id"
        " AND c.as_of = s.as_of)"
    ))


def scored_keys(store: Store) -> pd.DataFrame:
    return store.frame("SELECT account_id, as_of FROM scores")


def scores_of_dates(store: Store, dates: Sequence[str]) -> pd.DataFrame:
    """as_of and churn_probability of the rows already scored on these dates."""
    dates = [str(d) for d in dates]
    frames = [store.frame("SELECT as_of, churn_probability FROM scores WHERE as_of IN"
                          f" ({', '.join('?' * len(part))})", part)
              for part in (dates[i:i + 500] for i in range(0, len(dates), 500))]
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame({"as_of": [], "churn_probability": []}))


# -- writes (inside a transaction) -------------------------------------------------------


def write_model(conn: sqlite3.Connection, *, kind: str, version: str, trained_at: str,
                train_start: str | None, train_end: str | None, fingerprint: str,
                features: list[str], params: dict[str, Any], metrics: dict[str, Any],
                lib_versions: dict[str, str], provisional: bool, blob: bytes) -> None:
    """Store a fitted pipeline as the active model of its kind."""
    conn.execute("DELETE FROM indicators WHERE model_version = ?", (version,))
    conn.execute("DELETE FROM models WHERE version = ?", (version,))
    conn.execute("UPDATE models SET active = 0 WHERE kind = ? AND active = 1", (kind,))
    conn.execute(
        "INSERT INTO models (kind, version, trained_at, train_start, train_end, data_fingerprint,"
        " features, params, metrics, lib_versions, provisional, active, blob)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
        (kind, version, trained_at, train_start, train_end, fingerprint, dumps(features),
         dumps(params), dumps(metrics), dumps(lib_versions), int(provisional), blob),
    )


def deactivate(conn: sqlite3.Connection, kind: str) -> None:
    conn.execute("UPDATE models SET active = 0 WHERE kind = ? AND active = 1", (kind,))


def write_indicators(conn: sqlite3.Connection, version: str, rows: Iterable[dict[str, Any]]
                     ) -> None:
    conn.execute("DELETE FROM indicators WHERE model_version = ?", (version,))
    conn.executemany(
        "INSERT INTO indicators (model_version, component, weight, direction, detail, signs)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(version, r["component"], float(r["weight"]), r["direction"], dumps(r["detail"]),
          None if r.get("signs") is None else dumps(r["signs"])) for r in rows],
    )


def indicator_rows(store: Store, version: str) -> list[dict[str, Any]]:
    """A stored model's indicator rows (component, weight, signs), for a reused model;
    `signs` is None on rows stored before migration 0012 kept them."""
    rows = store.query("SELECT component, weight, signs FROM indicators WHERE model_version = ?",
                       (version,))
    for row in rows:
        row["signs"] = None if row["signs"] is None else json.loads(row["signs"])
    return rows


def write_segments(conn: sqlite3.Connection, run: str, rows: Sequence[dict[str, Any]]) -> None:
    conn.execute("DELETE FROM segments WHERE run = ?", (run,))
    conn.executemany(
        "INSERT INTO segments (segment_id, run, name, size, avg_arr, top_products, churn_rate,"
        " upsell_rate, benchmarks, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(int(r["segment_id"]), run, r["name"], int(r["size"]), r["avg_arr"],
          dumps(r["top_products"]), r["churn_rate"], r["upsell_rate"], dumps(r["benchmarks"]),
          dumps(r["profile"])) for r in rows],
    )


def write_components(conn: sqlite3.Connection, rows: Sequence[Any], updated_at: str) -> None:
    conn.execute("DELETE FROM components")
    conn.executemany(
        "INSERT INTO components (component, columns, present, connected, coverage, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(r.component, dumps(r.columns), dumps(r.present), int(r.connected), float(r.coverage),
          updated_at) for r in rows],
    )


def write_scores(conn: sqlite3.Connection, columns: dict[str, Sequence[Any]]) -> int:
    """Insert (or replace) score rows given column-wise; returns the number written
    (`scores_written` for one write in several calls)."""
    with scores_written(conn, len(columns["account_id"])) as write:
        return write(columns)


@contextmanager
def scores_written(conn: sqlite3.Connection, rows: int
                   ) -> Iterator[Callable[[dict[str, Sequence[Any]]], int]]:
    """One write of `rows` score rows in as many calls as the block makes to the function
    it gets (`write(columns)`: rows given column-wise, inserted or replaced; returns
    their number). A write at least as large as what the table holds (the first scoring
    of a book, a retrain that rescores it all) drops the secondary indexes for the block
    and builds them again after it (`storage.bulk`).

    The rows with no EXPLAIN_ONLY value (a run's history rows: all but the current
    accounts' latest) are inserted without those columns, which then hold NULL as if
    bound: at 1.6M rows that halves the values bound."""
    big = rows >= BULK_ROWS and rows >= conn.execute("SELECT count(*) FROM scores").fetchone()[0]
    with indexes_rebuilt(conn, "scores", when=big):
        yield partial(_write_scores, conn)


def _write_scores(conn: sqlite3.Connection, columns: dict[str, Sequence[Any]]) -> int:
    columns = {**dict.fromkeys(EXPLAIN_ONLY), **columns}   # an EXPLAIN_ONLY column left out: NULL
    n = len(columns["account_id"])
    explained = np.zeros(n, dtype=bool)
    for c in EXPLAIN_ONLY:
        value = columns.get(c)
        if value is not None and not np.isscalar(value):
            explained |= ~pd.isna(_array(value))
        elif value is not None:
            explained[:] = True
    plain = [c for c in SCORE_COLUMNS if c not in EXPLAIN_ONLY]
    for names, rows in ((SCORE_COLUMNS, np.flatnonzero(explained)),
                        (plain, np.flatnonzero(~explained))):
        _insert_columns(conn, "INSERT OR REPLACE", "scores", names, columns, rows=rows)
    return n


def _insert_columns(conn: sqlite3.Connection, verb: str, table: str, names: Sequence[str],
                    columns: dict[str, Sequence[Any]], *, rows: np.ndarray | None = None) -> int:
    """`verb` INTO `table` the rows given column-wise (those at positions `rows`, default
    all), CHUNK rows per executemany (each chunk made Python values on its own: millions
    of rows as Python objects at once would be gigabytes)."""
    n = len(columns["account_id"]) if rows is None else len(rows)
    sql = (f"{verb} INTO {table} ({', '.join(names)})"
           f" VALUES ({', '.join('?' * len(names))})")
    cols = [columns[c] if np.isscalar(columns[c]) or columns[c] is None
            else _array(columns[c]) for c in names]
    for start in range(0, n, CHUNK):
        end = min(start + CHUNK, n)
        at = slice(start, end) if rows is None else rows[start:end]
        part = [_py(c[at] if isinstance(c, np.ndarray) else c, end - start) for c in cols]
        conn.executemany(sql, zip(*part, strict=True))
    return n


LEDGER_COLUMNS = (
    "account_id", "as_of", "churn_model", "upsell_model", "churn_probability", "health_score",
    "renewal_index", "upsell_probability", "upsell_index", "recorded_at",
)


def write_ledger(conn: sqlite3.Connection, columns: dict[str, Sequence[Any]]) -> int:
    """Record live predictions once (a row already recorded keeps its first prediction)."""
    return _insert_columns(conn, "INSERT OR IGNORE", "prediction_ledger", LEDGER_COLUMNS, columns)


def resolve_ledger(conn: sqlite3.Connection, outcomes: pd.DataFrame, now: str) -> int:
    """Fill in the outcomes (columns account_id, as_of, churned, upsold) now known."""
    rows = [(int(c), None if math.isnan(u) else int(u), now, a, d) for a, d, c, u in zip(
        outcomes["account_id"], outcomes["as_of"], outcomes["churned"], outcomes["upsold"],
        strict=True)]
    conn.executemany("UPDATE prediction_ledger SET churned = ?, upsold = ?, resolved_at = ?"
                     " WHERE account_id = ? AND as_of = ? AND churned IS NULL", rows)
    return len(rows)


def _array(values: Sequence[Any]) -> np.ndarray:
    """A column as an array: an array or pandas column as its array, a list (or other
    sequence) as Python objects: a list of 48k JSON texts made a fixed-width unicode array
    would be 48k x its longest text, copied again by each take."""
    if hasattr(values, "dtype"):
        return np.asarray(values)
    return np.array(values, dtype=object)


def _py(values: Sequence[Any] | Any, n: int) -> list[Any]:
    """Plain Python values with None for missing (what sqlite3 binds as NULL)."""
    if np.isscalar(values) or values is None:
        return [values] * n
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        values = arr.astype("float64")
        return np.where(np.isnan(values), None, values).tolist()
    if arr.dtype.kind in "iub":
        return arr.tolist()
    missing = pd.isna(arr)   # one pass in C over the objects (None, NaN, pd.NA)
    return (np.where(missing, None, arr) if missing.any() else arr).tolist()


# -- reads -------------------------------------------------------------------------------


def export_frame(store: Store) -> pd.DataFrame:
    """The score of every current account (`storage.queries.current_scores`), with its
    previous-period indexes.

    This is the CRM writeback file: one row per account. Accounts that left (marked
    churned, or absent from the latest snapshot) are not current and not exported.
    """
    return store.frame(
        "WITH ranked AS ("
        " SELECT s.*,"
        "  LAG(renewal_index) OVER w AS previous_renewal_index,"
        "  LAG(upsell_index) OVER w AS previous_upsell_index,"
        "  LAG(health_score) OVER w AS previous_health_score,"
        "  LAG(as_of) OVER w AS previous_as_of"
        " FROM scores s WINDOW w AS (PARTITION BY account_id ORDER BY as_of))"
        " SELECT r.account_id, a.name, a.owner_email, r.as_of, r.health_score, r.renewal_index,"
        "  r.upsell_probability, r.upsell_index, r.previous_renewal_index,"
        "  r.previous_upsell_index, g.name AS segment, r.segment_id, r.churn_probability,"
        "  r.previous_health_score, r.previous_as_of, r.churn_model, r.upsell_model"
        " FROM ranked r JOIN accounts a ON a.account_id = r.account_id"
        " LEFT JOIN segments g ON g.run = r.churn_model AND g.segment_id = r.segment_id"
        f" WHERE {queries.current_scores('r')}"
        " ORDER BY r.account_id",
    )


def segments_frame(store: Store, run: str | None = None) -> pd.DataFrame:
    """Segments of a run (default: the active churn model's)."""
    if run is None:
        run = store.scalar("SELECT version FROM models WHERE kind = 'churn' AND active = 1")
    return store.frame("SELECT * FROM segments WHERE run = ? ORDER BY segment_id", (run,))
