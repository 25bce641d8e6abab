"""Snoozing accounts: out of their owner's pulse and the movement sections for a while.

A snooze ends on its date (pulse.snooze_days after it started, unless a number of
days was given) or as soon as the account's Renewal Index has moved WAKE_CATEGORIES
or more categories from where it was when snoozed: a big move is news again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.config import Settings
from bot.services.errors import AccountNotFound, BadArguments
from storage import queries
from storage import snoozes as table
from storage.snoozes import Snooze
from storage.store import Store

WAKE_CATEGORIES = 2
MAX_DAYS = 365


def today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Snoozed:
    account: dict
    until: str
    days: int


def snooze(store: Store, settings: Settings, account_id: str, days: int | None = None,
           user: str | None = None, *, on: date | None = None) -> Snoozed:
    """Snooze an account for `days` (default pulse.snooze_days) from `on` (default today)."""
    days = settings.pulse.snooze_days if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise BadArguments(f"Snooze for 1 to {MAX_DAYS} days, e.g. "
                           f"`{settings.slack.command} snooze acme 14`.")
    account = queries.account(store, account_id)
    if account is None:
        raise AccountNotFound(account_id)
    latest = queries.latest_as_of(store)
    score = queries.score(store, account_id, latest) if latest else None
    until = (on or today()) + timedelta(days=days)
    table.add(store, account_id, until, renewal_index=score["renewal_index"] if score else None,
              snoozed_by=user)
    return Snoozed(account, until.isoformat(), days)


def unsnooze(store: Store, account_id: str) -> bool:
    """End the account's snooze; False when it was not snoozed."""
    return table.remove(store, account_id)


def active(store: Store, settings: Settings, *, on: date | None = None) -> dict[str, Snooze]:
    """The snoozes in force on `on` (default today), by account id.

    Expired snoozes are removed, and so is the snooze of an account that has moved
    WAKE_CATEGORIES or more Renewal Index categories since it was snoozed.
    """
    rows = table.current(store, on or today())
    if not rows:
        return {}
    latest = queries.latest_as_of(store)
    order = settings.for_scoring.renewal_ranks
    woke = []
    for row in rows:
        score = queries.score(store, row.account_id, latest) if latest else None
        then, now = order.get(row.renewal_index or ""), order.get((score or {}).get("renewal_index") or "")
        if then is not None and now is not None and abs(now - then) >= WAKE_CATEGORIES:
            woke.append(row.account_id)
    table.end(store, woke)
    return {r.account_id: r for r in rows if r.account_id not in woke}
