"""Shared facts about the scored state: periods, categories, movements."""

from __future__ import annotations

import sqlite3
import threading
import weakref
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


class Book:
    """What every card of one scoring version shares: the latest periods, the active models'
    provisional state, the book's mean churn per date, model rows and segments. Each is read
    once per version (`scoring_version`, the name index's key too) and kept until an ingest
    or a scoring run changes it: a card reads one version instead of four book-wide rows.
    Rows handed out are shared between requests: read them, do not change them."""

    def __init__(self, version: tuple[Any, ...]) -> None:
        self.version = version
        self._values: dict[tuple[Any, ...], Any] = {}

    def _get(self, key: tuple[Any, ...], load: Callable[[], T]) -> T:
        try:
            return self._values[key]  # type: ignore[no-any-return]
        except KeyError:
            with reading():
                value = self._values[key] = load()
            return value

    def period(self, store: Store) -> Period:
        """`period(store)`: the latest scored period and the one before it."""
        latest, previous = self._get(("periods",), lambda: queries.latest_periods(store))
        if latest is None:
            raise NotScoredYet()
        return Period(latest, previous)

    def provisional_state(self, store: Store) -> tuple[bool, str | None]:
        return self._get(("provisional",), lambda: provisional_state(store))

    def churn(self, store: Store, as_of: str) -> float | None:
        """The book's mean churn probability on `as_of`."""
        return self._get(("churn", as_of), lambda: queries.book_churn_average(store, as_of))

    def model(self, store: Store, version: str) -> dict[str, Any] | None:
        return self._get(("model", version), lambda: queries.model(store, version))

    def segment(self, store: Store, run: str, segment_id: int) -> dict[str, Any] | None:
        return self._get(("segment", run, segment_id),
                         lambda: queries.segment(store, run, segment_id))


_books: weakref.WeakKeyDictionary[Store, Book] = weakref.WeakKeyDictionary()
_books_lock = threading.Lock()


def book(store: Store) -> Book:
    """The store's `Book` for its current scoring version (one read: the version)."""
    with reading():
        version = queries.scoring_version(store)
    with _books_lock:
        cached = _books.get(store)
        if cached is None or cached.version != version:
            cached = _books[store] = Book(version)
    return cached


def book_churn(store: Store, as_of: str) -> float | None:
    """The book's mean churn probability on `as_of`, cached until the scores change."""
    return book(store).churn(store, as_of)
