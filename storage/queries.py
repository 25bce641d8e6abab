"""Read-only queries over the scored state, for the Slack app, the console and the scheduler.

Plain parameterised SQL returning dicts; no settings, no formatting. The scores
tables are written by `scoring/`; this module only reads them. Every query here
is served by an index (scores' primary key (account_id, as_of), scores(as_of, ...),
accounts(name_key), accounts(owner_email)), so a lookup stays fast on a large book.
"""

from __future__ import annotations

import json
from typing import Any

from storage.store import Store

_ACCOUNT_COLUMNS = (
    "a.account_id, a.name, a.owner_email, a.owner_slack_id, a.arr, a.renewal_date,"
    " a.products, a.status, a.last_as_of"
)
_SCORE_COLUMNS = (
    "s.as_of, s.health_score, s.churn_probability, s.renewal_index, s.upsell_probability,"
    " s.upsell_index, s.segment_id, s.drivers, s.levels, s.churn_model, s.upsell_model, s.scored_at,"
    " s.previous_as_of, s.previous_health_score, s.previous_renewal_index,"
    " s.previous_upsell_index, s.movement, s.data_gaps"
)


def _json(value: str | None, default: Any = None) -> Any:
    if value is None or value == "":
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


# -- periods ---------------------------------------------------------------------------


# The book's current accounts, one definition for every count a user sees (summary, lists,
# export, segments, App Home, pulse): the accounts scored in the latest scored period.
# Scoring scores every snapshot row of an account not marked churned, and takes the book's
# latest snapshot date as that period (`current_snapshot_date`): so the current accounts are
# the ones in the latest snapshot that have not left. An account absent from the latest
# snapshot has left, as the data contract's labels say.


def current_scores(alias: str = "s") -> str:
    """SQL condition on the `scores` table (as `alias`): the current accounts' scores."""
    return f"{alias}.as_of = (SELECT max(as_of) FROM scores)"


def current_snapshot_date(store: Store) -> str | None:
    """The snapshot date whose rows are the current accounts once scored: the book's latest."""
    return store.scalar("SELECT max(as_of) FROM snapshots")


def latest_as_of(store: Store) -> str | None:
    """The latest scored period: its scores are the current accounts' (see above)."""
    """The latest scored period (max as_of in scores), or None before the first scoring."""
    return store.scalar("SELECT max(as_of) FROM scores")


def latest_periods(store: Store) -> tuple[str | None, str | None]:
    """The latest scored period and the one before it, in one statement (two index seeks)."""
    row = store.conn.execute(
        "SELECT (SELECT max(as_of) FROM scores), (SELECT max(as_of) FROM scores"
        " WHERE as_of < (SELECT max(as_of) FROM scores))").fetchone()
    return row[0], row[1]


def previous_as_of(store: Store, as_of: str) -> str | None:
    """The scored period before `as_of`, book-wide."""
    return store.scalar("SELECT max(as_of) FROM scores WHERE as_of < ?", (as_of,))


def ledger_summary(store: Store) -> dict[str, Any]:
    """Live predictions whose outcome is known: counts, mean predicted and realised churn,
    and per Renewal / Upsell Index category (rows, positives, mean predicted)."""
    row = store.conn.execute(
        "SELECT count(churned), count(*) - count(churned), avg(CASE WHEN churned IS NOT NULL"
        " THEN churn_probability END), avg(churned), min(CASE WHEN churned IS NOT NULL THEN"
        " as_of END), max(CASE WHEN churned IS NOT NULL THEN as_of END) FROM prediction_ledger"
    ).fetchone()
    renewal = {r[0]: (int(r[1]), int(r[2] or 0), r[3]) for r in store.conn.execute(
        "SELECT renewal_index, count(*), sum(churned), avg(churn_probability)"
        " FROM prediction_ledger WHERE churned IS NOT NULL GROUP BY 1")}
    upsell = {r[0]: (int(r[1]), int(r[2] or 0), r[3]) for r in store.conn.execute(
        "SELECT upsell_index, count(*), sum(upsold), avg(upsell_probability)"
        " FROM prediction_ledger WHERE upsold IS NOT NULL AND upsell_index IS NOT NULL"
        " GROUP BY 1")}
    return {"known": int(row[0] or 0), "pending": int(row[1] or 0), "predicted": row[2],
            "realised": row[3], "from": row[4], "to": row[5], "renewal": renewal,
            "upsell": upsell}


