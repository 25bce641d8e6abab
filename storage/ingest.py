"""Validate and store account snapshots from files (CSV or Parquet) or any other
`storage.batch_source.BatchSource` (a SQL query's result, `storage.sources`).

One streaming pass over the source checks every row against the data contract and
stores it in the same transaction (a worker thread writes a batch while the next is
checked); the first problem stops the writing, and any problem rolls the transaction
back. So a rejected file leaves the database exactly as it was, a failure while
writing rolls back, and a file of millions of rows never sits in memory whole. Each
metric column is stored as its first batch suggests; in the rare case the whole file
settles it otherwise (numbers first, words later), the transaction is rolled back and
the file is checked, then stored with its settled kinds, in two passes. Every rejection names the file, the column and
the first row numbers (spreadsheet numbering: a CSV header is row 1, its first
data row is row 2; Parquet rows count from 1).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from storage.batch_source import BatchSource, SourceProblem
from storage.bulk import create_indexes, drop_indexes
from storage.columns import normalize_column
from storage.contract import (
    CANONICAL,
    ISO_DATE,
    MAX_ROWS_NAMED,
    REQUIRED,
    BatchParser,
    MetricStats,
    Problems,
    RowNumbers,
    metric_values,
    settle_kind,
)
from storage.errors import IngestError
from storage.snapshot_file import FileProblem, open_snapshot_file
from storage.store import METRIC_PREFIX, Store

SNAPSHOT_FIXED = ("account_id", "as_of", "name", "owner_email", "owner_slack_id", "arr",
                  "renewal_date", "products", "status", "churned", "upsold", "customer_since")
# (phase, rows just handled, rows in the file): phase "checking" (total not known
# yet, 0) then "storing".
ProgressFn = Callable[[str, int, int], None]


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
    # The rows as stored (for the label summary); None when nothing was stored.
    stored: StoredRows | None = field(default=None, repr=False)


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


def _codes(values: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """The distinct non-null values, and each row's index among them (-1 for null): one
    dictionary encoding (its chunks share one dictionary, so combining them is free)."""
    encoded = values.dictionary_encode().combine_chunks()
    return encoded.dictionary, pa.compute.fill_null(encoded.indices, -1).to_numpy().astype("int64")


def _repeated(keys: np.ndarray, span: int) -> np.ndarray:
    """Which of these non-negative integer keys (all < span) occur more than once."""
    if span <= 4 * len(keys) + 1024:  # a dense key space: count each key
        return np.bincount(keys, minlength=span)[keys] > 1
    order = np.argsort(keys, kind="stable")
    same = np.diff(keys[order]) == 0
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    return repeated


def _duplicate_rows(account: np.ndarray, day: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Row numbers of every (account, date) that occurs more than once, in order.

    `account`, `day`: each row's account and date code (`_codes`; -1 where blank or bad:
    such a row is no duplicate, that is its own error). Keys are integers, counted in
    numpy: no Python object and no string hashed per row."""
    keyed = (account >= 0) & (day >= 0)
    keys = account * (int(day.max(initial=0)) + 1) + day
    if not keyed.all():
        keys, rows = keys[keyed], rows[keyed]
    span = int(keys.max(initial=-1)) + 1
    return np.sort(rows[_repeated(keys, span)])


# -- checking -----------------------------------------------------------------------


@dataclass
class _Checked:
    plans: list[ColumnPlan]
    rows: int
    accounts: pa.Array  # the distinct account ids
    dates: set[str]
    warnings: list[str]
    # Each row's account (index into `accounts`) and date (index into `days`), in order.
    account: np.ndarray = field(default_factory=lambda: np.zeros(0, "int64"), repr=False)
    day: np.ndarray = field(default_factory=lambda: np.zeros(0, "int64"), repr=False)
    days: pa.Array = field(default_factory=lambda: pa.array([], pa.string()), repr=False)


@dataclass
class StoredRows:
    """What the outcome labels need of the rows just stored, kept from the ingest so the
    book's label summary need not read them back (`scoring.book_labels`)."""

    account: np.ndarray  # each row's account: an index into account_ids
    account_ids: pa.Array
    day: np.ndarray  # each row's as_of: an index into days
    days: list[str]
    left: np.ndarray  # status is churned
    arr: np.ndarray  # float64, NaN = blank
    churned: np.ndarray  # explicit labels, float64, NaN = blank
    upsold: np.ndarray
    # Dates the store had no rows of before: there, the stored rows are exactly these.
    new_dates: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.left)


