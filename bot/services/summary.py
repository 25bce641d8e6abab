"""`/outcome summary` and the weekly channel summary: accounts and ARR per category, movements."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.services.core import (
    guarded,
    movement_direction,
    period,
    provisional,
    provisional_reason,
)
from messages.summary import CategoryLine, Movement, SummaryData
from storage import queries
from storage.store import Store


def _lines(categories: list[str], now: dict[str, dict[str, float]],
           before: dict[str, dict[str, float]] | None) -> list[CategoryLine]:
    out = []
    for cat in categories:
        cur = now.get(cat, {"accounts": 0, "arr": 0.0})
        prev = None if before is None else int(before.get(cat, {"accounts": 0})["accounts"])
        out.append(CategoryLine(cat, int(cur["accounts"]), float(cur["arr"] or 0.0), prev))
    return out


def movement_rows(settings: Settings, rows: list[dict[str, Any]],
                  base: str | None = None) -> list[Movement]:
    """Movements (renewal and upsell changes) from `storage.queries.movements` rows, with
    the reasons scoring stored (when they compare with period `base`)."""
    from scoring.movements import stored_reasons

    out = []
    for r in rows:
        for kind in ("renewal", "upsell"):
            before, after = r[f"from_{kind}_index"], r[f"to_{kind}_index"]
            direction = movement_direction(settings, before, after, kind)
            if direction is None:
                continue
            out.append(Movement(r["account_id"], r["name"], r["owner_email"], r["owner_slack_id"],
                                r["arr"], kind, before, after, direction,
                                r.get("from_health"), r.get("to_health"),
                                stored_reasons(r.get("movement"), base, kind)))
    return out


@guarded
def summary(store: Store, settings: Settings, *, as_of: str | None = None,
            owner_email: str | None = None, owner_slack_id: str | None = None) -> SummaryData:
    """Accounts and ARR per Renewal Index and Upsell Index category, and movements since the
    previous period; for the whole book, or one owner's accounts (email and/or Slack id)."""
    p = period(store, as_of)
    owner = {"owner_email": owner_email, "owner_slack_id": owner_slack_id}
    renewal_now = queries.category_totals(store, p.as_of, "renewal_index", **owner)
    upsell_now = queries.category_totals(store, p.as_of, "upsell_index", **owner)
    renewal_before = upsell_before = None
    moves: list[Movement] = []
    missing: list[dict[str, Any]] = []
    missing_total = 0
    if p.previous:
        missing, missing_total = queries.missing_from_latest(store, p.as_of, p.previous, **owner)
        renewal_before = queries.category_totals(store, p.previous, "renewal_index", **owner)
        upsell_before = queries.category_totals(store, p.previous, "upsell_index", **owner)
        from bot.services.snooze import active as snoozed

        quiet = snoozed(store, settings)   # snoozed accounts leave the movement sections
        moves = [m for m in movement_rows(settings, queries.movements(store, p.previous, p.as_of,
                                                                      **owner), p.previous)
                 if m.account_id not in quiet]
    renewal = _lines(settings.renewal_categories, renewal_now, renewal_before)
    upsell = _lines(settings.upsell_categories, upsell_now, upsell_before)
    return SummaryData(
        as_of=p.as_of,
        previous_as_of=p.previous,
        renewal=renewal,
        upsell=upsell,
        total_accounts=sum(line.accounts for line in renewal),
        total_arr=sum(line.arr for line in renewal),
        improved=[m for m in moves if m.kind == "renewal" and m.direction == "up"],
        worsened=[m for m in moves if m.kind == "renewal" and m.direction == "down"],
        upsell_gained=[m for m in moves if m.kind == "upsell" and m.direction == "up"],
        upsell_lost=[m for m in moves if m.kind == "upsell" and m.direction == "down"],
        owner_email=owner_email,
        owner_slack_id=owner_slack_id,
        provisional=provisional(store),
        provisional_reason=provisional_reason(store),
        missing=missing,
        missing_total=missing_total,
    )