def ledger_outcome(store: Store, account_id: str, on_or_before: str) -> int | None:
    """The churn outcome of the account's latest live prediction dated on or before a day."""
    value = store.scalar(
        "SELECT churned FROM prediction_ledger WHERE account_id = ? AND as_of <= ?"
        " ORDER BY as_of DESC LIMIT 1", (account_id, on_or_before))
    return None if value is None else int(value)


def book_churn_average(store: Store, as_of: str) -> float | None:
    """Mean churn probability of the accounts scored on `as_of` ("your book's average")."""
    value = store.scalar("SELECT avg(churn_probability) FROM scores WHERE as_of = ?", (as_of,))
    return None if value is None else float(value)


def scoring_version(store: Store) -> tuple[Any, ...]:
    """Changes whenever accounts or scores are rewritten: a cache key for name lists.

    Every part is one index look-up (it runs on every card): an ingest adds an `ingests`
    row and rewrites `accounts` rows (INSERT OR REPLACE: new rowids); a scoring run that
    writes scores rewrites `components` (updated_at) and, when it trains, adds `models`.
    """
    row = store.conn.execute(
        "SELECT (SELECT max(as_of) FROM scores), (SELECT max(updated_at) FROM components),"
        " (SELECT max(id) FROM models), (SELECT max(rowid) FROM accounts),"
        " (SELECT max(rowid) FROM ingests)"
    ).fetchone()
    return tuple(row)


# -- accounts --------------------------------------------------------------------------


def account_names(store: Store) -> list[tuple[str, str, str]]:
    """(account_id, name, name_key) of every account, for fuzzy matching."""
    return [tuple(r) for r in store.conn.execute("SELECT account_id, name, name_key FROM accounts")]


