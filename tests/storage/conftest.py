from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (see tests/fakes/postgres.py)."""
    with PostgresServer() as server:
        yield server
