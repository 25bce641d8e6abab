"""Snapshots straight from a SQL database: a query's result, ingested like a file.

    source = SqlSource("warehouse", "postgresql+psycopg://reader@db/analytics",
                       "SELECT ... WHERE updated_at > :last_sync", password_env="WAREHOUSE_PW")
    report = sync_source(store, source, column_map=...)      # SyncReport

Any SQLAlchemy 2 URL works whose driver is installed: PostgreSQL (psycopg 3) and
DuckDB (duckdb-engine) come with Outcomes; Snowflake, BigQuery and Redshift are
extras (`pip install 'outcomes[snowflake]'`).

The result is read once, in batches of BATCH_ROWS through the driver's streaming
cursor (a server-side cursor on PostgreSQL), and spooled to a temporary Arrow
file, so it is never whole in memory and the two passes of the ingest (check
every row, then store) see exactly the same rows even if the database changes
meanwhile. It then goes through `storage.ingest.ingest_batches`, the same
validation as a file: a bad result is rejected whole, naming the column and the
row numbers (the first result row is row 1), and nothing is stored.

Re-running changes nothing: the result's fingerprint (a hash of its rows, in any
order) is recorded like a file's sha256. `:last_sync` in the query is bound to the
time the last successful sync of this source started (1970-01-01 before the
first), kept in the `source_syncs` table; a failed or rejected sync leaves it, so
the next run reads the same window again. Rows read twice (an overlapping window)
are stored once: snapshots are keyed by (account_id, as_of).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from storage.batch_source import SourceProblem
from storage.deliveries import Clock, parse_stamp, stamp, system_clock
from storage.errors import IngestError, SqlSourceError
from storage.ingest import IngestReport, ProgressFn, ingest_batches
from storage.store import Store

BATCH_ROWS = 50_000
PREVIEW_ROWS = 10
LAST_SYNC = "last_sync"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
NOUN = "query result"
# Optional dialects and the extra that installs each.
EXTRAS = {"snowflake": "snowflake", "bigquery": "bigquery", "redshift": "redshift"}
_HASH_KEYS = ("0123456789abcdef", "fedcba9876543210")


@dataclass(frozen=True)
class SqlSource:
    """A query against a database. `name` None: an ad-hoc query (`ingest --sql`)."""

    name: str | None
    url: str
    query: str
    password_env: str | None = None   # the environment variable holding the password

    @property
    def key(self) -> str:
        """Which `source_syncs` row is this source's: its name, or the URL and query."""
        if self.name:
            return self.name
        digest = hashlib.sha256(f"{safe_url(self.url)}\n{self.query.strip()}".encode()).hexdigest()
        return f"sql:{digest[:16]}"

    @property
    def label(self) -> str:
        """How messages name it (never with a password)."""
        return f"source {self.name!r}" if self.name else f"query on {safe_url(self.url)}"

    @property
    def incremental(self) -> bool:
        return LAST_SYNC in bind_names(self.query)


