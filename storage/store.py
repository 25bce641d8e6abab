"""The SQLite store: one file (or memory), WAL mode, migrated on open.

Connections run in autocommit mode and every write goes through
`Store.transaction()`, so a failure anywhere in a multi-statement write rolls
the whole of it back. Each thread gets its own connection (the Slack app answers
requests on a thread pool); an in-memory store is shared between them through
SQLite's shared cache so tests see one database.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.migrations import apply_migrations, schema_version

if TYPE_CHECKING:  # pandas and sqlite_utils load on first use: `outcomes --help` stays quick
    import pandas as pd
    import sqlite_utils

MEMORY = ":memory:"
METRIC_PREFIX = "m_"
PAGE_SIZE = 16384


class StoreError(Exception):
    """The database cannot be used as asked; the message says what to do."""


class Store:
    """Typed access to the Outcomes database."""

    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        self.uri: str   # what sqlite3.connect(uri=True) opens: this database
        if self.path == MEMORY:
            self.uri = f"file:outcomes-{uuid.uuid4().hex}?mode=memory&cache=shared"
        else:
            parent = Path(self.path).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot create {self.path}: folder {parent} does not exist")
            self.uri = Path(self.path).resolve().as_uri()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._checkpoint: threading.Thread | None = None
        # Keeps an in-memory database alive for the store's lifetime.
        self._anchor = self._connect()
        try:
            apply_migrations(self._anchor)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path} is not an Outcomes database ({exc}); "
                             "point --db at another file") from exc

    # -- connections and transactions --------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30
            )
            # Takes effect only when the file is created: 16 KiB pages make bulk
            # ingest about a quarter faster than SQLite's 4 KiB default.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            if self.path != MEMORY:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an Outcomes database: {exc}") from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    def _disconnect(self, conn: sqlite3.Connection) -> None:
        """Close a connection of its own that `_connect` made (not a thread's)."""
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        conn.close()

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._anchor if _is_main() else self._connect()
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils view of this thread's connection (introspection, small tables)."""
        db = getattr(self._local, "db", None)
        if db is None:
            import sqlite_utils

            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes. Nested use becomes a savepoint."""
        conn = self.conn
        depth = getattr(self._local, "depth", 0)
        name = f"sp{depth}"
        conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO {name}")
            if depth:
                conn.execute(f"RELEASE {name}")
            raise
        else:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
        finally:
            self._local.depth = depth

    @contextmanager
    def commits_held(self, wait_s: float) -> Iterator[bool]:
        """Hold the store's write lock, on a connection of its own, for the block: no
        connection of any process commits while it runs (reads go on). Yields False,
        holding nothing, when another writer keeps the lock for more than `wait_s`."""
        conn = self._connect()
        try:
            conn.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:   # locked: a writer is at work
                yield False
                return
            try:
                yield True
            finally:
                conn.execute("ROLLBACK")
        finally:
            self._disconnect(conn)

    @contextmanager
    def bulk_commit(self) -> Iterator[None]:
        """Around a large write transaction: it commits without the automatic checkpoint
        (which would copy the whole WAL into the database file before the caller could go
        on), and a checkpoint then runs on a thread of its own while the caller goes on
        (`checkpoint_in_background`)."""
        conn = self.conn
        automatic = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA wal_autocheckpoint = {automatic}")
        self.checkpoint_in_background()

    def checkpoint_in_background(self) -> None:
        """Copy the WAL into the database file (a passive checkpoint: readers and writers
        go on) on a thread with its own connection; `close` waits for it. A checkpoint
        that cannot finish now is finished by a later one, or by the last close."""
        if self.path == MEMORY:
            return
        self.wait_for_checkpoint()

        def run() -> None:
            conn = self._connect()
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass  # e.g. busy: the next checkpoint copies these pages too
            finally:
                self._disconnect(conn)

        self._checkpoint = threading.Thread(target=run, name="outcomes-checkpoint")
        self._checkpoint.start()

    def wait_for_checkpoint(self) -> None:
        """Wait for the checkpoint `checkpoint_in_background` started, if any."""
        if self._checkpoint is not None:
            self._checkpoint.join()
            self._checkpoint = None

    def close(self) -> None:
        self.wait_for_checkpoint()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generic queries ------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def frame(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> pd.DataFrame:
        import pandas as pd

        return pd.read_sql_query(sql, self.conn, params=params)

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    @property
    def schema_version(self) -> int:
        return schema_version(self.conn)

    # -- snapshots --------------------------------------------------------------------

    def metrics(self) -> pd.DataFrame:
        """The metric registry: name, source_name, kind, in_model, note."""
        return self.frame("SELECT * FROM metrics ORDER BY name")

    def snapshot_columns(self) -> list[str]:
        return [c.name for c in self.db["snapshots"].columns]

    def counts(self) -> dict[str, int]:
        return {
            "snapshots": self.scalar("SELECT count(*) FROM snapshots"),
            "accounts": self.scalar("SELECT count(*) FROM accounts"),
            "dates": self.scalar("SELECT count(DISTINCT as_of) FROM snapshots"),
            "metrics": self.scalar("SELECT count(*) FROM metrics"),
        }


def _is_main() -> bool:
    return threading.current_thread() is threading.main_thread()
