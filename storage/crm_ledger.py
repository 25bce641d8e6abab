"""What was last written to each CRM field of each account (the push ledger).

One row per (destination, account_id, field): the value the CRM acknowledged, as
JSON text. A push sends only values that differ from this ledger, and records a
value only after the CRM answered that the record was written, batch by batch,
so a rerun (after a crash, a rate limit or a partial failure) sends again exactly
what was not acknowledged and nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from storage.deliveries import stamp
from storage.store import Store


def encode(value: Any) -> str:
    """The ledger's text for a value (compare these, not floats)."""
    return json.dumps(value, sort_keys=True)


def pushed(store: Store, destination: str) -> dict[tuple[str, str], str]:
    """(account_id, field) -> the encoded value last acknowledged by `destination`."""
    rows = store.conn.execute(
        "SELECT account_id, field, value FROM crm_pushes WHERE destination = ?", (destination,))
    return {(a, f): v for a, f, v in rows}


def record(store: Store, destination: str, values: Iterable[tuple[str, str, Any]],
           *, now: datetime) -> int:
    """Record acknowledged (account_id, field, value) triples in one transaction."""
    rows = [(destination, a, f, encode(v), stamp(now)) for a, f, v in values]
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO crm_pushes (destination, account_id, field, value, pushed_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (destination, account_id, field)"
            " DO UPDATE SET value = excluded.value, pushed_at = excluded.pushed_at", rows)
    return len(rows)


def last_pushed_at(store: Store, destination: str) -> str | None:
    return store.scalar("SELECT max(pushed_at) FROM crm_pushes WHERE destination = ?",
                        (destination,))