# -- URLs and statements ---------------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def connect_url(source: SqlSource, env: Mapping[str, str] | None = None) -> Any:
    """The SQLAlchemy URL to connect with: the password comes from the environment."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    env = os.environ if env is None else env
    try:
        url = make_url(source.url)
    except ArgumentError:
        raise SqlSourceError(f"{source.label}: {source.url.split('://')[0]!r}... is not a "
                             "SQLAlchemy URL (e.g. postgresql+psycopg://user@host:5432/db)") from None
    if source.password_env:
        if url.password is not None:
            raise SqlSourceError(f"{source.label}: the URL has a password and password_env is "
                                 f"set; keep the password only in ${source.password_env}")
        password = env.get(source.password_env, "")
        if not password:
            raise SqlSourceError(f"{source.label}: set the environment variable "
                                 f"{source.password_env} to the database password")
        url = url.set(password=password)
    return url


def bind_names(query: str) -> list[str]:
    """The `:name` parameters of a query (`::` casts and quoted text are not parameters)."""
    from sqlalchemy import text

    return list(text(query).compile().params)


def statement(query: str) -> Any:
    """The query as a SQLAlchemy text() with `:last_sync` typed as a UTC timestamp."""
    from sqlalchemy import DateTime, bindparam, text

    clause = text(query)
    if LAST_SYNC in bind_names(query):
        clause = clause.bindparams(bindparam(LAST_SYNC, type_=DateTime(timezone=True)))
    return clause


_COMMENTS = re.compile(r"(--[^\n]*\n?|/\*.*?\*/|\s+)", re.DOTALL)
READING_WORDS = ("select", "with", "values", "table", "from", "(")


def _check_reads(source: SqlSource) -> None:
    start = _COMMENTS.sub(" ", source.query).strip().lower()
    if not start.startswith(READING_WORDS):
        first = start.split(" ", 1)[0] or "(nothing)"
        raise SqlSourceError(f"{source.label}: the query must be a SELECT (it starts with "
                             f"{first!r}); Outcomes only reads")


def _check_binds(source: SqlSource) -> None:
    unknown = [name for name in bind_names(source.query) if name != LAST_SYNC]
    if unknown:
        raise SqlSourceError(f"{source.label}: the query uses {', '.join(':' + n for n in unknown)};"
                             f" only :{LAST_SYNC} is bound (write '\\:' for a literal colon)")


# -- reading ------------------------------------------------------------------------------


def _plain(arr: pa.Array) -> pa.Array:
    """Arrow types the contract reads; decimals become floats, arrays ';'-joined text,
    anything else (UUIDs, intervals, structs) text."""
    kind = arr.type
    if pa.types.is_decimal(kind):
        return arr.cast(pa.float64())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        try:
            return pc.binary_join(pc.cast(arr, pa.list_(pa.string())), ";")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    plain = (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
             or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_date(kind)
             or pa.types.is_timestamp(kind) or pa.types.is_null(kind))
    if plain:
        return arr
    try:
        return pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def _column(values: Sequence[Any]) -> pa.Array:
    """One column of driver values as Arrow (mixed values as text)."""
    try:
        arr = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return _plain(arr)


def _to_batch(names: list[str], rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.RecordBatch.from_arrays([_column(c) for c in columns], names=names)


def _row_hash_sums(batch: pa.RecordBatch) -> tuple[int, int]:
    """Sums (mod 2^64) of two 64-bit hashes of every row: equal for the same rows in any order."""
    cells = [pc.fill_null(pc.cast(col, pa.string()), "\x00") for col in batch.columns]
    keys = pc.binary_join_element_wise(*cells, "\x1f").to_numpy(zero_copy_only=False)
    return tuple(int(pd.util.hash_array(keys.astype(object), hash_key=k, categorize=False)
                     .sum(dtype=np.uint64)) for k in _HASH_KEYS)


@dataclass
class SqlResult:
    """A query's result spooled to a temporary Arrow file: a `BatchSource` for the ingest.

    Each batch is stored as its own Arrow IPC stream (batches may differ in type,
    e.g. a column that is all NULL in one of them). Use as a context manager, or
    `close()` it, to remove the spool."""

    label: str
    headers: list[str]
    rows: int = 0
    noun: str = NOUN
    first_row: int = 1
    _path: Path | None = None
    _spans: list[tuple[int, int]] = field(default_factory=list)
    _sums: list[int] = field(default_factory=lambda: [0, 0])
    _memory: list[pa.RecordBatch] | None = None   # small results kept in memory (preview)

    @property
    def fingerprint(self) -> str:
        body = json.dumps({"headers": self.headers, "rows": self.rows, "sums": self._sums})
        return "sql:" + hashlib.sha256(body.encode()).hexdigest()

    def _add(self, batch: pa.RecordBatch, sink: Any | None) -> None:
        h1, h2 = _row_hash_sums(batch)
        self._sums = [(self._sums[0] + h1) % 2**64, (self._sums[1] + h2) % 2**64]
        self.rows += batch.num_rows
        if sink is None:
            assert self._memory is not None
            self._memory.append(batch)
            return
        start = sink.tell()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        self._spans.append((start, sink.tell() - start))

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._memory is not None:
            yield from self._memory
            return
        if self._path is None:
            return
        try:
            with pa.memory_map(str(self._path)) as source:
                whole = source.read_buffer()
                for start, length in self._spans:
                    yield pa.ipc.open_stream(whole.slice(start, length)).read_next_batch()
        except (OSError, pa.ArrowInvalid) as exc:
            raise SourceProblem(f"its spooled copy could not be read back: {exc}") from None

    def close(self) -> None:
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    def __enter__(self) -> SqlResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _arrow_batches(rows: Any, headers: list[str], batch_rows: int,
                   limit: int | None = None) -> Iterator[pa.RecordBatch]:
    """The result as Arrow batches: natively where the driver speaks Arrow (DuckDB),
    else from the driver's rows a partition at a time."""
    native = None
    for name in ("to_arrow_reader", "fetch_record_batch"):   # DuckDB 2.x, 1.x
        native = native or getattr(rows.cursor, name, None)
    if native is not None:
        left = limit
        with warnings.catch_warnings():   # "an extra copy": per batch, a price worth paying
            warnings.simplefilter("ignore", UserWarning)
            reader = native(batch_rows)
        for batch in reader:
            if left is not None:
                batch = batch.slice(0, left)
                left -= batch.num_rows
            yield pa.RecordBatch.from_arrays([_plain(c) for c in batch.columns], names=headers)
            if left is not None and left <= 0:
                return
        return
    if limit is not None:
        part = rows.fetchmany(limit)
        if part:
            yield _to_batch(headers, part)
        return
    for part in rows.partitions(batch_rows):
        yield _to_batch(headers, part)


