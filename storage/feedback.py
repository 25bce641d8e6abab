"""What the bot posted, prediction flags, and Slack event ids already handled.

The bot records every message it posts about accounts (channel, ts -> account ids),
so a reaction to that message can be traced back to the accounts without any
extra Slack scope. A flag is unique per (channel, message ts, user): flagging the
same message twice is one flag, whatever Slack retries or people do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.store import Store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Flag:
    id: int
    channel: str
    message_ts: str
    user_id: str
    account_id: str | None
    reaction: str
    predicted_renewal_index: str | None
    predicted_upsell_index: str | None
    health_score: float | None
    model_version: str | None
    expected_renewal_index: str | None
    expected_upsell_index: str | None
    thread_ts: str | None
    created_at: str
    answered_at: str | None
    note: str | None = None     # from the flag modal


_FLAG_COLUMNS = ", ".join(Flag.__dataclass_fields__)


# -- posted messages -------------------------------------------------------------------------


def record_post(
    store: Store, channel: str, ts: str, kind: str, account_ids: Sequence[str],
    posted_by: str | None = None, at: str | None = None,
) -> None:
    """Remember that the bot posted message (channel, ts) about these accounts.

    Anything that posts about accounts with chat.postMessage (shares, the weekly pulse)
    calls this, so a reaction on the message can be traced to its accounts.
    """
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO posted_messages (channel, ts, kind, account_ids, posted_by, posted_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, ts) DO UPDATE SET"
            " kind = excluded.kind, account_ids = excluded.account_ids",
            (channel, ts, kind, json.dumps(list(account_ids)), posted_by, at or _now()),
        )


def posted_message(store: Store, channel: str, ts: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM posted_messages WHERE channel = ? AND ts = ?", (channel, ts))
    if not rows:
        return None
    row = rows[0]
    row["account_ids"] = json.loads(row["account_ids"])
    return row


def delivery_at(store: Store, channel: str, ts: str) -> dict[str, Any] | None:
    """A scheduled message (pulse, channel summary) sent as (channel, ts), from the delivery
    ledger of the scheduled jobs: kind, recipient, period."""
    rows = store.query(
        "SELECT kind, recipient, period FROM deliveries WHERE channel = ? AND ts = ? AND status = 'sent'",
        (channel, ts),
    )
    return rows[0] if rows else None


# -- events ------------------------------------------------------------------------------------


def first_time_seen(store: Store, event_id: str, at: str | None = None) -> bool:
    """True the first time an event id is seen; False for Slack's retries of it."""
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT OR IGNORE INTO seen_events (event_id, seen_at) VALUES (?, ?)",
            (event_id, at or _now()),
        )
        return cur.rowcount == 1


# -- flags ---------------------------------------------------------------------------------------


def record_flag(
    store: Store, *, channel: str, message_ts: str, user_id: str, reaction: str,
    account_id: str | None, predicted_renewal_index: str | None,
    predicted_upsell_index: str | None, health_score: float | None,
    model_version: str | None, at: str | None = None,
) -> tuple[Flag, bool]:
    """Store a flag; (flag, True) when new, (the existing flag, False) when already flagged."""
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT OR IGNORE INTO feedback (channel, message_ts, user_id, account_id, reaction,"
            " predicted_renewal_index, predicted_upsell_index, health_score, model_version, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (channel, message_ts, user_id, account_id, reaction, predicted_renewal_index,
             predicted_upsell_index, health_score, model_version, at or _now()),
        )
        created = cur.rowcount == 1
    flag = flag_for(store, channel, message_ts, user_id)
    assert flag is not None
    return flag, created


def _flag(row: sqlite3.Row | tuple) -> Flag:
    return Flag(*row)


def flag_for(store: Store, channel: str, message_ts: str, user_id: str) -> Flag | None:
    row = store.conn.execute(
        f"SELECT {_FLAG_COLUMNS} FROM feedback WHERE channel = ? AND message_ts = ? AND user_id = ?",
        (channel, message_ts, user_id),
    ).fetchone()
    return _flag(row) if row else None


def get_flag(store: Store, flag_id: int) -> Flag | None:
    row = store.conn.execute(f"SELECT {_FLAG_COLUMNS} FROM feedback WHERE id = ?", (flag_id,)).fetchone()
    return _flag(row) if row else None


def set_flag_account(
    store: Store, flag_id: int, account_id: str, predicted_renewal_index: str | None,
    predicted_upsell_index: str | None, health_score: float | None, model_version: str | None,
) -> None:
    """For a message about several accounts: the account the flag turned out to be about."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE feedback SET account_id = ?, predicted_renewal_index = ?,"
            " predicted_upsell_index = ?, health_score = ?, model_version = ? WHERE id = ?",
            (account_id, predicted_renewal_index, predicted_upsell_index, health_score,
             model_version, flag_id),
        )


def set_thread(store: Store, flag_id: int, thread_ts: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE feedback SET thread_ts = ? WHERE id = ?", (thread_ts, flag_id))


def set_expected(
    store: Store, flag_id: int, *, renewal_index: str | None = None,
    upsell_index: str | None = None, note: str | None = None, at: str | None = None,
) -> Flag:
    """Store the outcome the user expects (either index, or both, in any order) and a note."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE feedback SET"
            " expected_renewal_index = coalesce(?, expected_renewal_index),"
            " expected_upsell_index = coalesce(?, expected_upsell_index),"
            " note = coalesce(?, note), answered_at = ? WHERE id = ?",
            (renewal_index, upsell_index, note, at or _now(), flag_id),
        )
    flag = get_flag(store, flag_id)
    assert flag is not None
    return flag


def flags(store: Store, user_id: str | None = None, open_only: bool = False) -> list[Flag]:
    """Flags, newest first; `open_only` = no expected outcome chosen yet."""
    where, params = [], []
    if user_id:
        where.append("user_id = ?")
        params.append(user_id)
    if open_only:
        where.append("answered_at IS NULL")
    sql = f"SELECT {_FLAG_COLUMNS} FROM feedback"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = store.conn.execute(sql + " ORDER BY created_at DESC, id DESC", params).fetchall()
    return [_flag(r) for r in rows]


def flag_rows(store: Store) -> list[dict[str, Any]]:
    """Every flag with the account's name, for `outcomes feedback`."""
    return store.query(
        "SELECT f.id, f.created_at, f.user_id, f.account_id, a.name AS account_name,"
        " f.predicted_renewal_index, f.predicted_upsell_index, f.health_score, f.model_version,"
        " f.expected_renewal_index, f.expected_upsell_index, f.answered_at, f.reaction,"
        " f.channel, f.message_ts, f.note"
        " FROM feedback f LEFT JOIN accounts a ON a.account_id = f.account_id"
        " ORDER BY f.created_at, f.id"
    )
