"""Building the Customer Owner Pulse: what each owner is told for one scored period.

Set-based: one query for the period's scores, one book-wide `storage.queries.movements`
per distinct comparison period (usually one; directions by
`bot.services.core.movement_direction`, as in `/outcome summary`), then pandas
group-bys; no per-owner SQL. Sending is `bot.pulse.send`.

Who is an owner: `accounts.owner_email` (lowercased), or `owner_slack_id` when
an account has no email.

What a pulse compares: the latest scored period (max `scores.as_of`) against
the period of the last pulse the owner *received* (a 'sent' ledger row), or,
for an owner who never received one, the scored period before their first
pulse that could not be delivered, else the previous scored period. So a pulse that failed or was
skipped is never lost: the next one covers the movements since the last one
that arrived.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cache
from typing import Any

import pandas as pd

from bot.config import Settings
from bot.services.core import movement_direction
from messages.pulse import CategoryCount, Movement, Pulse, Upsell
from storage import deliveries as ledger
from storage import queries
from storage.store import Store

KIND = "pulse"          # ledger kind of a pulse delivery
TOP_UPSELLS = 3


class NoScores(Exception):
    """Nothing has been scored yet, so there is nothing to tell owners."""


def pulse_key(owner: str, period: str) -> str:
    return f"pulse:{owner}:{period}"


def scored_periods(store: Store) -> list[str]:
    """Every scored date, oldest first: one as_of index seek per date (SELECT DISTINCT
    would read every score row, 0.15 s at 200,000 of them)."""
    return [r[0] for r in store.conn.execute(
        "WITH RECURSIVE d(as_of) AS (SELECT min(as_of) FROM scores UNION ALL"
        " SELECT (SELECT min(as_of) FROM scores WHERE as_of > d.as_of) FROM d"
        " WHERE d.as_of IS NOT NULL) SELECT as_of FROM d WHERE as_of IS NOT NULL")]


def at_risk_categories(settings: Settings) -> list[str]:
    """The worse half of the Renewal Index bands (default: At Risk, Likely to Churn)."""
    names = settings.renewal_categories
    return names[math.ceil(len(names) / 2):]


def _money(value: Any) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def build_pulses(store: Store, settings: Settings, *, period: str | None = None,
                 include_sent: bool = False) -> list[Pulse]:
    """Every owner's pulse for `period` (default: the latest scored period).

    Owners who already received the pulse of `period` are left out unless
    `include_sent`. Raises NoScores when nothing is scored.
    """
    periods = scored_periods(store)
    if not periods:
        raise NoScores("nothing is scored yet: ingest snapshots and score them first")
    period = period or periods[-1]
    earlier = [p for p in periods if p < period]
    default_baseline = earlier[-1] if earlier else None

    # Accounts first, each one's score by primary key (CROSS JOIN keeps that order): in
    # account order both tables are read page after page. Led by the scores' as_of index
    # instead, SQLite reads them in churn order, a random page for every row (3x slower).
    cur = store.frame(
        "SELECT s.account_id, coalesce(a.name, s.account_id) AS name, a.arr,"
        " lower(nullif(trim(a.owner_email), '')) AS owner_email,"
        " nullif(trim(a.owner_slack_id), '') AS owner_slack_id,"
        " s.renewal_index AS ri, s.upsell_index AS ui"
        " FROM accounts a CROSS JOIN scores s ON s.account_id = a.account_id AND s.as_of = ?"
        " ORDER BY a.account_id",
        (period,),
    )
    # An account with only a Slack id belongs to the email owner seen with that id elsewhere.
    both = cur.dropna(subset=["owner_email", "owner_slack_id"]).drop_duplicates("owner_slack_id")
    cur["owner_email"] = cur["owner_email"].fillna(
        cur["owner_slack_id"].map(both.set_index("owner_slack_id")["owner_email"]))
    cur["owner"] = cur["owner_email"].fillna(cur["owner_slack_id"])
    cur = cur[cur["owner"].notna()]
    if cur.empty:
        return []
    cur["arr"] = pd.to_numeric(cur["arr"], errors="coerce").fillna(0.0)

    last_sent = ledger.last_sent_periods(store, KIND)
    unsent_since = ledger.first_unsent_periods(store, KIND)
    owner_baseline: dict[str, str | None] = {}
    for owner in cur["owner"].unique().tolist():
        sent = last_sent.get(owner)
        if sent is not None and sent >= period:
            if not include_sent:
                continue
            sent = None
        if sent is None and owner in unsent_since:
            # Never received one: start where the first pulse that failed to reach them did.
            before = [p for p in periods if p < unsent_since[owner]]
            sent = before[-1] if before else None
        owner_baseline[owner] = sent or default_baseline
    cur = cur[_isin(cur["owner"], owner_baseline)]
    cur["baseline"] = cur["owner"].map(owner_baseline)

    cats = settings.renewal_categories
    emoji = {name: settings.emoji_for(name) for name in cats}
    risky = set(at_risk_categories(settings))
    likely = settings.upsell_index.likely.name

    # What changed since each owner's baseline: one book-wide `queries.movements` per
    # distinct baseline (usually one), attached to the accounts of the owners using it.
    @cache  # a few categories: each pair's direction worked out once
    def direction(before: str | None, after: str | None, kind: str = "renewal") -> str | None:
        return movement_direction(settings, before, after, kind)

    frame = cur.assign(prev_ri=None, prev_ui=None, worsened=False, moved=False,
                       new_upsell=False, up_moved=False, up_worse=False, why=None,
                       up_why=None, gaps=False, steps=0)
    for base in sorted(b for b in cur["baseline"].dropna().unique()):
        rows = queries.movements(store, base, period)
        if not rows:
            continue
        changed = pd.DataFrame(rows, columns=list(rows[0]))
        renewal = [direction(b, a) for b, a in zip(
            *_lists(changed, "from_renewal_index", "to_renewal_index"), strict=True)]
        upsell = [direction(b, a, "upsell") for b, a in zip(
            *_lists(changed, "from_upsell_index", "to_upsell_index"), strict=True)]
        ranks = settings.for_scoring.renewal_ranks
        steps = [abs(ranks.get(a, 0) - ranks.get(b, 0)) for b, a in zip(
            *_lists(changed, "from_renewal_index", "to_renewal_index"), strict=True)]
        why = [_why(mv, base) for mv in changed["movement"].tolist()]
        up_why = [_why(mv, base, "upsell_reasons") for mv in changed["movement"].tolist()]
        changed = changed.assign(
            base=base, dir_renewal=renewal, dir_upsell=upsell, why=why, up_why=up_why,
            steps=steps,
            gaps=changed["data_gaps"].notna(),
        ).set_index("account_id")
        mine = (frame["baseline"] == base) & _isin(frame["account_id"], changed.index)
        ids = frame.loc[mine, "account_id"]
        dir_r = changed["dir_renewal"].reindex(ids).to_numpy()
        dir_u = changed["dir_upsell"].reindex(ids).to_numpy()
        frame.loc[mine, "prev_ri"] = changed["from_renewal_index"].reindex(ids).to_numpy()
        frame.loc[mine, "prev_ui"] = changed["from_upsell_index"].reindex(ids).to_numpy()
        frame.loc[mine, "moved"] = pd.notna(dir_r)
        frame.loc[mine, "worsened"] = dir_r == "down"
        frame.loc[mine, "new_upsell"] = dir_u == "up"
        frame.loc[mine, "up_moved"] = pd.notna(dir_u)
        frame.loc[mine, "up_worse"] = dir_u == "down"
        frame.loc[mine, "why"] = changed["why"].reindex(ids).to_numpy()
        frame.loc[mine, "up_why"] = changed["up_why"].reindex(ids).to_numpy()
        frame.loc[mine, "gaps"] = changed["gaps"].reindex(ids).to_numpy()
        frame.loc[mine, "steps"] = changed["steps"].reindex(ids).to_numpy()
    # A snoozed account leaves its owner's pulse: not a movement, not a top upsell.
    from bot.services.snooze import active as snoozed

    quiet = _isin(frame["account_id"], snoozed(store, settings))
    frame.loc[quiet, ["moved", "worsened", "new_upsell", "up_moved", "up_worse"]] = False
    frame["moved"] = frame["moved"].astype(bool)
    frame["up_moved"] = frame["up_moved"].astype(bool)
    frame["worsened"] = frame["worsened"].astype(bool)
    frame["risky"] = frame["ri"].isin(risky)
    frame["likely"] = frame["ui"] == likely
    frame["arr_risky"] = frame["arr"].where(frame["risky"], 0.0)
    frame["arr_likely"] = frame["arr"].where(frame["likely"], 0.0)

    totals = frame.groupby("owner", sort=True).agg(
        accounts=("account_id", "size"), arr=("arr", "sum"), at_risk=("risky", "sum"),
        arr_at_risk=("arr_risky", "sum"), upsells=("likely", "sum"),
        upsell_arr=("arr_likely", "sum"), email=("owner_email", "first"),
        slack_id=("owner_slack_id", "first"), baseline=("baseline", "first"))
    by_cat = frame.groupby(["owner", "ri"]).agg(n=("account_id", "size"), arr=("arr", "sum"))
    cat_counts: dict[str, dict[str, tuple[int, float]]] = {}
    by_cat = by_cat.reset_index()
    for owner, ri, n, arr in zip(*_lists(by_cat, "owner", "ri", "n", "arr"), strict=True):
        cat_counts.setdefault(owner, {})[ri] = (int(n), float(arr))

    # Renewal and Upsell Index moves, most important first: ARR x size of the change
    # (category steps; an upsell move is one step), then worse before better.
    up_emoji = {likely: settings.upsell_index.likely.emoji,
                settings.upsell_index.unlikely.name: settings.upsell_index.unlikely.emoji}
    items: list[tuple[str, Movement]] = []
    frame["why"] = frame["why"].where(frame["why"].map(lambda v: isinstance(v, str)), None)
    frame["up_why"] = frame["up_why"].where(frame["up_why"].map(lambda v: isinstance(v, str)), None)
    frame["gaps"] = frame["gaps"].map(lambda v: v is True)
    for kind, sel in (("renewal", frame["moved"]), ("upsell", frame["up_moved"])):
        part = frame[sel]
        for owner, acc, name, arr, pri, ri, pui, ui, worse, up_worse, why, up_why, gaps, steps \
                in zip(*_lists(part, "owner", "account_id", "name", "arr", "prev_ri", "ri",
                               "prev_ui", "ui", "worsened", "up_worse", "why", "up_why", "gaps",
                               "steps"), strict=True):
            if kind == "renewal":
                mv = Movement(acc, name, float(arr), pri, ri, emoji[pri], emoji[ri], bool(worse),
                              kind, why, bool(gaps), float(arr) * max(int(steps), 1))
            else:
                mv = Movement(acc, name, float(arr), pui, ui, up_emoji.get(pui, ""),
                              up_emoji.get(ui, ""), bool(up_worse), kind, up_why, bool(gaps),
                              float(arr))
            items.append((owner, mv))
    items.sort(key=lambda om: (om[0], -om[1].importance, not om[1].worsened, om[1].name,
                               om[1].kind))
    movements: dict[str, list[Movement]] = {}
    for owner, mv in items:
        movements.setdefault(owner, []).append(mv)

    ups = frame[frame["likely"] & ~quiet].sort_values(["owner", "arr", "name"], ascending=[True, False, True])
    ups = ups.groupby("owner", sort=False).head(TOP_UPSELLS)
    top_ups: dict[str, list[Upsell]] = {}
    for owner, acc, name, arr, new in zip(*_lists(
            ups, "owner", "account_id", "name", "arr", "new_upsell"), strict=True):
        top_ups.setdefault(owner, []).append(Upsell(acc, name, float(arr), bool(new)))

    provisional = bool(store.scalar("SELECT max(provisional) FROM models WHERE active = 1") or 0)
    out = []
    for owner, t in zip(totals.index.tolist(), totals.itertuples(index=False), strict=True):
        counts = cat_counts.get(owner, {})
        out.append(Pulse(
            owner=owner,
            owner_email=t.email if isinstance(t.email, str) else None,
            owner_slack_id=_first_slack_id(t.slack_id),
            period=period,
            baseline=t.baseline if isinstance(t.baseline, str) else None,
            accounts=int(t.accounts), arr=float(t.arr),
            categories=[CategoryCount(c, emoji[c], *counts.get(c, (0, 0.0))) for c in cats],
            arr_at_risk=float(t.arr_at_risk), at_risk_accounts=int(t.at_risk),
            upsell_name=likely, upsell_emoji=settings.upsell_index.likely.emoji,
            upsell_accounts=int(t.upsells), upsell_arr=float(t.upsell_arr),
            top_upsells=top_ups.get(owner, []),
            movements=movements.get(owner, []),
            provisional=provisional,
        ))
    return out


def _why(movement: Any, base: str, key: str = "reasons") -> str | None:
    from scoring.movements import stored_reasons

    return stored_reasons(movement, base, "upsell" if key == "upsell_reasons" else "renewal")


def _isin(column: pd.Series, values: Iterable[Any]) -> pd.Series:
    """`column.isin(values)` through Python objects: for Arrow-backed strings pandas makes a
    pyarrow scalar of each value first (0.6 s for 50,000 account ids; this way 0.08 s)."""
    return column.astype(object).isin(list(values))


def _lists(frame: pd.DataFrame, *columns: str) -> list[list[Any]]:
    """Columns as Python lists (iterating Arrow-backed pandas columns item by item is slow)."""
    return [frame[c].tolist() for c in columns]


def _first_slack_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def to_send(pulses: Iterable[Pulse], settings: Settings) -> list[Pulse]:
    """The pulses that become messages: steady ones (nothing of the owner's moved) only
    if pulse.send_when_steady."""
    return [p for p in pulses if not p.steady or settings.pulse.send_when_steady]