class _Checker:
    """Every rule of the contract over a source's batches; `finish` raises IngestError."""

    def __init__(self, sources: Mapping[str, str], file: str, noun: str, *, as_of: str | None,
                 stored_kinds: Mapping[str, str], max_categories: int) -> None:
        self.sources, self.file, self.noun = sources, file, noun
        self.stored_kinds, self.max_categories = stored_kinds, max_categories
        self.problems = Problems()
        self.parser = BatchParser(sources, self.problems, as_of)
        self.metrics = [name for name in sources if name not in CANONICAL]
        self.stats = {name: MetricStats(sources[name]) for name in self.metrics}
        # Per batch, in Arrow (no Python object per row): the ids and dates, and the
        # row numbers, for the duplicates and the accounts.
        self.ids: list[pa.Array] = []
        self.days: list[pa.Array] = []
        self.numbers: list[np.ndarray] = []
        self.rows = 0
        self.no_at = 0

    def batch(self, columns: Mapping[str, pa.Array], rows: np.ndarray
              ) -> tuple[dict[str, object], dict[str, np.ndarray | None]]:
        """Check one batch: its canonical columns, and the numbers parsed from each metric."""
        canon = self.parser.canonical(columns, rows)
        ids, days = canon["account_id"], canon["as_of"]
        self.ids.append(ids)
        self.days.append(days)
        self.numbers.append(rows)
        mails = canon["owner_email"]
        self.no_at += int(pa.compute.sum(pa.compute.invert(
            pa.compute.match_substring(mails.drop_null(), "@"))).as_py() or 0)
        parsed = {name: self.stats[name].observe(columns[name], rows, self.max_categories)
                  for name in self.metrics}
        self.rows += len(rows)
        return canon, parsed

    def kinds_so_far(self) -> dict[str, str]:
        """Each metric's kind from the batches seen so far (a guess until `finish`)."""
        return {name: settle_kind(self.stats[name], self.stored_kinds.get(name), Problems())
                for name in self.metrics}

    def finish(self) -> _Checked:
        problems = self.problems
        accounts, account = _codes(pa.chunked_array(self.ids, pa.string()))
        days, day = _codes(pa.chunked_array(self.days, pa.string()))
        if self.rows:
            dup = _duplicate_rows(account, day, np.concatenate(self.numbers))
            if len(dup):
                problems.add_rows("account_id, as_of", "repeats the same account and date",
                                  RowNumbers(dup[:MAX_ROWS_NAMED].tolist(), len(dup)))
        plans = []
        for name in self.metrics:
            kind = settle_kind(self.stats[name], self.stored_kinds.get(name), problems)
            note = None
            if kind == "text":
                note = ("free text or ids (too many distinct values for a category): "
                        "kept for display, left out of the models")
            plans.append(ColumnPlan(name, self.sources[name], kind, kind != "text", note))
        if problems:
            raise IngestError(self.file, problems.as_list(), self.noun)
        if self.rows == 0:
            raise IngestError(self.file, [(None, "has no rows", [])], self.noun)
        warnings = []
        if self.no_at:
            warnings.append(f"{self.no_at} owner_email values have no '@'; those owners cannot "
                            "be found in Slack")
        return _Checked(plans, self.rows, accounts, set(days.to_pylist()), warnings, account,
                        day, days)


def _validate(
    snap: BatchSource, sources: Mapping[str, str], file: str, *, as_of: str | None,
    stored_kinds: Mapping[str, str], max_categories: int, progress: ProgressFn | None,
) -> _Checked:
    """Check every row, writing nothing."""
    checker = _Checker(sources, file, snap.noun, as_of=as_of, stored_kinds=stored_kinds,
                       max_categories=max_categories)
    for columns, rows in _numbered(snap, sources):
        checker.batch(columns, rows)
        if progress:
            progress("checking", len(rows), 0)
    return checker.finish()


# -- storing ----------------------------------------------------------------------------


class _KindsMoved(Exception):
    """A metric's kind over the whole source stores differently from its first batch's."""


def _stored_alike(guess: str, kind: str) -> bool:
    """Values stored under `guess` are exactly those `kind` would store (text is text)."""
    return guess == kind or (guess in ("category", "text") and kind in ("category", "text"))


