"""The exactly-once ledger of outbound messages, job locks, job runs and the Slack user cache.

Every write is one `store.transaction()` (BEGIN IMMEDIATE), so two processes
sharing the database file serialise on SQLite's write lock and a claim either
happened or it did not.

A delivery row moves pending/failed -> sending -> sent (or back to failed).
`claim()` commits 'sending' *before* the message leaves, `mark_sent()` commits
'sent' right after Slack (or the SMTP server) accepted it. What a row left in
'sending' means, and what to do about it, is the sender's policy: see
`bot.pulse` (Slack) and `bot.email` (SMTP).

Timestamps are ISO 8601 UTC strings of one fixed shape, so they compare as text.
The caller passes `now` (from its injected clock); nothing here reads the time.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from storage.store import Store

Clock = Callable[[], datetime]

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ERROR_CHARS = 500


def system_clock() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """The one text form of a moment in the store: UTC, seconds, '+00:00'."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (the clock must return UTC or a zone)")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def new_holder() -> str:
    """An id for this process (and this call), for locks."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LockHeld(Exception):
    """Another process holds the lock; the message says who and until when."""

    def __init__(self, name: str, holder: str, expires_at: str):
        self.name, self.holder, self.expires_at = name, holder, expires_at
        super().__init__(f"{name!r} is held by {holder} until {expires_at}")


# -- deliveries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    key: str
    kind: str
    recipient: str
    period: str
    status: str
    attempts: int
    last_error: str | None
    channel: str | None
    ts: str | None
    created_at: str
    updated_at: str


def _delivery(row: dict[str, Any] | None) -> Delivery | None:
    return None if row is None else Delivery(**row)


def get(store: Store, key: str) -> Delivery | None:
    rows = store.query("SELECT * FROM deliveries WHERE key = ?", (key,))
    return _delivery(rows[0] if rows else None)


def by_status(store: Store, kind: str, status: str) -> list[Delivery]:
    rows = store.query(
        "SELECT * FROM deliveries WHERE kind = ? AND status = ? ORDER BY key", (kind, status)
    )
    return [Delivery(**r) for r in rows]


def last_sent_periods(store: Store, kind: str) -> dict[str, str]:
    """recipient -> the latest period a delivery of `kind` was sent to them for."""
    return {
        r["recipient"]: r["period"]
        for r in store.query(
            "SELECT recipient, max(period) AS period FROM deliveries"
            " WHERE kind = ? AND status = ? GROUP BY recipient",
            (kind, SENT),
        )
    }


def first_unsent_periods(store: Store, kind: str) -> dict[str, str]:
    """recipient -> the earliest period of `kind` never sent to them (failed / in doubt)."""
    return {
        r["recipient"]: r["period"]
        for r in store.query(
            "SELECT recipient, min(period) AS period FROM deliveries"
            " WHERE kind = ? AND status != ? GROUP BY recipient",
            (kind, SENT),
        )
    }


def claim(
    store: Store,
    key: str,
    *,
    kind: str,
    recipient: str,
    period: str,
    channel: str | None,
    now: datetime,
) -> Delivery | None:
    """Mark `key` 'sending' (committed) unless it is already sent or sending.

    Returns the claimed row, or None when there is nothing to send: the row is
    'sent', or 'sending' (an earlier run died mid-send: its sender must resolve it).
    """
    at = stamp(now)
    with store.transaction() as conn:
        row = conn.execute("SELECT status FROM deliveries WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] in (SENT, SENDING):
            return None
        conn.execute(
            "INSERT INTO deliveries (key, kind, recipient, period, status, attempts, channel,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
            " attempts = deliveries.attempts + 1, channel = coalesce(excluded.channel,"
            " deliveries.channel), updated_at = excluded.updated_at",
            (key, kind, recipient, period, SENDING, channel, at, at),
        )
    return get(store, key)


def reclaim(store: Store, key: str, *, now: datetime) -> None:
    """A 'sending' row proven unsent: count another attempt and keep it 'sending'."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE key = ? AND status = ?",
            (stamp(now), key, SENDING),
        )


def mark_sent(store: Store, key: str, *, channel: str | None, ts: str | None, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE deliveries SET status = ?, channel = coalesce(?, channel), ts = ?,"
            " last_error = NULL, updated_at = ? WHERE key = ?",
            (SENT, channel, ts, stamp(now), key),
        )


def mark_failed(store: Store, key: str, error: str, *, now: datetime) -> None:
    """A claimed delivery that did not go out: 'failed', retried by the next run."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE deliveries SET status = ?, last_error = ?, updated_at = ? WHERE key = ?",
            (FAILED, error[:MAX_ERROR_CHARS], stamp(now), key),
        )


def note_error(store: Store, key: str, error: str, *, now: datetime) -> None:
    """Keep the status, record why (e.g. a 'sending' row whose fate is unknown)."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE deliveries SET last_error = ?, updated_at = ? WHERE key = ?",
            (error[:MAX_ERROR_CHARS], stamp(now), key),
        )


def count_failure(store: Store, key: str, *, kind: str, recipient: str, period: str,
                  error: str, now: datetime) -> int:
    """A failure before any claim (owner not found...): create or bump the row; return attempts."""
    at = stamp(now)
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO deliveries (key, kind, recipient, period, status, attempts,"
            " last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
            " attempts = deliveries.attempts + 1, last_error = excluded.last_error,"
            " updated_at = excluded.updated_at WHERE deliveries.status != 'sent'",
            (key, kind, recipient, period, FAILED, error[:MAX_ERROR_CHARS], at, at),
        )
        row = conn.execute("SELECT attempts FROM deliveries WHERE key = ?", (key,)).fetchone()
    return int(row[0])


