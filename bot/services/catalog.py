"""What the models are made of: segments, Leading Indicators, data components."""

from __future__ import annotations

import io
from typing import Any

from bot.config import Settings
from bot.services.core import guarded, period
from bot.services.errors import BadArguments, NotScoredYet
from messages.catalog import FeaturesData, IndicatorsData, SegmentData, SegmentsData
from messages.spreadsheet import write_csv
from storage import queries
from storage.store import Store


def _churn_model(store: Store) -> dict[str, Any]:
    model = queries.active_model(store, "churn")
    if model is None:
        raise NotScoredYet()
    return model


@guarded
def segments(store: Store, settings: Settings) -> SegmentsData:
    model = _churn_model(store)
    return SegmentsData(model["version"], queries.segments(store, model["version"]),
                        model["provisional"])


def require_segment(store: Store, segment_id: int) -> dict[str, Any]:
    """The segment of the current model, or BadArguments naming the segments there are."""
    model = _churn_model(store)
    seg = queries.segment(store, model["version"], segment_id)
    if seg is None:
        known = [s["segment_id"] for s in queries.segments(store, model["version"])]
        listed = ", ".join(str(k) for k in known) or "none yet"
        raise BadArguments(f"There is no segment {segment_id}. Segments: {listed}.")
    return seg


@guarded
def segment(store: Store, settings: Settings, segment_id: int, top: int = 5) -> SegmentData:
    seg = require_segment(store, segment_id)
    p = period(store)
    members = queries.segment_members(store, p.as_of, segment_id)
    by_cat: dict[str, int] = {c: 0 for c in settings.renewal_categories}
    for m in members:
        by_cat[m["renewal_index"]] = by_cat.get(m["renewal_index"], 0) + 1
    return SegmentData(seg, len(members), members[:top], by_cat, p.as_of)


CSV_COLUMNS = ["account_id", "name", "owner_email", "arr", "renewal_date", "health_score",
               "renewal_index", "upsell_index", "products"]


@guarded
def segment_csv(store: Store, settings: Settings, segment_id: int) -> tuple[str, bytes]:
    """(file name, CSV bytes) of every member of a segment in the latest period."""
    data = segment(store, settings, segment_id)
    members = queries.segment_members(store, data.as_of, segment_id)
    out = io.StringIO()
    write_csv(out, CSV_COLUMNS, members)
    return f"segment-{segment_id}-{data.as_of}.csv", out.getvalue().encode("utf-8")


@guarded
def indicators(store: Store, settings: Settings) -> IndicatorsData:
    churn = _churn_model(store)
    upsell = queries.active_model(store, "upsell")
    return IndicatorsData(churn, upsell, queries.indicators(store, churn["version"]),
                          queries.indicators(store, upsell["version"]) if upsell else [])


@guarded
def features(store: Store, settings: Settings) -> FeaturesData:
    """Data components ✅/❌ with coverage; catalogue components never seen show as missing."""
    rows = {r["component"]: r for r in queries.components(store)}
    out = []
    for comp, cols in settings.components.items():
        out.append(rows.pop(comp, None) or {"component": comp, "columns": cols, "present": [],
                                            "connected": False, "coverage": 0.0})
    out.extend(rows.values())
    return FeaturesData(out, settings.components)
