"""Validate and store account snapshots from files (CSV or Parquet) or any other
`storage.batch_source.BatchSource` (a SQL query's result, `storage.sources`).

Two streaming passes over the source: the first checks every row against the data
contract and decides what each metric column is, writing nothing; the second
stores the rows in one transaction. So a rejected file leaves the database
exactly as it was, a failure while writing rolls back, and a file of millions of
rows never sits in memory whole. Every rejection names the file, the column and
the first row numbers (spreadsheet numbering: a CSV header is row 1, its first
data row is row 2; Parquet rows count from 1).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from storage.columns import normalize_column
from storage.contract import (
    CANONICAL,
    MAX_ROWS_NAMED,
    REQUIRED,
    BatchParser,
    MetricStats,
    Problems,
    RowNumbers,
    metric_values,
    settle_kind,
)
from storage.batch_source import BatchSource, SourceProblem
from storage.errors import IngestError
from storage.snapshot_file import FileProblem, open_snapshot_file
from storage.store import METRIC_PREFIX, Store

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SNAPSHOT_FIXED = ("account_id", "as_of", "name", "owner_email", "owner_slack_id", "arr",
                  "renewal_date", "products", "status", "churned", "upsold", "customer_since")
# (phase, rows just handled, rows in the file): phase "checking" (total not known
# yet, 0) then "storing".
ProgressFn = Callable[[str, int, int], None]
_HASH_KEYS = ("0123456789abcdef", "fedcba9876543210")


@dataclass
class ColumnPlan:
    """What a non-canonical column is and whether the models use it."""

    name: str
    source_name: str
    kind: str  # numeric / boolean / category / text
    in_model: bool
    note: str | None = None


@dataclass
class IngestReport:
    file: str
    rows: int = 0
    accounts: int = 0
    new_accounts: int = 0
    dates: list[str] = field(default_factory=list)
    metrics: list[ColumnPlan] = field(default_factory=list)
    left_out: list[ColumnPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False


# -- columns ---------------------------------------------------------------------------


def plan_columns(
    headers: Sequence[str], column_map: Mapping[str, str], file: str, as_of: str | None,
    noun: str = "file",
) -> dict[str, str]:
    """Canonical (or metric) name -> header in the file; clashes and gaps are errors."""
    sources: dict[str, str] = {}
    problems = []
    for header in headers:
        key = normalize_column(header)
        name = column_map.get(key, key)
        if not name:
            problems.append((str(header), "has no usable name (blank header)", []))
        elif name in sources:
            problems.append((str(header), f"means the same column as {sources[name]!r}", []))
        else:
            sources[name] = str(header)
    missing = [r for r in REQUIRED if r not in sources and not (r == "as_of" and as_of is not None)]
    separator = _other_separator(headers, column_map) if missing else None
    if separator:
        raise IngestError(file, [(None, f"is separated by {separator}, not commas (the header reads "
                                  f"{', '.join(repr(str(h)) for h in headers[:3])}): save or export it "
                                  "as comma-separated CSV", [])])
    for required in REQUIRED:
        if required in missing:
            hint = " (or give --as-of DATE)" if required == "as_of" else ""
            problems.append((required, f"is required but missing{hint}; map your column to it "
                             "in app.yaml 'columns'", []))
    if problems:
        raise IngestError(file, problems, noun)
    return sources


_SEPARATORS = ((";", "semicolons (';')"), ("\t", "tabs"), ("|", "bars ('|')"))


def _other_separator(headers: Sequence[str], column_map: Mapping[str, str]) -> str | None:
    """How the header is split when it is not by commas (one header holding 'a;b;c')."""
    for sep, words in _SEPARATORS:
        if any(sep in str(h) and len(str(h).split(sep)) > 1 for h in headers):
            parts = {column_map.get(k, k) for h in headers
                     for k in (normalize_column(p) for p in str(h).split(sep))}
            if parts & set(REQUIRED):
                return words
    return None


def _numbered(snap: BatchSource, sources: Mapping[str, str]) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
    """Batches as {name: column} with the row number of each row."""
    start = snap.first_row
    for batch in snap.batches():
        index = {name: i for i, name in enumerate(batch.schema.names)}
        columns = {name: batch.column(index[header]) for name, header in sources.items()}
        yield columns, np.arange(start, start + batch.num_rows)
        start += batch.num_rows


def _key_hashes(account_ids: pa.Array, dates: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of (account_id, as_of): 128 bits, no collisions in practice."""
    keys = pa.compute.binary_join_element_wise(account_ids, dates, "\x1f").to_numpy(zero_copy_only=False)
    keys = np.where(pd.isna(keys), "", keys).astype(object)
    return tuple(pd.util.hash_array(keys, hash_key=k, categorize=False) for k in _HASH_KEYS)


