from __future__ import annotations

from tests.fakes.postgres import postgres  # noqa: F401  (the session's PostgreSQL server)
