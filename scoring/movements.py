"""The one movement rule, and the reasons of a movement.

A movement is a change of Renewal Index or Upsell Index category between an account's
previous period and this one, both scored by the same model: the scoring run re-scores
the previous snapshot with the model that scores the current one, so a retrained model
alone never shows as a movement. `direction` is the only place that decides whether a
change is one and which way it goes; the bot, the pulse, the summary and the card all
read what scoring stored with it.

Reasons come from the same attributions as the drivers: both periods are explained
against the same segment baseline, so the change of each metric's contribution adds up
exactly to the change of the score; the metrics whose contribution moved most in the
direction of the movement are its reasons, said as the change a CSM can check in the
data ("Feature adoption (%) High → Low", "Sev-1 tickets (90d) 0 → 3").
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


def reasons(delta: np.ndarray, metrics: list[str], sign: int,
            now: dict[str, Any], before: dict[str, Any],
            level_now: dict[str, str | None], level_before: dict[str, str | None],
            trend_now: dict[str, float], labels: dict[str, str],
            units: dict[str, str | None]) -> list[dict[str, Any]]:
    """The metrics whose contribution changed most in direction `sign` (+1: the score
    rose), each with the change in the data that a CSM can check."""
    import numpy as np

    order = np.argsort(-sign * delta, kind="stable")
    out: list[dict[str, Any]] = []
    for j in order:
        if sign * delta[j] <= 1e-9 or len(out) >= MAX_REASONS:
            break
        m = metrics[j]
        a, b = before.get(m), now.get(m)
        la, lb = level_before.get(m), level_now.get(m)
        if la and lb and la != lb:
            text = f"{labels[m]} {la} → {lb}"
        elif _known(a) and _known(b) and a != b:
            if _minor(a, b):
                continue   # a 1% wiggle is no reason a CSM can act on
            text = f"{labels[m]} {_fmt(a, units[m])} → {_fmt(b, units[m])}"
        elif not _known(b) and _known(a):
            text = f"{labels[m]}: no data now"
        elif m in trend_now and np.isfinite(trend_now[m]) and abs(trend_now[m]) >= 0.1:
            change = math.expm1(trend_now[m]) * 100
            text = f"{labels[m]} {'down' if change < 0 else 'up'} {abs(change):.0f}% in 3 months"
        else:
            continue
        out.append({"metric": m, "text": text, "from": a, "to": b,
                    "from_level": la, "to_level": lb, "change": round(float(delta[j]), 3)})
    return out


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
