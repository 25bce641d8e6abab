"""Shared facts about the scored state: periods, categories, movements."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.config import Settings
from bot.services.errors import NotScoredYet, Rescoring
from storage import queries
from storage.store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class Requester:
    """Who is asking: their Slack ids and, when known, the owner email they stand for."""

    user_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    owner_email: str | None = None


@dataclass(frozen=True)
class Period:
    as_of: str
    previous: str | None


def period(store: Store, as_of: str | None = None) -> Period:
    """The latest scored period (or `as_of`) and the one before it; NotScoredYet when none."""
    with reading():
        if as_of is None:
            latest, previous = queries.latest_periods(store)
        else:
            latest, previous = as_of, queries.previous_as_of(store, as_of)
        if latest is None:
            raise NotScoredYet()
        return Period(latest, previous)


@contextmanager
def reading() -> Iterator[None]:
    """Turn 'database is locked' (a rescoring holds the write lock) into a user message."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "locked" in text or "busy" in text or "no such table" in text:
            raise Rescoring() from exc
        raise


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: service reads that may hit a rescoring in progress."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        with reading():
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def movement_direction(settings: Settings, before: str | None, after: str | None,
                       kind: str = "renewal") -> str | None:
    """'up' (better), 'down' (worse) or None (same / unknown) between two categories:
    the one rule, `scoring.movements.direction`, with this team's categories."""
    from scoring.movements import direction

    order = (settings.upsell_categories if kind == "upsell"
             else settings.renewal_categories)
    return direction(before, after, order)


def provisional(store: Store) -> bool:
    """True when an active model was trained on too few labels: scores are provisional."""
    return provisional_state(store)[0]


def provisional_reason(store: Store) -> str | None:
    """Why the scores are provisional (from the active models), or None when they are not."""
    return provisional_state(store)[1]


def provisional_state(store: Store) -> tuple[bool, str | None]:
    """`provisional` and `provisional_reason` from one read of the active models."""
    import json

    with reading():
        rows = store.conn.execute("SELECT provisional, metrics FROM models WHERE active = 1"
                                  " ORDER BY kind").fetchall()
    marked = [metrics for flag, metrics in rows if flag]
    reasons = [json.loads(m).get("provisional_reason") for m in marked]
    reasons = [r for r in reasons if r]
    if marked and not reasons:
        return True, "too few known outcomes to train on yet"
    return bool(marked), "; ".join(reasons) or None


_book_churn_cache: dict[tuple[str, str], tuple[tuple[Any, ...], float | None]] = {}


def book_churn(store: Store, as_of: str) -> float | None:
    """The book's mean churn probability on `as_of`, cached until the scores change."""
    key = (store.path, as_of)
    with reading():
        version = queries.scoring_version(store)
        hit = _book_churn_cache.get(key)
        if hit and hit[0] == version:
            return hit[1]
        value = queries.book_churn_average(store, as_of)
    _book_churn_cache[key] = (version, value)
    return value