def _duplicate_rows(h1: np.ndarray, h2: np.ndarray, rows: np.ndarray) -> np.ndarray:
    order = np.lexsort((h2, h1))
    a, b = h1[order], h2[order]
    same = (a[1:] == a[:-1]) & (b[1:] == b[:-1])
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] |= same
    dup[:-1] |= same
    return np.sort(rows[order][dup])


# -- pass 1: validate ------------------------------------------------------------------


@dataclass
class _Checked:
    plans: list[ColumnPlan]
    rows: int
    accounts: set[str]
    dates: set[str]
    warnings: list[str]


def _validate(
    snap: BatchSource, sources: Mapping[str, str], file: str, *, as_of: str | None,
    stored_kinds: Mapping[str, str], max_categories: int, progress: ProgressFn | None,
) -> _Checked:
    problems = Problems()
    parser = BatchParser(sources, problems, as_of)
    metrics = [name for name in sources if name not in CANONICAL]
    stats = {name: MetricStats(sources[name]) for name in metrics}
    hashes: list[tuple[np.ndarray, np.ndarray]] = []
    numbers: list[np.ndarray] = []
    accounts: set[str] = set()
    dates: set[str] = set()
    rows_seen = 0
    no_at = 0
    for columns, rows in _numbered(snap, sources):
        canon = parser.canonical(columns, rows)
        ids, days = canon["account_id"], canon["as_of"]
        # Only rows with a valid id and date can repeat one: a blank or bad date is its
        # own error, not a second "same account and date".
        keyed = pa.compute.and_(pa.compute.is_valid(ids), pa.compute.is_valid(days))
        keyed = keyed.to_numpy(zero_copy_only=False)
        hashes.append(_key_hashes(ids.filter(pa.array(keyed)), days.filter(pa.array(keyed))))
        numbers.append(rows[keyed])
        accounts.update(pa.compute.unique(ids.drop_null()).to_pylist())
        dates.update(pa.compute.unique(days.drop_null()).to_pylist())
        mails = canon["owner_email"]
        no_at += int(pa.compute.sum(pa.compute.invert(
            pa.compute.match_substring(mails.drop_null(), "@"))).as_py() or 0)
        for name in metrics:
            stats[name].observe(columns[name], rows, max_categories)
        rows_seen += len(rows)
        if progress:
            progress("checking", len(rows), 0)
    if hashes:
        dup = _duplicate_rows(np.concatenate([h[0] for h in hashes]),
                              np.concatenate([h[1] for h in hashes]), np.concatenate(numbers))
        if len(dup):
            problems.add_rows("account_id, as_of", "repeats the same account and date",
                              RowNumbers(dup[:MAX_ROWS_NAMED].tolist(), len(dup)))
    plans = []
    for name in metrics:
        kind = settle_kind(stats[name], stored_kinds.get(name), problems)
        note = None
        if kind == "text":
            note = ("free text or ids (too many distinct values for a category): "
                    "kept for display, left out of the models")
        plans.append(ColumnPlan(name, sources[name], kind, kind != "text", note))
    if problems:
        raise IngestError(file, problems.as_list(), snap.noun)
    if rows_seen == 0:
        raise IngestError(file, [(None, "has no rows", [])], snap.noun)
    warnings = []
    if no_at:
        warnings.append(f"{no_at} owner_email values have no '@'; those owners cannot be found in Slack")
    return _Checked(plans, rows_seen, accounts, dates, warnings)