def release_unsent(store: Store, key: str, error: str, *, now: datetime) -> None:
    """An admin decided a 'sending' row was not delivered: make it retryable ('failed')."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE deliveries SET status = ?, last_error = ?, updated_at = ? WHERE key = ? AND status = ?",
            (FAILED, error[:MAX_ERROR_CHARS], stamp(now), key, SENDING),
        )


def last_channel(store: Store, kind: str, recipient: str) -> str | None:
    """The channel of the last delivery of `kind` that reached `recipient` (a DM id, reused)."""
    return store.scalar(
        "SELECT channel FROM deliveries WHERE kind = ? AND recipient = ? AND status = ?"
        " AND channel IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
        (kind, recipient, SENT),
    )


# -- locks ---------------------------------------------------------------------------------


def acquire_lock(store: Store, name: str, holder: str, *, ttl: timedelta, now: datetime) -> bool:
    """Take (or renew) `name` for `holder` until now + ttl; False if someone else holds it."""
    at, until = stamp(now), stamp(now + ttl)
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO locks (name, holder, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
            " expires_at = excluded.expires_at"
            " WHERE locks.holder = excluded.holder OR locks.expires_at <= ?",
            (name, holder, until, at),
        )
        row = conn.execute("SELECT holder FROM locks WHERE name = ?", (name,)).fetchone()
    return row is not None and row[0] == holder


def lock_info(store: Store, name: str) -> dict[str, str] | None:
    rows = store.query("SELECT holder, expires_at FROM locks WHERE name = ?", (name,))
    return rows[0] if rows else None


def release_lock(store: Store, name: str, holder: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM locks WHERE name = ? AND holder = ?", (name, holder))


def holder_is_dead(holder: str) -> bool:
    """True when `holder` names a process of this host that no longer runs (killed, crashed).

    A holder on another host, or one we cannot check, counts as alive: its lock expires.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _steal(store: Store, name: str, dead: str, holder: str, until: str) -> bool:
    with store.transaction() as conn:
        return conn.execute(
            "UPDATE locks SET holder = ?, expires_at = ? WHERE name = ? AND holder = ?",
            (holder, until, name, dead),
        ).rowcount == 1


class JobLock:
    """A store lock with expiry, renewed as the work goes (`renew()`), released on exit.

    `with JobLock(store, "job:pulse", clock=clock):` raises LockHeld when another
    live process holds it. The lock of a process that died on this host is taken over
    at once (its pid is gone); one on another host expires after `ttl`.
    """

    def __init__(self, store: Store, name: str, *, clock: Clock = system_clock,
                 ttl: timedelta = timedelta(minutes=10), holder: str | None = None):
        self.store, self.name, self.clock, self.ttl = store, name, clock, ttl
        self.holder = holder or new_holder()

    def __enter__(self) -> Self:
        now = self.clock()
        if acquire_lock(self.store, self.name, self.holder, ttl=self.ttl, now=now):
            return self
        info = lock_info(self.store, self.name) or {"holder": "?", "expires_at": "?"}
        if holder_is_dead(info["holder"]) and _steal(self.store, self.name, info["holder"],
                                                     self.holder, stamp(now + self.ttl)):
            return self
        raise LockHeld(self.name, info["holder"], info["expires_at"])

    def renew(self) -> None:
        """Push the expiry out; raises LockHeld if the lock was lost meanwhile."""
        if not acquire_lock(self.store, self.name, self.holder, ttl=self.ttl, now=self.clock()):
            info = lock_info(self.store, self.name) or {"holder": "?", "expires_at": "?"}
            raise LockHeld(self.name, info["holder"], info["expires_at"])

    def __exit__(self, *exc: object) -> None:
        release_lock(self.store, self.name, self.holder)


# -- job runs ----------------------------------------------------------------------------------


def start_run(store: Store, job: str, *, now: datetime) -> int:
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO job_runs (job, started_at, status) VALUES (?, ?, 'running')",
            (job, stamp(now)),
        )
        return int(cur.lastrowid)


def finish_run(store: Store, run_id: int, status: str, detail: dict[str, Any] | str | None,
               *, now: datetime) -> None:
    text = detail if isinstance(detail, str) or detail is None else json.dumps(detail, sort_keys=True)
    with store.transaction() as conn:
        conn.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, detail = ? WHERE id = ?",
            (stamp(now), status, text, run_id),
        )


def last_runs(store: Store) -> dict[str, dict[str, Any]]:
    """job -> its latest run (id, started_at, finished_at, status, detail)."""
    rows = store.query(
        "SELECT r.* FROM job_runs r JOIN (SELECT job, max(id) AS id FROM job_runs GROUP BY job) l"
        " ON r.id = l.id ORDER BY r.job"
    )
    return {r["job"]: r for r in rows}


# -- Slack user cache ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedUser:
    email: str
    user_id: str | None
    error: str | None
    looked_up_at: str


def cached_users(store: Store, emails: list[str] | None = None) -> dict[str, CachedUser]:
    if emails is None:
        rows = store.query("SELECT * FROM slack_users")
    else:
        rows = []
        for i in range(0, len(emails), 500):
            chunk = emails[i : i + 500]
            rows += store.query(
                f"SELECT * FROM slack_users WHERE email IN ({', '.join('?' * len(chunk))})", chunk
            )
    return {r["email"]: CachedUser(**r) for r in rows}


def remember_user(store: Store, email: str, *, user_id: str | None, error: str | None,
                  now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO slack_users (email, user_id, error, looked_up_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (email) DO UPDATE SET user_id = excluded.user_id,"
            " error = excluded.error, looked_up_at = excluded.looked_up_at",
            (email.lower(), user_id, error, stamp(now)),
        )
