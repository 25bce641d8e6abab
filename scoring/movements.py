"""The one movement rule, and the reasons of a movement.

A movement is a change of Renewal Index or Upsell Index category between an account's
previous period and this one, both scored by the same model: the scoring run re-scores
the previous snapshot with the model that scores the current one, so a retrained model
alone never shows as a movement. `direction` is the only place that decides whether a
change is one and which way it goes; the bot, the pulse, the summary and the card all
read what scoring stored with it.

Reasons come from the account's own exact attribution of the change between the two
periods (the previous period is the reference row, so the changes of all metrics add up to
the change of the model's score, and a metric that did not change has none). A metric is
a reason only when its change moved the score the way the account moved *and* its data
moved the way the model says such a change should (`metric_direction`: the account's own
attribution, never against the model's clear book-wide direction, the book-wide direction
where the account's own is nil), said as the change
a CSM can check in the data ("Feature adoption (%) High → Low", "Sev-1 tickets (90d)
0 → 3", "renewal 31 days closer"). When none qualifies, one short honest note says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads where arrays are handled: a card's `direction` stays light
    import numpy as np

MAX_REASONS = 3


def direction(before: str | None, after: str | None, order: Sequence[str]) -> str | None:
    """'up' (better), 'down' (worse) or None (same or unknown) between two categories.

    `order` lists the categories best first: the Renewal Index bands, or for the
    Upsell Index (likely, unlikely).
    """
    if before is None or after is None or before == after:
        return None
    try:
        b, a = list(order).index(before), list(order).index(after)
    except ValueError:
        return None
    return "up" if a < b else "down"


def directions(before: np.ndarray, after: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """`direction` for arrays of categories (object array of 'up' / 'down' / None)."""
    import numpy as np

    rank = {c: i for i, c in enumerate(order)}
    b = np.array([rank.get(v, -1) if isinstance(v, str) else -1 for v in before])
    a = np.array([rank.get(v, -1) if isinstance(v, str) else -1 for v in after])
    known = (a >= 0) & (b >= 0)
    out = np.full(len(a), None, dtype=object)
    out[known & (a < b)] = "up"
    out[known & (a > b)] = "down"
    return out


def _fmt(value: Any, unit: str | None) -> str:
    from scoring.explain import format_value

    return format_value(value, unit)


LEVEL_RANK = {"Low": 0, "Medium": 1, "High": 2}
# Context features that change with time alone (names after scoring.features.CONTEXT).
DAYS_TO_RENEWAL, RENEWAL_SOON, TENURE = "days_to_renewal", "renewal_soon", "tenure_days"
RENEWAL_DATE = (DAYS_TO_RENEWAL, RENEWAL_SOON)   # two metrics of one fact: one reason
# Notes said when no change in the account's own data explains a movement.
SMALL_SHIFTS = "small shifts across many metrics"
BOOK_MOVED = {1: "its own risk did not fall: other accounts got worse",
              -1: "its own risk did not rise: other accounts improved"}


def change_direction(a: Any, b: Any, la: str | None, lb: str | None,
                     trend: float | None) -> int:
    """Which way the data moved between the periods: +1 more, -1 less, 0 not at all or
    not known (a level change first, else the values, else the 3-month trend)."""
    if la in LEVEL_RANK and lb in LEVEL_RANK and la != lb:
        return 1 if LEVEL_RANK[lb] > LEVEL_RANK[la] else -1
    if (_known(a) and _known(b) and not isinstance(a, str) and not isinstance(b, str)
            and float(b) != float(a)):
        return 1 if float(b) > float(a) else -1
    if trend is not None and math.isfinite(trend) and trend != 0:
        return 1 if trend > 0 else -1
    return 0


def metric_direction(own_level: float, moved: int, book: int | None) -> int:
    """The direction the scoring model gives a metric for this account: +1 = more of it
    raises the score that moved (health, upsell likelihood), -1 lowers it, 0 unknown.

    `own_level` is the contribution of the metric's own level to the change between the
    periods (previous period as the reference, score orientation), `moved` the way its
    value moved; their signs give the direction for this account. `book` is the model's
    book-wide direction (its Leading Indicators'; 0 or None where it has no clear one).
    Where the book's direction is clear, the account's own must not go against it (0 when
    it does: the card's drivers follow the same rule, and "CSAT down" is never a reason an
    account got better); where the account's own is nil (the model saw only the metric's
    trends move) or the value did not move, the book's. Without a clear book-wide
    direction, the account's own.
    """
    own = (1 if own_level > 0 else -1) * moved if moved and abs(own_level) > 1e-9 else 0
    if book:
        return int(book) if own in (0, int(book)) else 0
    return own


def reasons(delta: np.ndarray, metrics: list[str], sign: int,
            now: dict[str, Any], before: dict[str, Any],
            level_now: dict[str, str | None], level_before: dict[str, str | None],
            trend_now: dict[str, float], labels: dict[str, str],
            units: dict[str, str | None], *, own_level: np.ndarray,
            book: dict[str, int], relative: bool = False,
            horizon_days: int | None = None) -> list[dict[str, Any]]:
    """The reasons of a movement in direction `sign` (+1: the score rose), at most
    MAX_REASONS, largest first; each said as the change a CSM can check in the data.

    `delta` is the account's own attribution of the change between the two periods, per
    metric (all its features; score orientation, the previous period as the reference, so
    a metric that did not change has none). A metric is a reason only when
    - its change moved the score the way the account moved (sign * delta > 0), and
    - the change of its data reads that way too: the way it moved times the model's
      direction for it (`metric_direction`: the account's own, else the book-wide one in
      `book`) is `sign`. "Payment late days High → Medium" is never a reason to worsen.
    When no change qualifies, one honest note instead of contradicting changes: for a
    Renewal Index that is relative to the book (`relative`), an account whose own risk
    moved the other way moved because the book did; else small shifts across many metrics.
    """
    import numpy as np

    order = np.argsort(-sign * delta, kind="stable")
    out: list[dict[str, Any]] = []
    for j in order:
        if sign * delta[j] <= 1e-9 or len(out) >= MAX_REASONS:
            break
        m = metrics[j]
        a, b = before.get(m), now.get(m)
        la, lb = level_before.get(m), level_now.get(m)
        trend = trend_now.get(m)
        if not _known(b) and _known(a):
            # The model scores a blank as a blank; the value it had says which way that
            # moved it ("NPS: no data now (was 2)" can be a reason to get better).
            text = f"{labels[m]}: no data now (was {_fmt(a, units.get(m))})"
        elif isinstance(a, str) or isinstance(b, str):
            if a == b:      # a category has no "more": its own contribution decides
                continue
            text = f"{labels[m]} {_fmt(a, None)} → {_fmt(b, None)}"
        else:
            moved = change_direction(a, b, la, lb, trend)
            if moved == 0 or moved * metric_direction(float(own_level[j]), moved,
                                                      book.get(m)) != sign:
                continue
            text = _change_text(m, a, b, la, lb, trend, labels[m], units.get(m), horizon_days)
            if text is None:
                continue
            # The renewal date's two metrics (days to it, within the horizon) are one
            # reason: "renewal 31 days closer, now within 90 days", not the date twice.
            said = next((r for r in out if _context(r["metric"]) in RENEWAL_DATE), None) \
                if _context(m) in RENEWAL_DATE else None
            if said is not None:
                said["text"] += ", " + text.removeprefix("renewal ")
                continue
        out.append({"metric": m, "text": text, "from": a, "to": b,
                    "from_level": la, "to_level": lb, "change": round(float(delta[j]), 3)})
    if out:
        return out
    total = float(np.sum(delta))
    note = BOOK_MOVED[sign] if relative and sign * total <= 1e-9 else SMALL_SHIFTS
    return [{"metric": None, "text": note, "note": True, "change": round(total, 3)}]


def _change_text(m: str, a: Any, b: Any, la: str | None, lb: str | None,
                 trend: float | None, label: str, unit: str | None,
                 horizon_days: int | None) -> str | None:
    """'Feature adoption (%) High → Low', 'Sev-1 tickets (90d) 0 → 3', 'renewal 31 days
    closer'; None when the change is too small to name."""
    both = _known(a) and _known(b) and not isinstance(a, str) and not isinstance(b, str)
    ctx = _context(m)
    if ctx == DAYS_TO_RENEWAL and both:        # time passing, said as such
        days = round(float(a) - float(b))
        return (f"renewal {days} days closer" if days > 0
                else f"renewal date moved out ({_fmt(a, None)} → {_fmt(b, None)} days)")
    if ctx == RENEWAL_SOON and both:
        within = f"within {horizon_days} days" if horizon_days else "within the horizon"
        return f"renewal now {within}" if float(b) > float(a) else f"renewal no longer {within}"
    if ctx == TENURE and both:
        return f"{round(float(b) - float(a))} more days as a customer"
    if la and lb and la != lb:
        return f"{label} {la} → {lb}"
    if _known(a) and _known(b) and a != b:
        if _minor(a, b):
            return None   # a 1% wiggle is no reason a CSM can act on
        return f"{label} {_fmt(a, unit)} → {_fmt(b, unit)}"
    if trend is not None and math.isfinite(trend) and abs(trend) >= 0.1:
        change = math.expm1(trend) * 100
        return f"{label} {'down' if change < 0 else 'up'} {abs(change):.0f}% in 3 months"
    return None