def _engine(source: SqlSource, env: Mapping[str, str] | None) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    url = connect_url(source, env)
    connect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        connect_args["connect_timeout"] = 15
    if backend == "duckdb" and url.database not in (None, "", ":memory:"):
        connect_args["read_only"] = True   # also lets another process hold the file open
    try:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        extra = EXTRAS.get(backend)
        hint = (f"pip install 'outcomes[{extra}]'" if extra else
                "install its SQLAlchemy dialect, or use postgresql+psycopg:// or duckdb:///")
        raise SqlSourceError(f"{source.label}: no SQLAlchemy driver for {url.drivername!r}; "
                             f"{hint}") from None
    except (ArgumentError, ImportError) as exc:
        raise SqlSourceError(f"{source.label}: cannot use {safe_url(source.url)}: {exc}") from None


def _db_error(source: SqlSource, exc: Exception) -> SqlSourceError:
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return SqlSourceError(f"{source.label}: the database said: {first}")


def read_query(
    source: SqlSource, *, last_sync: datetime | None = None, env: Mapping[str, str] | None = None,
    limit: int | None = None, batch_rows: int = BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> SqlResult:
    """Run the query and spool its result (or keep only the first `limit` rows, in memory).

    `progress(rows)` is called after each batch with the rows just read."""
    from sqlalchemy.exc import SQLAlchemyError

    _check_reads(source)
    _check_binds(source)
    params = {LAST_SYNC: last_sync or NEVER} if source.incremental else {}
    engine = _engine(source, env)
    result: SqlResult | None = None
    spool = None
    try:
        with engine.connect() as conn:
            options: dict[str, Any] = {"stream_results": True, "yield_per": batch_rows}
            if engine.dialect.name == "postgresql":
                options["postgresql_readonly"] = True
            rows = conn.execution_options(**options).execute(statement(source.query), params)
            if not rows.returns_rows:
                raise SqlSourceError(f"{source.label}: the statement returns no rows; give a SELECT")
            result = SqlResult(source.label, [str(k) for k in rows.keys()])
            if limit is not None:
                result._memory = []
                for batch in _arrow_batches(rows, result.headers, limit, limit):
                    result._add(batch, None)
                rows.close()
                return result
            fd, name = tempfile.mkstemp(prefix="outcomes-sql-", suffix=".arrows")
            os.close(fd)
            result._path = Path(name)
            spool = pa.OSFile(name, "wb")
            for batch in _arrow_batches(rows, result.headers, batch_rows):
                result._add(batch, spool)
                if progress:
                    progress(batch.num_rows)
            spool.close()
            return result
    except SQLAlchemyError as exc:
        if result is not None:
            result.close()
        raise _db_error(source, exc) from None
    except BaseException:
        if result is not None:
            result.close()
        raise
    finally:
        if spool is not None and not spool.closed:
            spool.close()
        engine.dispose()


# -- syncing ------------------------------------------------------------------------------


@dataclass
class SyncReport:
    source: SqlSource
    since: datetime | None            # what :last_sync was bound to (None: not incremental)
    started_at: datetime
    rows_read: int
    ingest: IngestReport | None       # None when the result had no rows



def last_sync(store: Store, key: str) -> datetime | None:
    """When the last successful sync of this source started (None: never)."""
    value = store.scalar("SELECT last_sync FROM source_syncs WHERE source = ?", (key,))
    return None if value is None else parse_stamp(value)


def sync_states(store: Store) -> dict[str, dict[str, Any]]:
    return {r["source"]: r for r in store.query("SELECT * FROM source_syncs")}


def _record_sync(store: Store, source: SqlSource, started: datetime, rows: int,
                 fingerprint: str | None, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO source_syncs (source, label, last_sync, rows, fingerprint, synced_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET label = excluded.label,"
            " last_sync = excluded.last_sync, rows = excluded.rows,"
            " fingerprint = excluded.fingerprint, synced_at = excluded.synced_at",
            (source.key, source.label, stamp(started), rows, fingerprint, stamp(now)),
        )


def sync_source(
    store: Store, source: SqlSource, *, column_map: Mapping[str, str] | None = None,
    as_of: str | None = None, max_categories: int = 30, env: Mapping[str, str] | None = None,
    progress: ProgressFn | None = None, clock: Clock = system_clock,
) -> SyncReport:
    """Run the query and ingest its result; on success, move `:last_sync` on.

    Raises SqlSourceError (cannot run) or IngestError (rows break the contract);
    either way nothing is stored and the last sync time stays."""
    since = last_sync(store, source.key) if source.incremental else None
    started = clock()
    read = (lambda rows: progress("reading", rows, 0)) if progress else None
    with read_query(source, last_sync=since, env=env, progress=read) as result:
        if result.rows == 0:
            if not source.incremental:
                raise IngestError(source.label, [(None, "has no rows", [])], NOUN)
            _record_sync(store, source, started, 0, None, clock())
            return SyncReport(source, since or NEVER, started, 0, None)
        report = ingest_batches(store, result, column_map=column_map, as_of=as_of,
                                max_categories=max_categories, progress=progress)
        _record_sync(store, source, started, result.rows, result.fingerprint, clock())
        return SyncReport(source, (since or NEVER) if source.incremental else None, started,
                          result.rows, report)


@dataclass
class Preview:
    source: SqlSource
    headers: list[str]
    rows: list[dict[str, Any]]
    mapping: dict[str, str]               # result column -> canonical name or metric name
    check: IngestReport | None            # the first rows, checked (None: rejected)
    problems: IngestError | None


def preview_source(
    store: Store, source: SqlSource, *, column_map: Mapping[str, str] | None = None,
    as_of: str | None = None, max_categories: int = 30, env: Mapping[str, str] | None = None,
    rows: int = PREVIEW_ROWS,
) -> Preview:
    """The first rows of the result and what each column becomes; nothing is stored."""
    from storage.ingest import plan_columns

    since = last_sync(store, source.key) if source.incremental else None
    result = read_query(source, last_sync=since, env=env, limit=rows)
    table = pa.Table.from_batches(list(result.batches())) if result.rows else None
    sample = table.to_pylist() if table is not None else []
    mapping: dict[str, str] = {}
    check = problems = None
    try:
        sources = plan_columns(result.headers, column_map or {}, result.label, as_of, NOUN)
        mapping = {header: name for name, header in sources.items()}
        if result.rows:
            check = ingest_batches(store, result, column_map=column_map, as_of=as_of,
                                   max_categories=max_categories, check_only=True)
    except IngestError as exc:
        problems = exc
    return Preview(source, result.headers, sample, mapping, check, problems)