def accounts_by_key(store: Store, name_key: str, raw: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
    """Accounts whose casefolded name is exactly `name_key`, or whose id is `raw` (any case)."""
    rows = store.query(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.name_key = ? ORDER BY a.arr DESC LIMIT ?",
        (name_key, limit),
    )
    if not rows and raw:
        ids = list(dict.fromkeys([raw, raw.upper()]))
        rows = store.query(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.account_id IN ({','.join('?' * len(ids))})",
            ids,
        )
    return rows


def accounts_by_prefix(store: Store, prefix: str, limit: int = 50) -> list[dict[str, Any]]:
    """Accounts whose casefolded name starts with `prefix` (index range scan), by ARR."""
    return store.query(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.name_key >= ? AND a.name_key < ?"
        " ORDER BY a.arr DESC LIMIT ?",
        (prefix, prefix + "\U0010ffff", limit),
    )


def count_by_prefix(store: Store, prefix: str) -> int:
    return store.scalar(
        "SELECT count(*) FROM accounts WHERE name_key >= ? AND name_key < ?",
        (prefix, prefix + "\U0010ffff"),
    )


def accounts_by_ids(store: Store, account_ids: list[str]) -> list[dict[str, Any]]:
    if not account_ids:
        return []
    marks = ",".join("?" * len(account_ids))
    rows = store.query(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.account_id IN ({marks})",
                       list(account_ids))
    order = {a: i for i, a in enumerate(account_ids)}
    return sorted(rows, key=lambda r: order[r["account_id"]])


def account(store: Store, account_id: str) -> dict[str, Any] | None:
    rows = store.query(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.account_id = ?",
                       (account_id,))
    return rows[0] if rows else None


def _decode_score(row: dict[str, Any]) -> dict[str, Any]:
    row["drivers"] = _json(row.get("drivers"), [])
    row["levels"] = _json(row.get("levels"), {})
    row["movement"] = _json(row.get("movement"))
    row["data_gaps"] = _json(row.get("data_gaps"))
    return row


def same_model_previous(row: dict[str, Any]) -> dict[str, Any] | None:
    """The previous period as scoring re-scored it with this score's model (stored with
    the score), shaped like a score row; None when the score carries none."""
    if not row or not row.get("previous_as_of"):
        return None
    return {"as_of": row["previous_as_of"], "health_score": row["previous_health_score"],
            "renewal_index": row["previous_renewal_index"],
            "upsell_index": row["previous_upsell_index"], "same_model": True}


def score(store: Store, account_id: str, as_of: str) -> dict[str, Any] | None:
    rows = store.query(f"SELECT {_SCORE_COLUMNS} FROM scores s WHERE s.account_id = ? AND s.as_of = ?",
                       (account_id, as_of))
    return _decode_score(rows[0]) if rows else None


def score_and_previous(store: Store, account_id: str, as_of: str
                       ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The account's score on `as_of` and its previous period: the same model's when scoring
    stored it with the score (movements come from the data, not from a retrained model),
    else the account's stored score before. Both from one index read; (None, None) when
    the account has no score on `as_of`."""
    rows = store.query(
        f"SELECT {_SCORE_COLUMNS} FROM scores s WHERE s.account_id = ? AND s.as_of <= ?"
        " ORDER BY s.as_of DESC LIMIT 2",
        (account_id, as_of),
    )
    if not rows or rows[0]["as_of"] != as_of:
        return None, None
    current = _decode_score(rows[0])
    previous = same_model_previous(current)
    if previous is None and len(rows) > 1:
        previous = _decode_score(rows[1])
    return current, previous


def score_before(store: Store, account_id: str, as_of: str) -> dict[str, Any] | None:
    """The account's score at its previous scored date before `as_of`."""
    rows = store.query(
        f"SELECT {_SCORE_COLUMNS} FROM scores s WHERE s.account_id = ? AND s.as_of < ?"
        " ORDER BY s.as_of DESC LIMIT 1",
        (account_id, as_of),
    )
    return _decode_score(rows[0]) if rows else None


def history(store: Store, account_id: str, limit: int = 36) -> list[dict[str, Any]]:
    """(as_of, health_score, renewal_index, upsell_index) oldest first, the last `limit` dates."""
    rows = store.query(
        "SELECT as_of, health_score, renewal_index, upsell_index FROM scores"
        " WHERE account_id = ? ORDER BY as_of DESC LIMIT ?",
        (account_id, limit),
    )
    return rows[::-1]


# -- lists and totals ------------------------------------------------------------------------


def _filters(
    as_of: str,
    renewal_index: str | None = None,
    upsell_index: str | None = None,
    owner_email: str | None = None,
    owner_slack_id: str | None = None,
    segment_id: int | None = None,
) -> tuple[str, list[Any]]:
    where = ["s.as_of = ?"]
    params: list[Any] = [as_of]
    if renewal_index is not None:
        where.append("s.renewal_index = ?")
        params.append(renewal_index)
    if upsell_index is not None:
        where.append("s.upsell_index = ?")
        params.append(upsell_index)
    owners = []
    if owner_email:
        owners.append("a.owner_email = ?")
        params.append(owner_email.lower())
    if owner_slack_id:
        owners.append("a.owner_slack_id = ?")
        params.append(owner_slack_id)
    if owners:
        where.append("(" + " OR ".join(owners) + ")")
    if segment_id is not None:
        where.append("s.segment_id = ?")
        params.append(segment_id)
    return " AND ".join(where), params


def list_accounts(
    store: Store,
    as_of: str,
    *,
    renewal_index: str | None = None,
    upsell_index: str | None = None,
    owner_email: str | None = None,
    owner_slack_id: str | None = None,
    segment_id: int | None = None,
    limit: int = 10,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Scored accounts of period `as_of` matching the filters, by ARR (largest first); and the total."""
    where, params = _filters(as_of, renewal_index, upsell_index, owner_email, owner_slack_id,
                             segment_id)
    base = f"FROM scores s JOIN accounts a ON a.account_id = s.account_id WHERE {where}"
    total = store.scalar(f"SELECT count(*) {base}", params)
    rows = store.query(
        f"SELECT {_ACCOUNT_COLUMNS}, s.health_score, s.churn_probability, s.renewal_index,"
        f" s.upsell_index, s.segment_id, s.data_gaps {base} ORDER BY a.arr DESC, a.name"
        " LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return rows, int(total or 0)


def missing_from_latest(
    store: Store, latest: str, previous: str, owner_email: str | None = None,
    owner_slack_id: str | None = None, limit: int = 5,
) -> tuple[list[dict[str, Any]], int]:
    """Accounts scored in period `previous` that are not in period `latest` and were not
    marked churned: they left the current accounts without saying so (by ARR, at most
    `limit`), and how many there are."""
    where, params = _filters(previous, owner_email=owner_email, owner_slack_id=owner_slack_id)
    base = (f"FROM scores s JOIN accounts a ON a.account_id = s.account_id WHERE {where}"
            " AND coalesce(a.status, '') != 'churned' AND NOT EXISTS (SELECT 1 FROM scores c"
            " WHERE c.account_id = s.account_id AND c.as_of = ?)")
    params = [*params, latest]
    total = store.scalar(f"SELECT count(*) {base}", params)
    rows = store.query(f"SELECT {_ACCOUNT_COLUMNS} {base} ORDER BY a.arr DESC, a.name LIMIT ?",
                       [*params, limit])
    return rows, int(total or 0)


def category_totals(
    store: Store, as_of: str, column: str, owner_email: str | None = None,
    owner_slack_id: str | None = None,
) -> dict[str, dict[str, float]]:
    """{category: {"accounts": n, "arr": total}} for `column` renewal_index / upsell_index."""
    if column not in ("renewal_index", "upsell_index"):
        raise ValueError(f"not a category column: {column}")
    where, params = _filters(as_of, owner_email=owner_email, owner_slack_id=owner_slack_id)
    join = " JOIN accounts a ON a.account_id = s.account_id"
    rows = store.query(
        f"SELECT s.{column} AS category, count(*) AS accounts, coalesce(sum(a.arr), 0) AS arr"
        f" FROM scores s{join} WHERE {where} GROUP BY s.{column}",
        params,
    )
    return {r["category"]: {"accounts": r["accounts"], "arr": r["arr"]} for r in rows}


def movements(
    store: Store, from_date: str, to_date: str, owner_email: str | None = None,
    owner_slack_id: str | None = None,
) -> list[dict[str, Any]]:
    """Accounts scored on both dates whose Renewal Index or Upsell Index changed, by ARR.

    Each row: account_id, name, owner_email, owner_slack_id, arr, from_renewal_index,
    to_renewal_index, from_upsell_index, to_upsell_index, from_health, to_health.
    `movement` (JSON text) holds the reasons scoring stored. Whether a change is better or
    worse is `scoring.movements.direction` (the one rule), applied by the bot.
    """
    params: list[Any] = [from_date, to_date]
    owner_sql = ""
    if owner_email or owner_slack_id:
        parts = []
        if owner_email:
            parts.append("a.owner_email = ?")
            params.append(owner_email.lower())
        if owner_slack_id:
            parts.append("a.owner_slack_id = ?")
            params.append(owner_slack_id)
        owner_sql = " AND (" + " OR ".join(parts) + ")"
    # Where scoring stored the previous period re-scored by this score's model (and it
    # is `from_date`), that is the "from" side: a retrained model is not a movement.
    same = "c.previous_as_of = p.as_of"
    return store.query(
        "SELECT a.account_id, a.name, a.owner_email, a.owner_slack_id, a.arr,"
        f" CASE WHEN {same} THEN c.previous_renewal_index ELSE p.renewal_index END"
        " AS from_renewal_index, c.renewal_index AS to_renewal_index,"
        f" CASE WHEN {same} THEN c.previous_upsell_index ELSE p.upsell_index END"
        " AS from_upsell_index, c.upsell_index AS to_upsell_index,"
        f" CASE WHEN {same} THEN c.previous_health_score ELSE p.health_score END AS from_health,"
        " c.health_score AS to_health, c.movement AS movement, c.data_gaps AS data_gaps"
        # Accounts first (all of them, or the owner's through its index), then both scores
        # by primary key: CROSS JOIN keeps that order, which reads the pages in account order
        # instead of the as_of index's churn order (a random page per row, 2-3x slower).
        " FROM accounts a"
        " CROSS JOIN scores p ON p.account_id = a.account_id AND p.as_of = ?"
        " CROSS JOIN scores c ON c.account_id = a.account_id AND c.as_of = ?"
        " WHERE 1"
        f" AND ((CASE WHEN {same} THEN c.previous_renewal_index ELSE p.renewal_index END)"
        "   IS NOT c.renewal_index"
        f"  OR (CASE WHEN {same} THEN c.previous_upsell_index ELSE p.upsell_index END)"
        "   IS NOT c.upsell_index)"
        f"{owner_sql} ORDER BY a.arr DESC, a.name",
        params,
    )


def owners(store: Store) -> list[dict[str, Any]]:
    """Owners of the book: owner_email, owner_slack_id, accounts."""
    return store.query(
        "SELECT owner_email, max(owner_slack_id) AS owner_slack_id, count(*) AS accounts"
        " FROM accounts WHERE owner_email IS NOT NULL OR owner_slack_id IS NOT NULL"
        " GROUP BY owner_email ORDER BY owner_email"
    )


def owner_email_for_user(store: Store, user_id: str) -> str | None:
    """The owner email a Slack user id stands for, from the accounts or resolved lookups."""
    # One statement: the book's email for the id (an empty one counts as none), else the
    # resolved lookup's.
    return store.scalar(
        "SELECT coalesce(nullif((SELECT owner_email FROM accounts WHERE owner_slack_id = ?1"
        " AND owner_email IS NOT NULL LIMIT 1), ''),"
        " (SELECT email FROM slack_users WHERE user_id = ?1 LIMIT 1))",
        (user_id,),
    )


# -- models, indicators, segments, components -------------------------------------------------


def _model_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    row = rows[0]
    row["metrics"] = _json(row["metrics"], {})
    row["provisional"] = bool(row["provisional"])
    return row


def active_model(store: Store, kind: str) -> dict[str, Any] | None:
    return _model_row(store.query(
        "SELECT kind, version, trained_at, train_start, train_end, metrics, provisional"
        " FROM models WHERE kind = ? AND active = 1 ORDER BY trained_at DESC LIMIT 1",
        (kind,),
    ))


def model(store: Store, version: str) -> dict[str, Any] | None:
    return _model_row(store.query(
        "SELECT kind, version, trained_at, metrics, provisional, active FROM models WHERE version = ?",
        (version,),
    ))


def indicators(store: Store, model_version: str) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT component, weight, direction, detail FROM indicators WHERE model_version = ?"
        " ORDER BY weight DESC, component",
        (model_version,),
    )
    for r in rows:
        r["detail"] = _json(r["detail"])
    return rows


def _decode_segment(row: dict[str, Any]) -> dict[str, Any]:
    row["top_products"] = _json(row.get("top_products"), [])
    row["benchmarks"] = _json(row.get("benchmarks"), {})
    row["profile"] = _json(row.get("profile"), {})
    return row


def segments(store: Store, run: str) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM segments WHERE run = ? ORDER BY segment_id", (run,))
    return [_decode_segment(r) for r in rows]


def segment(store: Store, run: str, segment_id: int) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM segments WHERE run = ? AND segment_id = ?", (run, segment_id))
    return _decode_segment(rows[0]) if rows else None


def segment_members(store: Store, as_of: str, segment_id: int) -> list[dict[str, Any]]:
    """Every account of a segment in period `as_of`, by ARR, for the CSV download."""
    return store.query(
        f"SELECT {_ACCOUNT_COLUMNS}, s.health_score, s.renewal_index, s.upsell_index"
        " FROM scores s JOIN accounts a ON a.account_id = s.account_id"
        " WHERE s.as_of = ? AND s.segment_id = ? ORDER BY a.arr DESC, a.name",
        (as_of, segment_id),
    )


def components(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM components ORDER BY component")
    for r in rows:
        r["columns"] = _json(r["columns"], [])
        r["present"] = _json(r["present"], [])
        r["connected"] = bool(r["connected"])
    return rows