def _python_values(values: object) -> list:
    """Column values for sqlite3: text as str/None; NaN floats are stored as NULL by SQLite."""
    if isinstance(values, np.ndarray):
        return values.tolist()
    return values.to_pylist()  # type: ignore[union-attr]


class _Writer:
    """The INSERT of a source's rows, and the columns and registry entries it needs.

    Each batch is inserted by a worker thread while the caller reads and checks the
    next one (SQLite releases the GIL while it writes); `flush` waits for the writes
    and re-raises their errors, `close` stops the worker. Only one write is in flight
    and the caller uses the connection only when none is.
    """

    def __init__(self, conn: sqlite3.Connection, store: Store, sources: Mapping[str, str],
                 kinds: Mapping[str, str], *, store_was_empty: bool = False) -> None:
        self.conn, self.kinds = conn, dict(kinds)
        self.store_was_empty = store_was_empty  # then every date is new
        existing = set(store.snapshot_columns())
        self.fixed = [c for c in SNAPSHOT_FIXED if c in sources or c in ("account_id", "as_of")]
        for name, kind in self.kinds.items():
            column = METRIC_PREFIX + name
            if column not in existing:
                sql_type = "REAL" if kind in ("numeric", "boolean") else "TEXT"
                conn.execute(f'ALTER TABLE snapshots ADD COLUMN "{column}" {sql_type}')
        columns = self.fixed + [METRIC_PREFIX + name for name in self.kinds]
        quoted = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns
                            if c not in ("account_id", "as_of"))
        self.sql = (f"INSERT INTO snapshots ({quoted}) VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT (account_id, as_of) DO "
                    f"{'UPDATE SET ' + updates if updates else 'NOTHING'}")
        self.kept: dict[str, list] = {k: [] for k in ("left", "arr", "churned", "upsold")}
        self.seen_dates: set[str] = set()
        self.new_dates: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outcomes-ingest")
        self._pending: Future | None = None

    def write(self, batch: Mapping[str, pa.Array], canon: Mapping[str, object],
              parsed: Mapping[str, np.ndarray | None] | None = None) -> None:
        columns: list[object] = [canon[c] for c in self.fixed]
        for name, kind in self.kinds.items():
            got = parsed.get(name) if parsed and kind == "numeric" else None
            columns.append(got if got is not None else (batch[name], kind))
        days = set(pa.compute.unique(canon["as_of"].drop_null()).to_pylist()) - self.seen_dates
        self.seen_dates |= days
        self.flush()
        self._pending = self._pool.submit(self._insert, days, columns)
        kept = self.kept
        status = canon["status"]
        kept["left"].append(pa.compute.fill_null(pa.compute.equal(status, "churned"), False)
                            .to_numpy(zero_copy_only=False))
        for name in ("arr", "churned", "upsold"):
            kept[name].append(np.asarray(canon[name], dtype="float64"))

    def _insert(self, days: set[str], columns: list[object]) -> None:
        """On the worker thread: the batch's values as Python objects, then the INSERT (the
        caller's thread meanwhile checks the next batch in Arrow, without the GIL)."""
        values = [_python_values(metric_values(*c) if isinstance(c, tuple) else c) for c in columns]
        del columns
        for day in days:  # first seen in this batch, so no earlier batch stored it
            if self.store_was_empty or not self.conn.execute("SELECT 1 FROM snapshots WHERE as_of = ? LIMIT 1",
                                     (day,)).fetchone():
                self.new_dates.add(day)
        self.conn.executemany(self.sql, zip(*values, strict=True))

    def flush(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        """Wait for the write in flight (its error, if any, is the caller's to raise)."""
        if self._pending is not None:
            wait([self._pending])
            self._pending = None
        self._pool.shutdown(wait=True)

    def register(self, plans: Sequence[ColumnPlan], now: str) -> None:
        self.flush()
        known = {r[0] for r in self.conn.execute("SELECT name FROM metrics")}
        for plan in plans:
            if plan.name not in known:
                self.conn.execute(
                    "INSERT INTO metrics (name, source_name, kind, in_model, note, first_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (plan.name, plan.source_name, plan.kind, int(plan.in_model), plan.note, now),
                )
            elif plan.kind == "numeric":
                self.conn.execute("UPDATE metrics SET kind = 'numeric' WHERE name = ? AND kind = 'boolean'",
                                  (plan.name,))

    def stored_rows(self, checked: _Checked) -> StoredRows:
        """The rows written, with the account and date codes the checks made of them."""
        k = self.kept
        cat = (lambda xs, dtype: np.concatenate(xs) if xs else np.zeros(0, dtype))
        return StoredRows(checked.account, checked.accounts, checked.day, checked.days.to_pylist(),
                          cat(k["left"], bool), cat(k["arr"], "float64"),
                          cat(k["churned"], "float64"), cat(k["upsold"], "float64"),
                          self.new_dates)


@contextmanager
def _bulk_writing(conn: sqlite3.Connection) -> Iterator[list[str]]:
    """Inside a transaction: a large page cache while it writes (the connection's own
    size again after), and, on a store with no snapshots yet, the snapshots' secondary
    indexes dropped; `_build_indexes` makes them again from one sort each, which is
    quicker than updating them row by row. A rollback brings them back as they were.
    Yields the SQL of the dropped indexes."""
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
    dropped: list[str] = []
    try:
        if not conn.execute("SELECT 1 FROM snapshots LIMIT 1").fetchone():
            dropped = drop_indexes(conn, "snapshots")
        yield dropped
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache)}")