# -- pass 2: store ----------------------------------------------------------------------


def _python_values(values: object) -> list:
    """Column values for sqlite3: text as str/None; NaN floats are stored as NULL by SQLite."""
    if isinstance(values, np.ndarray):
        return values.tolist()
    return values.to_pylist()  # type: ignore[union-attr]


def _store_rows(
    store: Store, snap: BatchSource, sources: Mapping[str, str], checked: _Checked,
    as_of: str | None, sha: str, file: str, progress: ProgressFn | None,
) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    existing = set(store.snapshot_columns())
    known = set(store.frame("SELECT name FROM metrics")["name"])
    kinds = {p.name: p.kind for p in checked.plans}
    fixed = [c for c in SNAPSHOT_FIXED if c in sources or c in ("account_id", "as_of")]
    columns = fixed + [METRIC_PREFIX + p.name for p in checked.plans]
    quoted = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in ("account_id", "as_of"))
    sql = (f"INSERT INTO snapshots ({quoted}) VALUES ({', '.join('?' * len(columns))}) "
           f"ON CONFLICT (account_id, as_of) DO {'UPDATE SET ' + updates if updates else 'NOTHING'}")
    throwaway = Problems()  # pass 1 already found every problem
    with store.transaction() as conn:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB while bulk-writing
        for plan in checked.plans:
            column = METRIC_PREFIX + plan.name
            if column not in existing:
                sql_type = "REAL" if plan.kind in ("numeric", "boolean") else "TEXT"
                conn.execute(f'ALTER TABLE snapshots ADD COLUMN "{column}" {sql_type}')
            if plan.name not in known:
                conn.execute(
                    "INSERT INTO metrics (name, source_name, kind, in_model, note, first_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (plan.name, plan.source_name, plan.kind, int(plan.in_model), plan.note, now),
                )
            elif plan.kind == "numeric":
                conn.execute("UPDATE metrics SET kind = 'numeric' WHERE name = ? AND kind = 'boolean'",
                             (plan.name,))
        parser = BatchParser(sources, throwaway, as_of)
        for batch, rows in _numbered(snap, sources):
            canon = parser.canonical(batch, rows)
            values = [_python_values(canon[c]) for c in fixed]
            values += [_python_values(metric_values(batch[name], kinds[name])) for name in kinds]
            conn.executemany(sql, zip(*values, strict=True))
            if progress:
                progress("storing", len(rows), checked.rows)
        _refresh_accounts(conn, checked.accounts)
        conn.execute(
            "INSERT INTO ingests (file, sha256, rows, accounts, first_as_of, last_as_of, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (file, sha, checked.rows, len(checked.accounts), min(checked.dates), max(checked.dates), now),
        )


# One index-only pass for each account's first and last date, then one row look-up
# per account; the fallback name is looked for only when the latest row has none
# (coalesce stops at its first non-null argument). Window functions would sort the
# whole table instead.
_LATEST_SQL = """
WITH span AS (
    SELECT account_id, min(as_of) AS first_as_of, max(as_of) AS last_as_of
    FROM snapshots WHERE account_id IN (SELECT account_id FROM _touched)
    GROUP BY account_id
)
SELECT s.account_id, s.as_of, s.owner_email, s.owner_slack_id, s.arr, s.renewal_date,
       s.products, s.status, span.first_as_of,
       coalesce(s.name, (SELECT n.name FROM snapshots n WHERE n.account_id = s.account_id
                         AND n.name IS NOT NULL ORDER BY n.as_of DESC LIMIT 1),
                s.account_id) AS name
FROM span JOIN snapshots s ON s.account_id = span.account_id AND s.as_of = span.last_as_of
"""


