"""Queries with :last_sync compile for every supported warehouse.

PostgreSQL, DuckDB and (through the small sqlalchemy-redshift dialect, a test
dependency) Redshift compile with their real SQLAlchemy dialects. Snowflake and
BigQuery dialects come with heavy client libraries (`outcomes[snowflake]`,
`outcomes[bigquery]`), so they are used when installed, and otherwise a dialect
with the same parameter style stands in: what is checked is that our statement
binds `:last_sync` as a parameter the driver fills, and leaves casts alone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import registry
from sqlalchemy.engine.default import DefaultDialect

from storage.sources import LAST_SYNC, SqlSource, bind_names, statement

WHEN = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)

# dialect name -> (its DB-API paramstyle, a typical incremental query in its SQL)
WAREHOUSES = {
    "postgresql.psycopg": ("pyformat", "SELECT account_id, as_of::date AS as_of FROM cs.snapshots"
                           " WHERE updated_at > :last_sync"),
    "duckdb": ("qmark", "SELECT * FROM read_parquet('snap*.parquet') WHERE updated_at > :last_sync"),
    "redshift.redshift_connector": ("format", "SELECT account_id, trunc(snapshot_ts)::date AS as_of"
                                    " FROM analytics.cs_snapshots WHERE loaded_at > :last_sync"),
    "snowflake": ("pyformat", "SELECT ACCOUNT_ID, TO_DATE(SNAPSHOT_TS) AS AS_OF FROM"
                  " ANALYTICS.CS.SNAPSHOTS WHERE UPDATED_AT > :last_sync"),
    "bigquery": ("pyformat", "SELECT account_id, DATE(snapshot_ts) AS as_of FROM"
                 " `proj.cs.snapshots` WHERE updated_at > :last_sync"),
}
PLACEHOLDER = {"pyformat": r"%\(last_sync(:\w+)?\)s", "qmark": r"\?", "format": r"%s",
               "numeric_dollar": r"\$1", "named": r":last_sync"}


def dialect_for(name: str) -> tuple[DefaultDialect, bool]:
    """The real dialect when its package is installed, else a stand-in with its paramstyle."""
    try:
        cls = registry.load(name)
        return cls(paramstyle=cls.default_paramstyle), True
    except Exception:  # NoSuchModuleError, or its client library missing
        return DefaultDialect(paramstyle=WAREHOUSES[name][0]), False


@pytest.mark.parametrize("name", list(WAREHOUSES))
def test_last_sync_is_a_bound_parameter_in_each_dialect(name: str) -> None:
    paramstyle, query = WAREHOUSES[name]
    dialect, real = dialect_for(name)
    if name in ("postgresql.psycopg", "duckdb", "redshift.redshift_connector"):
        assert real, f"{name}: its dialect is a dependency and must be installed"
    compiled = statement(query).compile(dialect=dialect)
    sql = str(compiled)
    assert ":last_sync" not in sql
    assert re.search(PLACEHOLDER[dialect.paramstyle], sql), sql
    assert "::date" in sql or "::" not in query
    params = compiled.construct_params({LAST_SYNC: WHEN})
    assert params[LAST_SYNC] == WHEN
    assert bind_names(query) == [LAST_SYNC]
    assert SqlSource("w", "postgresql://x@h/db", query).incremental


def test_casts_and_quoted_colons_are_not_parameters() -> None:
    assert bind_names("SELECT '12:30' AS t, as_of::date FROM s") == []
    assert not SqlSource("w", "duckdb:///x.duckdb", "SELECT * FROM s").incremental