def _build_indexes(conn: sqlite3.Connection, dropped: list[str]) -> None:
    create_indexes(conn, dropped)
    dropped.clear()


def _finish_store(conn: sqlite3.Connection, checked: _Checked, sha: str, file: str, now: str,
                  *, only_these: bool = False) -> None:
    """`only_these`: the store held no other snapshots (every account is one of this source)."""
    _refresh_accounts(conn, () if only_these else checked.accounts.to_pylist(),
                      every_account=only_these)
    conn.execute(
        "INSERT INTO ingests (file, sha256, rows, accounts, first_as_of, last_as_of, ingested_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (file, sha, checked.rows, len(checked.accounts), min(checked.dates), max(checked.dates), now),
    )


def _check_and_store(
    store: Store, snap: BatchSource, sources: Mapping[str, str], file: str, *, as_of: str | None,
    stored_kinds: Mapping[str, str], max_categories: int, progress: ProgressFn | None,
) -> tuple[_Checked, StoredRows]:
    """One pass: check every row and store it in the same transaction; any problem rolls
    it all back, so a rejected source stores nothing, as with two passes.

    Each metric is stored as its first batch suggests; raises _KindsMoved (rolled back)
    when the whole source settles a metric's kind otherwise.
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    checker = _Checker(sources, file, snap.noun, as_of=as_of, stored_kinds=stored_kinds,
                       max_categories=max_categories)
    writer: _Writer | None = None
    with store.bulk_commit(), store.transaction() as conn, _bulk_writing(conn) as dropped:
        try:
            for columns, rows in _numbered(snap, sources):
                canon, parsed = checker.batch(columns, rows)
                if writer is None:
                    writer = _Writer(conn, store, sources, checker.kinds_so_far(),
                                     store_was_empty=bool(dropped))
                if not checker.problems:  # after the first problem, only checking goes on
                    writer.write(columns, canon, parsed)
                if progress:
                    progress("checking", len(rows), 0)
            # The whole-source checks (duplicates, kinds) while the last batch is written.
            checked = checker.finish()
            assert writer is not None  # finish() raised if there were no rows
            writer.flush()
            if not all(_stored_alike(writer.kinds[p.name], p.kind) for p in checked.plans):
                raise _KindsMoved
            writer.register(checked.plans, now)
        finally:
            if writer is not None:
                writer.close()  # before the transaction ends, whichever way
        only_these = bool(dropped)
        _build_indexes(conn, dropped)
        _finish_store(conn, checked, snap.fingerprint, file, now, only_these=only_these)
    return checked, writer.stored_rows(checked)


def _store_rows(
    store: Store, snap: BatchSource, sources: Mapping[str, str], checked: _Checked,
    as_of: str | None, sha: str, file: str, progress: ProgressFn | None,
) -> StoredRows:
    """The second of two passes: store rows already checked, with their settled kinds."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    throwaway = Problems()  # the first pass already found every problem
    parser = BatchParser(sources, throwaway, as_of)
    with store.bulk_commit(), store.transaction() as conn, _bulk_writing(conn) as dropped:
        writer = _Writer(conn, store, sources, {p.name: p.kind for p in checked.plans},
                         store_was_empty=bool(dropped))
        try:
            writer.register(checked.plans, now)
            for batch, rows in _numbered(snap, sources):
                writer.write(batch, parser.canonical(batch, rows))
                if progress:
                    progress("storing", len(rows), checked.rows)
            writer.flush()
        finally:
            writer.close()
        only_these = bool(dropped)
        _build_indexes(conn, dropped)
        _finish_store(conn, checked, sha, file, now, only_these=only_these)
    return writer.stored_rows(checked)


