"""Read, validate and store account snapshot files (CSV or Parquet).

A file is validated as a whole before anything is written and then stored in
one transaction, so a rejected file leaves the database exactly as it was. The
rules are those of the shared data contract; every rejection names the file,
the column and the first row numbers (spreadsheet numbering: the header is row
1 of a CSV, the first data row is row 2; Parquet rows count from 1).
"""

from __future__ import annotations

import codecs
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bot.config import normalize_column
from storage.store import METRIC_PREFIX, Store

MAX_ROWS_NAMED = 20
CHUNK_ROWS = 50_000

REQUIRED = ("account_id", "as_of")
TEXT_COLUMNS = ("account_id", "name", "owner_email", "owner_slack_id", "products", "status")
DATE_COLUMNS = ("as_of", "renewal_date")
BOOL_COLUMNS = ("churned", "upsold")
CANONICAL = (*TEXT_COLUMNS, *DATE_COLUMNS, *BOOL_COLUMNS, "arr")

TRUE_WORDS = frozenset({"true", "yes", "1", "y", "1.0"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "0.0"})
STATUSES = frozenset({"active", "churned"})
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Below this share of text among a column's non-blank values, the text is a stray
# value in a numeric column (an error), not a category.
STRAY_TEXT_SHARE = 0.05
PARQUET_MAGIC = b"PAR1"

ProgressFn = Callable[[int, int], None]  # (rows just stored, rows in the file)


class IngestError(Exception):
    """A file that cannot be stored. `problems` lists (column, message, rows)."""

    def __init__(self, file: str, problems: Sequence[tuple[str | None, str, Sequence[int]]]):
        self.file = file
        self.problems = list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"{self.file}: rejected, nothing from this file was stored."]
        for column, message, rows in self.problems:
            where = f"column {column!r}: " if column else ""
            if rows:
                total = getattr(rows, "total", len(rows))
                shown = ", ".join(str(r) for r in rows[:MAX_ROWS_NAMED])
                more = f" (and {total - MAX_ROWS_NAMED} more)" if total > MAX_ROWS_NAMED else ""
                lines.append(f"  - {where}{message} at row{'s' if len(rows) > 1 else ''} {shown}{more}")
            else:
                lines.append(f"  - {where}{message}")
        return "\n".join(lines)


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


@dataclass
class _Parsed:
    frame: pd.DataFrame
    row_numbers: np.ndarray
    source_names: dict[str, str]


# -- reading ------------------------------------------------------------------------


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                raise IngestError(
                    str(path),
                    [(None, f"is not UTF-8 text (bad byte at line {line}); "
                      "save it as 'CSV UTF-8' and ingest it again", [])],
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise IngestError(str(path), [(None, "ends in the middle of a UTF-8 character", [])]) from None


def _read_csv(path: Path, canonical_name: Callable[[str], str]) -> pa.Table:
    _check_utf8(path)
    _release_memory_promptly()
    with path.open("rb") as fh:
        first = fh.readline().decode("utf-8-sig")
    names = next(iter(_csv_header(first)), None)
    if not names or not any(n.strip() for n in names):
        raise IngestError(str(path), [(None, "has no header row", [])])
    # The contract's own columns are read as text and parsed by its rules (an id like
    # 00123 keeps its zeros; dates must be YYYY-MM-DD). Metric columns let Arrow's
    # fast parser infer numbers and booleans; whatever it leaves as text is examined
    # in `_classify`. Blank cells, and only those, are missing.
    forced = {n: pa.string() for n in names if canonical_name(n) in CANONICAL and canonical_name(n) != "arr"}
    try:
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=forced,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=["true", "True", "TRUE"],
                false_values=["false", "False", "FALSE"],
                timestamp_parsers=[],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise IngestError(str(path), [(None, f"is not a well-formed CSV file: {exc}", [])]) from None


def _release_memory_promptly() -> None:
    """Let Arrow's allocator hand freed memory back to the OS at once (peak RSS)."""
    try:
        pa.jemalloc_set_decay_ms(0)
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pass


def _csv_header(first_line: str) -> Iterable[list[str]]:
    import csv

    return csv.reader([first_line])


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(str(path), [(None, f"is not a readable Parquet file: {exc}", [])]) from None


def check_path(path: str | Path) -> Path:
    """The path if it names a non-empty file; an IngestError saying what it is otherwise."""
    p = Path(path)
    if not p.exists():
        raise IngestError(str(p), [(None, "no such file", [])])
    if p.is_dir():
        raise IngestError(str(p), [(None, "is a folder, not a file; name the CSV or Parquet files in it", [])])
    if p.stat().st_size == 0:
        raise IngestError(str(p), [(None, "is empty", [])])
    return p


def read_file(
    path: str | Path, canonical_name: Callable[[str], str] = normalize_column
) -> tuple[pd.DataFrame, int]:
    """The file as a DataFrame of its own columns, and the row number of its first row."""
    p = check_path(path)
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic == PARQUET_MAGIC or p.suffix.lower() in (".parquet", ".pq"):
        table, first_row = _read_parquet(p), 1
    else:
        table, first_row = _read_csv(p, canonical_name), 2
    if table.num_rows == 0:
        raise IngestError(str(p), [(None, "has a header but no rows", [])])
    # self_destruct frees each Arrow column as it is converted: one copy in memory, not two.
    frame = table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype()}.get, self_destruct=True, split_blocks=True
    )
    del table
    return frame, first_row