def _refresh_accounts(conn: sqlite3.Connection, account_ids: Iterable[str]) -> None:
    """Rebuild `accounts` rows of these accounts from their whole stored history.

    The latest snapshot gives the attributes (an older file ingested later changes
    nothing); the latest non-blank name is the display name, else the id.
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _touched (account_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _touched")
    conn.executemany("INSERT INTO _touched VALUES (?)", ((a,) for a in account_ids))
    rows = []
    for r in conn.execute(_LATEST_SQL):
        (account_id, as_of, email, slack_id, arr, renewal, products, status, first, name) = r
        rows.append((account_id, name, name.casefold(), email, slack_id, arr, renewal, products,
                     status, first, as_of))
    conn.executemany(
        "INSERT OR REPLACE INTO accounts (account_id, name, name_key, owner_email, owner_slack_id,"
        " arr, renewal_date, products, status, first_as_of, last_as_of)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("DELETE FROM _touched")


def _check_as_of(file: str, as_of: str | date | None) -> str | None:
    if isinstance(as_of, date):
        as_of = as_of.isoformat()
    if as_of is not None and (not ISO_DATE.match(as_of) or pd.isna(pd.to_datetime(as_of, errors="coerce"))):
        raise IngestError(file, [("--as-of", f"{as_of!r} is not a date in YYYY-MM-DD form", [])])
    return as_of


def ingest_file(
    store: Store,
    path: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    as_of: str | date | None = None,
    max_categories: int = 30,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Validate one file completely, then store it in one transaction.

    Raises IngestError (nothing stored) when the file breaks the data contract.
    A file already ingested byte for byte is reported unchanged and not re-read.
    `progress(phase, rows, total)` follows both passes (see ProgressFn).
    """
    file = str(path)
    as_of = _check_as_of(file, as_of)
    try:
        snap = open_snapshot_file(path)
    except FileProblem as exc:
        raise IngestError(file, [(None, str(exc), [])]) from None
    return ingest_batches(store, snap, column_map=column_map, as_of=as_of,
                          max_categories=max_categories, progress=progress)


def ingest_batches(
    store: Store,
    snap: BatchSource,
    *,
    column_map: Mapping[str, str] | None = None,
    as_of: str | date | None = None,
    max_categories: int = 30,
    progress: ProgressFn | None = None,
    check_only: bool = False,
) -> IngestReport:
    """Validate a source's rows completely, then store them in one transaction.

    The same rules for every source (a file, a SQL result): raises IngestError
    (nothing stored) when a row breaks the data contract. A source whose
    fingerprint was ingested before is reported unchanged and not re-read.
    `check_only`: validate and report, store nothing (a preview).
    """
    file = snap.label
    as_of = _check_as_of(file, as_of)
    try:
        report = IngestReport(file=file)
        seen = store.scalar("SELECT rows FROM ingests WHERE sha256 = ?", (snap.fingerprint,))
        if seen is not None:
            report.unchanged, report.rows = True, int(seen)
            return report
        sources = plan_columns(snap.headers, column_map or {}, file, as_of, snap.noun)
        stored = store.metrics()
        checked = _validate(
            snap, sources, file, as_of=as_of, max_categories=max_categories, progress=progress,
            stored_kinds=dict(zip(stored["name"], stored["kind"], strict=True)),
        )
        before = store.scalar("SELECT count(*) FROM accounts")
        if not check_only:
            _store_rows(store, snap, sources, checked, as_of, snap.fingerprint, file, progress)
    except SourceProblem as exc:
        raise IngestError(file, [(None, str(exc), [])], snap.noun) from None
    report.rows = checked.rows
    report.accounts = len(checked.accounts)
    report.new_accounts = (len(checked.accounts - set(store.frame(
        "SELECT account_id FROM accounts")["account_id"])) if check_only
        else store.scalar("SELECT count(*) FROM accounts") - before)
    report.dates = sorted(checked.dates)
    report.metrics = [p for p in checked.plans if p.in_model]
    report.left_out = [p for p in checked.plans if not p.in_model]
    report.warnings = checked.warnings
    return report