# One index-only pass for each account's first and last date, then one row look-up
# per account; the fallback name is looked for only when the latest row has none
# (coalesce stops at its first non-null argument). Window functions would sort the
# whole table instead.
_LATEST_SQL = """
WITH span AS (
    SELECT account_id, min(as_of) AS first_as_of, max(as_of) AS last_as_of
    FROM snapshots {where}
    GROUP BY account_id
)
SELECT s.account_id, s.as_of, s.owner_email, s.owner_slack_id, s.arr, s.renewal_date,
       s.products, s.status, span.first_as_of,
       coalesce(s.name, (SELECT n.name FROM snapshots n WHERE n.account_id = s.account_id
                         AND n.name IS NOT NULL ORDER BY n.as_of DESC LIMIT 1),
                s.account_id) AS name
FROM span JOIN snapshots s ON s.account_id = span.account_id AND s.as_of = span.last_as_of
"""


def _refresh_accounts(conn: sqlite3.Connection, account_ids: Iterable[str], *,
                      every_account: bool = False) -> None:
    """Rebuild `accounts` rows of these accounts from their whole stored history.

    The latest snapshot gives the attributes (an older file ingested later changes
    nothing); the latest non-blank name is the display name, else the id.
    `every_account`: they are all the store's accounts (its first ingest), so one scan
    of the key index replaces a look-up per account.
    """
    if every_account:
        latest = _LATEST_SQL.format(where="")
    else:
        latest = _LATEST_SQL.format(where="WHERE account_id IN (SELECT account_id FROM _touched)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _touched (account_id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM _touched")
        conn.executemany("INSERT INTO _touched VALUES (?)", ((a,) for a in account_ids))
    # All in SQL: the name key is Python's casefold (as lookups compute it), not lower().
    conn.create_function("casefold", 1, str.casefold, deterministic=True)
    conn.execute(
        "INSERT OR REPLACE INTO accounts (account_id, name, name_key, owner_email, owner_slack_id,"
        " arr, renewal_date, products, status, first_as_of, last_as_of)"
        " SELECT account_id, name, casefold(name), owner_email, owner_slack_id, arr, renewal_date,"
        f" products, status, first_as_of, as_of FROM ({latest})"
    )
    if not every_account:
        conn.execute("DELETE FROM _touched")


def _check_as_of(file: str, as_of: str | date | None) -> str | None:
    if isinstance(as_of, date):
        as_of = as_of.isoformat()
    if as_of is not None and not (re.match(ISO_DATE, as_of) and _is_date(as_of)):
        raise IngestError(file, [("--as-of", f"{as_of!r} is not a date in YYYY-MM-DD form", [])])
    return as_of


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


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
        stored = dict(store.conn.execute("SELECT name, kind FROM metrics").fetchall())
        options = dict(as_of=as_of, max_categories=max_categories, progress=progress,
                       stored_kinds=stored)
        before = store.scalar("SELECT count(*) FROM accounts")
        if check_only:
            checked = _validate(snap, sources, file, **options)
        else:
            try:
                checked, report.stored = _check_and_store(store, snap, sources, file, **options)
            except _KindsMoved:  # rare: check first, then store with the settled kinds
                checked = _validate(snap, sources, file, **options)
                report.stored = _store_rows(store, snap, sources, checked, as_of,
                                            snap.fingerprint, file, progress)
    except SourceProblem as exc:
        raise IngestError(file, [(None, str(exc), [])], snap.noun) from None
    report.rows = checked.rows
    report.accounts = len(checked.accounts)
    report.new_accounts = (len(set(checked.accounts.to_pylist()) - set(store.frame(
        "SELECT account_id FROM accounts")["account_id"])) if check_only
        else store.scalar("SELECT count(*) FROM accounts") - before)
    report.dates = sorted(checked.dates)
    report.metrics = [p for p in checked.plans if p.in_model]
    report.left_out = [p for p in checked.plans if not p.in_model]
    report.warnings = checked.warnings
    return report