# -- canonical names ---------------------------------------------------------------


def canonicalize(
    frame: pd.DataFrame, column_map: Mapping[str, str], file: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename columns to canonical names; return the frame and name -> source header."""
    renamed: dict[str, str] = {}
    sources: dict[str, str] = {}
    clashes = []
    for header in frame.columns:
        key = normalize_column(header)
        name = column_map.get(key, key)
        if not name:
            clashes.append((str(header), "has no usable name (blank header)"))
            continue
        if name in sources:
            clashes.append((str(header), f"means the same column as {sources[name]!r}"))
            continue
        renamed[header] = name
        sources[name] = str(header)
    if clashes:
        raise IngestError(file, [(c, msg, []) for c, msg in clashes])
    return frame.rename(columns=renamed), sources


# -- cell parsing -----------------------------------------------------------------


def _as_text(col: pd.Series) -> pd.Series:
    """Trimmed text with blanks (and whitespace-only cells) as NA."""
    if not isinstance(col.dtype, pd.StringDtype):
        col = col.astype("string")
    col = col.str.strip()
    return col.mask(col == "")


class RowNumbers(list):
    """The first row numbers of a problem, and how many rows have it in all."""

    def __init__(self, rows: Iterable[int], total: int) -> None:
        super().__init__(rows)
        self.total = total


def _bad_rows(mask: pd.Series | np.ndarray, row_numbers: np.ndarray) -> RowNumbers:
    hits = row_numbers[np.asarray(mask, dtype=bool)]
    return RowNumbers((int(r) for r in hits[:MAX_ROWS_NAMED]), len(hits))


def _count(mask: pd.Series | np.ndarray) -> int:
    return int(np.asarray(mask, dtype=bool).sum())


def _parse_dates(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO dates as 'YYYY-MM-DD' strings, and a mask of cells that are not dates."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        parsed = col.dt.strftime("%Y-%m-%d").astype("string")
        return parsed, pd.Series(False, index=col.index)
    if col.dtype == object and col.map(lambda v: isinstance(v, date), na_action="ignore").any():
        col = col.map(lambda v: v.isoformat()[:10] if isinstance(v, date) else v, na_action="ignore")
    text = _as_text(col)
    stamp = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = text.notna() & (stamp.isna() | ~text.str.fullmatch(ISO_DATE.pattern).fillna(False))
    return stamp.dt.strftime("%Y-%m-%d").astype("string"), bad


def _parse_bool(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("Float64"), pd.Series(False, index=col.index)
    text = _as_text(col).str.lower()
    out = pd.Series(pd.NA, index=col.index, dtype="Float64")
    out[text.isin(TRUE_WORDS).fillna(False).to_numpy()] = 1.0
    out[text.isin(FALSE_WORDS).fillna(False).to_numpy()] = 0.0
    bad = text.notna() & out.isna()
    return out, bad


def _parse_number(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("float64"), pd.Series(False, index=col.index)
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.astype("float64"), pd.Series(False, index=col.index)
    text = _as_text(col)
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = text.notna() & pd.Series(np.isnan(num.to_numpy()), index=col.index)
    inf = pd.Series(np.isinf(num.to_numpy()), index=col.index)
    return num.where(~inf), bad | inf


# -- validation ---------------------------------------------------------------------


def _infer_kind(col: pd.Series, max_categories: int) -> str:
    """numeric, boolean, category or text, from the values alone."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(col.dtype):
        return "numeric"
    text = _as_text(col)
    filled = text.dropna()
    if filled.empty:
        return "numeric"
    lowered = filled.str.lower()
    if lowered.isin(TRUE_WORDS | FALSE_WORDS).all() and not lowered.isin({"0", "1", "0.0", "1.0"}).all():
        return "boolean"
    # A sample settles plain text columns cheaply; numbers with stray text need the full count.
    sample = filled.iloc[:: max(1, len(filled) // 2000)]
    if _count(_parse_number(sample)[1]) > 0.5 * len(sample):
        return "category" if filled.nunique() <= max_categories else "text"
    not_numbers = _count(_parse_number(filled)[1])
    if not_numbers <= STRAY_TEXT_SHARE * len(filled):
        return "numeric"  # any text left in it is a stray value, reported by the caller
    return "category" if filled.nunique() <= max_categories else "text"


def _classify(
    name: str, source: str, col: pd.Series, stored_kind: str | None, max_categories: int,
    row_numbers: np.ndarray, problems: list,
) -> tuple[ColumnPlan, pd.Series]:
    """Decide what a non-canonical column is; the stored kind wins over this file's."""
    kind = _infer_kind(col, max_categories)
    numeric_before = stored_kind in ("numeric", "boolean")
    if stored_kind is not None and numeric_before != (kind in ("numeric", "boolean")):
        kind = stored_kind  # a text column stays text; a numeric one must get numbers
    if kind == "boolean" and stored_kind == "numeric":
        kind = "numeric"
    if kind == "boolean":
        values, _ = _parse_bool(col)
    elif kind == "numeric":
        values, bad = _parse_number(col)
        if bad.any():
            sample = _as_text(col)[bad].iloc[0]
            where = "in the stored data" if stored_kind else "in this file"
            problems.append((source, f"is numeric {where} but has text such as {sample!r} "
                             "(leave a missing value blank)", _bad_rows(bad, row_numbers)))
    else:
        values = _as_text(col)
    note = None
    if kind == "text":
        note = ("free text or ids (too many distinct values for a category): "
                "kept for display, left out of the models")
    return ColumnPlan(name, source, kind, kind != "text", note), values


def validate(
    parsed: _Parsed, file: str, *, as_of: str | None, stored_kinds: Mapping[str, str],
    max_categories: int,
) -> tuple[pd.DataFrame, list[ColumnPlan], list[str]]:
    """The canonical, typed frame ready to store, its metric plans and warnings."""
    # Columns are popped from `parsed.frame` as they are converted, so the file is
    # never held twice in memory.
    df, rows, sources = parsed.frame, parsed.row_numbers, parsed.source_names
    problems: list[tuple[str | None, str, Sequence[int]]] = []
    warnings: list[str] = []
    src = lambda c: sources.get(c, c)  # noqa: E731

    if as_of is not None and ("as_of" not in df or df["as_of"].isna().all()):
        df["as_of"] = as_of
    missing = [c for c in REQUIRED if c not in df]
    for col in missing:
        hint = " (or give --as-of DATE)" if col == "as_of" else ""
        problems.append((col, f"is required but missing{hint}; map your column to it in app.yaml 'columns'", []))
    if missing:
        raise IngestError(file, problems)

    out = pd.DataFrame(index=df.index)
    ids = _as_text(df.pop("account_id"))
    if ids.isna().any():
        problems.append((src("account_id"), "is blank", _bad_rows(ids.isna(), rows)))
    out["account_id"] = ids

    for col in DATE_COLUMNS:
        if col in df:
            values, bad = _parse_dates(df.pop(col))
            if col == "as_of" and as_of is not None:
                values = values.fillna(as_of)
            if bad.any():
                problems.append((src(col), "is not a date in YYYY-MM-DD form", _bad_rows(bad, rows)))
            blank = values.isna() & ~bad
            if col == "as_of" and blank.any():
                problems.append((src(col), "is blank", _bad_rows(blank, rows)))
            out[col] = values
        else:
            out[col] = pd.Series(pd.NA, index=df.index, dtype="string")

    for col in ("name", "owner_email", "owner_slack_id", "products"):
        out[col] = _as_text(df.pop(col)) if col in df else pd.Series(pd.NA, index=df.index, dtype="string")
    bad_ids = out["owner_slack_id"].notna() & ~out["owner_slack_id"].str.fullmatch(SLACK_USER_ID.pattern).fillna(False)
    if bad_ids.any():
        problems.append((src("owner_slack_id"), "is not a Slack user id (U… or W…)", _bad_rows(bad_ids, rows)))
    bad_mail = out["owner_email"].notna() & ~out["owner_email"].str.contains("@", regex=False).fillna(False)
    if bad_mail.any():
        warnings.append(f"{_count(bad_mail)} owner_email values have no '@' (rows {', '.join(map(str, _bad_rows(bad_mail, rows)[:5]))}); those owners cannot be found in Slack")
    if out["products"].str.contains(r"\s;|;\s", regex=True).any():
        out["products"] = out["products"].str.replace(r"\s*;\s*", ";", regex=True)

    if "status" in df:
        status = _as_text(df.pop("status")).str.lower()
        bad = status.notna() & ~status.isin(STATUSES).fillna(False)
        if bad.any():
            problems.append((src("status"), "must be 'active' or 'churned'", _bad_rows(bad, rows)))
        out["status"] = status
    else:
        out["status"] = pd.Series(pd.NA, index=df.index, dtype="string")

    if "arr" in df:
        arr, bad = _parse_number(df.pop("arr"))
        if bad.any():
            problems.append((src("arr"), "is not a number", _bad_rows(bad, rows)))
        neg = arr < 0
        if neg.any():
            problems.append((src("arr"), "is negative (ARR must be 0 or more)", _bad_rows(neg, rows)))
        out["arr"] = arr
    else:
        out["arr"] = np.nan

    for col in BOOL_COLUMNS:
        if col in df:
            values, bad = _parse_bool(df.pop(col))
            if bad.any():
                problems.append((src(col), "is not a yes/no value (true/false, yes/no, 1/0, y/n)", _bad_rows(bad, rows)))
            out[col] = values
        else:
            out[col] = pd.Series(pd.NA, index=df.index, dtype="Float64")

    valid_keys = out["account_id"].notna() & out["as_of"].notna()
    dup = out.duplicated(["account_id", "as_of"], keep=False) & valid_keys
    if dup.any():
        problems.append(("account_id, as_of", "repeats the same account and date", _bad_rows(dup, rows)))

    plans = []
    for col in [c for c in df.columns if c not in CANONICAL]:
        plan, values = _classify(col, src(col), df.pop(col), stored_kinds.get(col), max_categories, rows, problems)
        plans.append(plan)
        out[METRIC_PREFIX + col] = values

    if problems:
        raise IngestError(file, problems)
    return out, plans, warnings


# -- storing ------------------------------------------------------------------------

_SNAPSHOT_FIXED = (
    "account_id", "as_of", "name", "owner_email", "owner_slack_id", "arr",
    "renewal_date", "products", "status", "churned", "upsold",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _records(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples for executemany. Missing text becomes None; missing numbers stay
    NaN, which SQLite stores as NULL."""
    columns = []
    for name in frame.columns:
        col = frame[name]
        if col.dtype == "float64":
            columns.append(col.to_numpy().tolist())
        else:
            columns.append(col.to_numpy(dtype=object, na_value=None).tolist())
    return list(zip(*columns, strict=True))


def _write(
    store: Store, frame: pd.DataFrame, plans: list[ColumnPlan], report: IngestReport,
    sha: str, progress: ProgressFn | None,
) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    existing_cols = set(store.snapshot_columns())
    known = set(store.frame("SELECT name FROM metrics")["name"])
    # Insert in key order (a B-tree append, not a scatter); positions, not a sorted copy.
    order = np.lexsort((frame["as_of"].to_numpy(), frame["account_id"].to_numpy()))
    columns = list(frame.columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in ("account_id", "as_of"))
    sql = (f"INSERT INTO snapshots ({quoted}) VALUES ({', '.join('?' * len(columns))}) "
           f"ON CONFLICT (account_id, as_of) DO UPDATE SET {updates}")
    before = set(r[0] for r in store.conn.execute("SELECT account_id FROM accounts"))
    with store.transaction() as conn:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB while bulk-writing
        for plan in plans:
            column = METRIC_PREFIX + plan.name
            if column not in existing_cols:
                sql_type = "REAL" if plan.kind in ("numeric", "boolean") else "TEXT"
                conn.execute(f'ALTER TABLE snapshots ADD COLUMN "{column}" {sql_type}')
            if plan.name not in known:
                conn.execute(
                    "INSERT INTO metrics (name, source_name, kind, in_model, note, first_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (plan.name, plan.source_name, plan.kind, int(plan.in_model), plan.note, now),
                )
            elif plan.kind == "numeric":
                conn.execute("UPDATE metrics SET kind = 'numeric' WHERE name = ? AND kind = 'boolean'", (plan.name,))
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = frame.iloc[order[start : start + CHUNK_ROWS]]
            conn.executemany(sql, _records(chunk))
            if progress:
                progress(len(chunk), len(frame))
        _refresh_accounts(conn, frame)
        conn.execute(
            "INSERT INTO ingests (file, sha256, rows, accounts, first_as_of, last_as_of, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (report.file, sha, report.rows, report.accounts, report.dates[0], report.dates[-1], now),
        )
    report.new_accounts = len(set(frame["account_id"].unique()) - before)


def _refresh_accounts(conn: sqlite3.Connection, frame: pd.DataFrame) -> None:
    """Upsert the latest attributes of each account seen in `frame`."""
    keys = frame[["account_id", "as_of"]]
    latest = frame.loc[keys.groupby("account_id", sort=False)["as_of"].idxmax()].set_index("account_id")
    first = keys.groupby("account_id", sort=False)["as_of"].min()
    # A blank display name falls back to the latest name given, then to the id.
    named = frame.loc[frame["name"].notna(), ["account_id", "as_of", "name"]]
    names = named.loc[named.groupby("account_id", sort=False)["as_of"].idxmax()].set_index("account_id")["name"]
    ids = latest.index.to_series()
    latest_name = ids.map(names).astype("string").fillna(ids.astype("string"))
    table = pd.DataFrame({
        "account_id": latest.index,
        "name": latest_name.to_numpy(),
        "name_key": latest_name.str.casefold().to_numpy(),
        "owner_email": latest["owner_email"].str.lower().to_numpy(),
        "owner_slack_id": latest["owner_slack_id"].to_numpy(),
        "arr": latest["arr"].to_numpy(),
        "renewal_date": latest["renewal_date"].to_numpy(),
        "products": latest["products"].to_numpy(),
        "status": latest["status"].to_numpy(),
        "first_as_of": first.reindex(latest.index).to_numpy(),
        "last_as_of": latest["as_of"].to_numpy(),
    })
    newer = "excluded.last_as_of >= accounts.last_as_of"
    latest_fields = ("name", "name_key", "owner_email", "owner_slack_id", "arr", "renewal_date",
                     "products", "status", "last_as_of")
    sets = ", ".join(f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE accounts.{c} END" for c in latest_fields)
    conn.executemany(
        f"INSERT INTO accounts ({', '.join(table.columns)}) VALUES ({', '.join('?' * len(table.columns))})"
        f" ON CONFLICT (account_id) DO UPDATE SET {sets},"
        " first_as_of = min(accounts.first_as_of, excluded.first_as_of)",
        _records(table),
    )


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
    """
    p = Path(path)
    file = str(p)
    if isinstance(as_of, date):
        as_of = as_of.isoformat()
    if as_of is not None and (not ISO_DATE.match(as_of) or pd.isna(pd.to_datetime(as_of, errors="coerce"))):
        raise IngestError(file, [("--as-of", f"{as_of!r} is not a date in YYYY-MM-DD form", [])])
    column_map = column_map or {}
    sha = _sha256(check_path(p))
    report = IngestReport(file=file)
    seen = store.scalar("SELECT rows FROM ingests WHERE sha256 = ?", (sha,))
    if seen is not None:
        report.unchanged, report.rows = True, int(seen)
        return report
    raw, first_row = read_file(p, lambda header: column_map.get(normalize_column(header), normalize_column(header)))
    frame, sources = canonicalize(raw, column_map, file)
    del raw
    parsed = _Parsed(frame, np.arange(first_row, first_row + len(frame)), sources)
    del frame
    stored = store.metrics()
    stored_kinds = dict(zip(stored["name"], stored["kind"], strict=True))
    clean, plans, warnings = validate(
        parsed, file, as_of=as_of, stored_kinds=stored_kinds, max_categories=max_categories
    )
    report.rows = len(clean)
    report.accounts = int(clean["account_id"].nunique())
    report.dates = sorted(clean["as_of"].unique())
    report.metrics = [p for p in plans if p.in_model]
    report.left_out = [p for p in plans if not p.in_model]
    report.warnings = warnings
    _write(store, clean, plans, report, sha, progress)
    return report