def _context(m: str) -> str | None:
    """A context metric's own name (`ctx__days_to_renewal` -> `days_to_renewal`), else None."""
    from scoring.features import CONTEXT  # scoring only: a card never loads pandas for this

    return m.removeprefix(CONTEXT) if m.startswith(CONTEXT) else None


MINOR_CHANGE = 0.05   # relative change of a number too small to be named as a reason


def _minor(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return False
    return abs(float(b) - float(a)) < MINOR_CHANGE * max(abs(float(a)), abs(float(b)), 1.0)


def _known(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def summary(renewal: str | None, upsell: str | None, renewal_from: str | None,
            renewal_to: str | None, upsell_from: str | None, upsell_to: str | None,
            why: list[dict[str, Any]]) -> str:
    """'Watch → At Risk: Feature adoption (%) High → Low, Sev-1 tickets (90d) 0 → 3'."""
    parts = []
    if renewal:
        parts.append(f"{renewal_from} → {renewal_to}")
    if upsell:
        parts.append(f"{upsell_from} → {upsell_to}")
    head = "; ".join(parts)
    return f"{head}: {', '.join(r['text'] for r in why)}" if why else head


def stored_reasons(movement: Any, base: str | None, kind: str = "renewal") -> str | None:
    """The reasons text scoring stored with a score's movement (its JSON), for the
    Renewal Index ('renewal') or Upsell Index ('upsell') move, when it compares with
    period `base` (None: any)."""
    import json

    if not isinstance(movement, str) or not movement:
        return None
    try:
        data = json.loads(movement)
    except ValueError:
        return None
    if base is not None and data.get("from_as_of") != base:
        return None
    key = "upsell_reasons" if kind == "upsell" else "reasons"
    reasons = [r.get("text") for r in data.get(key) or [] if r.get("text")]
    return ", ".join(reasons) or None
