"""Snoozed accounts: left out of their owner's pulse and the movement sections for a while.

A snooze is one row per account (snoozing again replaces it). It lasts until its
`until` date; what else ends it (moving two categories) is decided above this layer,
which calls `end()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from storage.store import Store


@dataclass(frozen=True)
class Snooze:
    account_id: str
    name: str
    until: str                 # YYYY-MM-DD, exclusive
    renewal_index: str | None  # when snoozed
    snoozed_by: str | None
    created_at: str
    owner_email: str | None = None
    owner_slack_id: str | None = None


def add(store: Store, account_id: str, until: date, *, renewal_index: str | None,
        snoozed_by: str | None, now: datetime | None = None) -> None:
    """Snooze an account until `until` (replacing an earlier snooze of it)."""
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO snoozes (account_id, until, renewal_index, snoozed_by, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (account_id, until.isoformat(), renewal_index, snoozed_by, created))


def remove(store: Store, account_id: str) -> bool:
    """End an account's snooze; False when it was not snoozed."""
    with store.transaction() as conn:
        return conn.execute("DELETE FROM snoozes WHERE account_id = ?", (account_id,)).rowcount > 0


def end(store: Store, account_ids: Iterable[str]) -> None:
    ids = [(a,) for a in account_ids]
    if ids:
        with store.transaction() as conn:
            conn.executemany("DELETE FROM snoozes WHERE account_id = ?", ids)


def current(store: Store, today: date) -> list[Snooze]:
    """Snoozes not yet expired on `today`, soonest to end first; expired ones are removed."""
    day = today.isoformat()
    if store.scalar("SELECT 1 FROM snoozes WHERE until <= ? LIMIT 1", (day,)):
        with store.transaction() as conn:
            conn.execute("DELETE FROM snoozes WHERE until <= ?", (day,))
    rows = store.query(
        "SELECT z.account_id, coalesce(a.name, z.account_id) AS name, z.until, z.renewal_index,"
        " z.snoozed_by, z.created_at, a.owner_email, a.owner_slack_id"
        " FROM snoozes z LEFT JOIN accounts a ON a.account_id = z.account_id"
        " WHERE z.until > ? ORDER BY z.until, name", (day,))
    return [Snooze(**r) for r in rows]
