"""Everything said about one current account's latest score.

For each current account's latest row (and only those: history is not re-explained):

- drivers: the largest exact contributions against the segment baseline (`explain`);
- its previous period re-scored by the same model, the movement between the two by
  the one rule (`movements.direction`) and its reasons (`movements.reasons`);
- data confidence: components whose metrics are all missing in this snapshot while the
  book has them, and a snapshot older than the book's latest. The score is still the
  model's (gradient boosting and the imputer treat blanks as blanks), but its
  confidence is lowered and every surface says why, instead of imputing in silence.

The first two come from `explain_current` in one pass: attributions are computed once
for the current rows and once for their previous rows, vectorised over all of them. Data
confidence needs no model: `data_gaps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring import explain, movements, persist
from scoring.features import TREND_SEP, distinct_sorted, human_label, is_context
from scoring.indexes import renewal_indexes, sticky_indexes, upsell_indexes
from scoring.settings import ScoringSettings

# A component counts as missing for an account only where most current accounts have it
# (a survey only some answer is often blank by nature).
USUAL_COVERAGE = 0.5
LOW_CONFIDENCE_WEIGHT = 0.10   # a gap in a component weighing this much makes confidence low


@dataclass
class Explained:
    drivers: list[str]
    previous_as_of: np.ndarray
    previous_health: np.ndarray
    previous_renewal: np.ndarray
    previous_upsell: np.ndarray
    movement: list[str | None]
    senses: dict[str, int]
    renewal_index: np.ndarray     # the rows' categories after the dead band (indexes doc)
    upsell_index: np.ndarray


def baseline_frame(typical: dict[int, dict[str, Any]], features: list[str],
                   categorical: set[str], k: int) -> pd.DataFrame:
    """One row per segment (1..k, in that order) holding its typical value of each feature."""
    data: dict[str, list[Any]] = {}
    for f in features:
        vals = [typical.get(s, {}).get(f, np.nan) for s in range(1, k + 1)]
        data[f] = (np.array([v if isinstance(v, str) else np.nan for v in vals], dtype=object)
                   if f in categorical else np.array(vals, dtype="float64"))
    return pd.DataFrame(data, columns=features)


def explain_current(*, frame: pd.DataFrame, keys: pd.DataFrame, positions: np.ndarray,
                    segment_ids: np.ndarray, typical: dict[int, dict[str, Any]],
                    bench: dict[int, dict[str, dict[str, float]]],
                    base_of: dict[str, str], categorical: list[str],
                    churn: dict[str, Any], upsell: dict[str, Any] | None,
                    predict: Any, upsell_threshold: float | None, health_now: np.ndarray,
                    upsell_p_now: np.ndarray | None, settings: ScoringSettings,
                    scored_p: np.ndarray | None = None) -> Explained:
    """See the module doc. `positions` index `frame`/`keys` (rows sorted by account,
    date); health_now / upsell_p_now are the rows' own scores (same order; upsell_p_now
    None = no upsell model). Their categories are decided here, with the dead band
    against the previous period (`indexes.sticky_indexes`), and returned. `predict(model, X)`
    gives a model's calibrated probabilities; health is a rank within each date, so the
    previous period is ranked among its date's accounts re-scored by this model.
    `scored_p`: the churn model's probabilities of `frame`'s rows where this run already
    has them (NaN elsewhere), so they are not predicted twice."""
    n = len(positions)
    cats = set(categorical)
    k = max(int(segment_ids.max()) if n else 1, max(typical) if typical else 1)
    features = churn["features"]
    base = baseline_frame(typical, features, cats, k)
    ref = segment_ids.astype("int64") - 1
    acc = keys["account_id"].to_numpy()
    prev = positions - 1
    has_prev = (prev >= 0) & (acc[np.maximum(prev, 0)] == acc[positions])
    prev_pos = prev[has_prev]

    at = np.concatenate([positions, prev_pos])   # this period's rows, then the previous
    rows = frame.iloc[at].reset_index(drop=True)
    refs = np.concatenate([ref, ref[has_prev]])
    all_dates = keys["as_of"].to_numpy()
    row_dates = all_dates[at]

    def churn_p(idx: np.ndarray) -> np.ndarray:
        p = np.full(len(idx), np.nan) if scored_p is None else scored_p[idx]
        missing = np.isnan(p)
        if missing.any():
            p[missing] = predict(churn, frame.iloc[idx[missing]])
        return p

    # Each date's accounts under this model (health is a rank within a date).
    date_p = {d: churn_p(np.flatnonzero(all_dates == d)) for d in distinct_sorted(row_dates)}
    p_rows = churn_p(at)
    p_base = predict(churn, base)
    health_rows = np.empty(len(rows))
    health_rows[:n] = health_now
    health_rows[n:] = explain.health_among_dates(p_rows[n:], row_dates[n:], date_p)
    base_health = explain.health_among_dates(p_base[refs], row_dates, date_p)
    mp = explain.metric_points(churn["pipeline"], features, rows, base, refs,
                               explain.driver_base(base_of), health_rows, base_health)
    now = slice(0, n)
    X_now = rows.iloc[now]
    mp_now = explain.MetricPoints(mp.metrics, mp.points[now], mp.health[now],
                                  mp.baseline_health[now])
    senses = explain.metric_senses(mp_now, X_now, base, ref, cats)
    # The good/bad sense a driver must agree with: the churn model's book-wide directions
    # (its Leading Indicators', more churn risk = worse), else (a model stored without
    # them) the directions of this run's attributions.
    directions = (churn.get("metrics") or {}).get("directions")
    book_senses = ({m: -int(s) for m, s in directions.items()} if directions is not None
                   else senses)
    drivers = explain.account_drivers(mp_now, X_now, segment_ids, typical, bench,
                                      settings.component_of, cats, book_senses)

    # The previous period under the same model.
    m_prev = int(has_prev.sum())
    prev_health = np.full(n, np.nan)
    prev_health[has_prev] = mp.health[n:]
    prev_renewal = np.full(n, None, dtype=object)
    prev_renewal[has_prev] = renewal_indexes(prev_health[has_prev], settings)
    prev_upsell = np.full(n, None, dtype=object)
    prev_as_of = np.full(n, None, dtype=object)
    prev_as_of[has_prev] = keys["as_of"].to_numpy()[prev_pos]
    X_prev = rows.iloc[n:]
    if upsell is not None and m_prev:
        p = np.round(predict(upsell, X_prev), 6)
        prev_upsell[has_prev] = upsell_indexes(p, upsell_threshold, settings)
    renewal_now, upsell_now = sticky_indexes(health_now, prev_renewal, upsell_p_now,
                                             prev_upsell, upsell_threshold, settings)
    if upsell_now is None:
        upsell_now = np.full(n, None, dtype=object)
    # Health as stored (rounded) on both sides, so the rule sees what the card shows.
    renewal_dir = movements.directions(prev_renewal, renewal_now, settings.renewal_categories)
    upsell_dir = movements.directions(prev_upsell, upsell_now, settings.upsell_categories)

    moved = np.flatnonzero((renewal_dir != None) | (upsell_dir != None))
    movement: list[str | None] = [None] * n
    if len(moved):
        movement = _reasons(moved, has_prev, n, rows, X_now, segment_ids, bench,
                            renewal_dir, upsell_dir, prev_renewal, renewal_now,
                            prev_upsell, upsell_now, health_now, prev_health, prev_as_of,
                            churn, upsell, base_of, cats, senses, settings.horizon_days)
    return Explained(
        drivers=[persist.dumps(d) for d in drivers], previous_as_of=prev_as_of,
        previous_health=np.round(prev_health, 1), previous_renewal=prev_renewal,
        previous_upsell=prev_upsell, movement=movement, senses=senses,
        renewal_index=renewal_now, upsell_index=upsell_now)


def _levels(values: pd.DataFrame, metrics: list[str], segment_ids: np.ndarray,
            bench: dict[int, dict[str, dict[str, float]]], cats: set[str]
            ) -> dict[str, np.ndarray]:
    top = int(segment_ids.max()) + 1 if len(segment_ids) else 1
    out = {}
    for m in metrics:
        if m in cats or m not in values:
            continue
        low = np.array([bench.get(s, {}).get(m, {}).get("low", np.nan) for s in range(top)])
        high = np.array([bench.get(s, {}).get(m, {}).get("high", np.nan) for s in range(top)])
        out[m] = explain.levels_of(values[m].to_numpy(dtype="float64"), low[segment_ids],
                                   high[segment_ids])
    return out


def _columns(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """The columns of `frame` among `names` as arrays (read once, not per cell)."""
    return {m: frame[m].to_numpy() for m in names if m in frame}


def _value(columns: dict[str, np.ndarray], m: str, i: int) -> Any:
    return explain._plain(columns[m][i]) if m in columns else None


def change_points(model: dict[str, Any], X_now: pd.DataFrame, X_prev: pd.DataFrame,
                  base_of: dict[str, str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The account's own attribution of the change between two periods: row i of X_now
    against row i of X_prev (the reference) on `model`'s raw log-odds, per base metric,
    (metrics, all its features, its own level only). Exact, and a metric whose features
    did not change gets nothing (baseline Shapley: `scoring.attributions`)."""
    from scoring.attributions import contributions, sum_columns

    features = model["features"]
    att = contributions(model["pipeline"], X_now.reset_index(drop=True),
                        X_prev.reset_index(drop=True), np.arange(len(X_now)), features)
    att.check(1e-6)
    metrics = sorted({base_of[f] for f in features})
    col = {m: j for j, m in enumerate(metrics)}
    total = sum_columns(att.values, [col[base_of[f]] for f in features], len(metrics))
    level = np.zeros_like(total)
    for j, f in enumerate(features):
        if base_of[f] == f:
            level[:, col[f]] = att.values[:, j]
    return metrics, total, level


def book_directions(model: dict[str, Any] | None, fallback: dict[str, int]) -> dict[str, int]:
    """Book-wide direction of each metric, +1 = more of it raises the model's raw score
    (churn risk, upsell likelihood): the `signs` of the model's Leading Indicator rows,
    else `fallback` (a model stored before its indicator rows kept their signs)."""
    signs = {m: int(s) for r in (model or {}).get("indicators") or []
             for m, s in (r.get("signs") or {}).items() if s is not None}
    return signs or fallback


def _reasons(moved: np.ndarray, has_prev: np.ndarray, n: int, rows: pd.DataFrame,
             X_now: pd.DataFrame, segment_ids: np.ndarray,
             bench: dict[int, dict[str, dict[str, float]]], renewal_dir: np.ndarray,
             upsell_dir: np.ndarray, prev_renewal: np.ndarray, renewal_now: np.ndarray,
             prev_upsell: np.ndarray, upsell_now: np.ndarray, health_now: np.ndarray,
             prev_health: np.ndarray, prev_as_of: np.ndarray, churn: dict[str, Any],
             upsell: dict[str, Any] | None, base_of: dict[str, str], cats: set[str],
             senses: dict[str, int], horizon_days: int) -> list[str | None]:
    prev_index = np.full(n, -1)
    prev_index[has_prev] = np.arange(int(has_prev.sum()))
    X_prev = rows.iloc[n:].reset_index(drop=True)
    metrics = sorted(set(base_of.values()))
    labels = {m: human_label(m) for m in metrics}
    units = {m: explain.unit_of(m) for m in metrics}
    lv_now = _levels(X_now, metrics, segment_ids, bench, cats)
    lv_prev = _levels(X_prev, metrics, segment_ids[has_prev], bench, cats)
    # Each move is explained by the model whose index moved, on its own attribution of
    # the change between the two periods (score orientation: + = the score got better;
    # churn log-odds fall when health rises). Directions in the same orientation.
    changes: dict[str, tuple[list[str], dict[int, int], np.ndarray, np.ndarray,
                             dict[str, int]]] = {}
    for kind, model, dirs, orient in (("renewal", churn, renewal_dir, -1),
                                      ("upsell", upsell, upsell_dir, 1)):
        idx = np.array([i for i in moved if dirs[i] is not None], dtype="int64")
        if model is None or not len(idx):
            continue
        names, total, level = change_points(model, X_now.iloc[idx], X_prev.iloc[prev_index[idx]],
                                            base_of)
        book = book_directions(model, {m: -s for m, s in senses.items()} if kind == "renewal"
                               else {})
        changes[kind] = (names, {int(i): j for j, i in enumerate(idx)}, orient * total,
                         orient * level, {m: orient * s for m, s in book.items()})
    names_all = sorted({m for names, *_ in changes.values() for m in names})
    cols_now, cols_prev = _columns(X_now, names_all), _columns(X_prev, names_all)
    d3_now = _columns(X_now, [f"{m}{TREND_SEP}d3" for m in names_all])
    out: list[str | None] = [None] * n
    for i in moved:
        p = prev_index[i]
        found: dict[str, list[dict[str, Any]]] = {}
        for kind, dirs in (("renewal", renewal_dir), ("upsell", upsell_dir)):
            if kind not in changes or int(i) not in changes[kind][1]:
                continue
            names, row_of, total, level, book = changes[kind]
            r = row_of[int(i)]
            now = {m: _value(cols_now, m, i) for m in names}
            before = {m: _value(cols_prev, m, p) for m in names}
            ln = {m: lv_now[m][i] for m in names if m in lv_now}
            lb = {m: lv_prev[m][p] for m in names if m in lv_prev}
            trend = {m: float(d3_now[f"{m}{TREND_SEP}d3"][i]) for m in names
                     if f"{m}{TREND_SEP}d3" in d3_now}
            found[kind] = movements.reasons(
                total[r], names, 1 if dirs[i] == "up" else -1, now, before, ln, lb, trend,
                {m: labels[m] for m in names}, {m: units[m] for m in names}, own_level=level[r],
                book=book, relative=kind == "renewal", horizon_days=horizon_days)
        why = found.get("renewal") or found.get("upsell") or []
        out[i] = persist.dumps({
            "renewal": renewal_dir[i], "upsell": upsell_dir[i],
            "from_as_of": prev_as_of[i],
            "renewal_from": prev_renewal[i], "renewal_to": renewal_now[i],
            "upsell_from": prev_upsell[i], "upsell_to": upsell_now[i],
            "health_from": round(float(prev_health[i]), 2),
            "health_to": round(float(health_now[i]), 2),
            "reasons": found.get("renewal", []),
            "upsell_reasons": found.get("upsell", []),
            "text": movements.summary(renewal_dir[i], upsell_dir[i], prev_renewal[i],
                                      renewal_now[i], prev_upsell[i], upsell_now[i], why),
        })
    return out


def data_gaps(frame: pd.DataFrame, keys: pd.DataFrame, positions: np.ndarray,
              base_of: dict[str, str], settings: ScoringSettings, book_latest: str,
              weights: dict[str, float]) -> list[str | None]:
    """Data confidence of the rows at `positions` (see the module doc; it needs no
    attribution, so it is computed apart from `explain_current`): JSON {confidence,
    gaps: [{component, since, weight}], stale_since} per row, None when the data is
    complete. `weights`: each component's Leading Indicator weight."""
    n = len(positions)
    as_of = keys["as_of"].to_numpy()
    acc = keys["account_id"].to_numpy()
    metrics_of: dict[str, list[str]] = {}
    for f, m in base_of.items():
        if f != m or is_context(m) or m not in frame:
            continue
        comp = settings.component_of(m)
        if comp:
            metrics_of.setdefault(comp, []).append(m)
    gaps: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for comp, cols in sorted(metrics_of.items()):
        present = frame[cols].notna().any(axis=1).to_numpy()
        if present[positions].mean() < USUAL_COVERAGE:
            continue   # often blank by nature (e.g. survey answers): a blank is no gap
        missing_now = ~present[positions]
        if not missing_now.any():
            continue
        # The account's last row with any of the component's metrics (rows are sorted
        # by account, date, so the largest row index is the latest).
        last_row = pd.Series(np.where(present, np.arange(len(present)), -1)).groupby(
            acc).max()
        for i in np.flatnonzero(missing_now):
            r = int(last_row.get(acc[positions[i]], -1))
            gaps[i].append({"component": comp, "since": as_of[r] if r >= 0 else None,
                            "weight": round(float(weights.get(comp, 0.0)), 4)})
    out: list[str | None] = []
    for i in range(n):
        stale = as_of[positions[i]] < book_latest
        if not gaps[i] and not stale:
            out.append(None)
            continue
        heavy = stale or any(g["weight"] >= LOW_CONFIDENCE_WEIGHT for g in gaps[i])
        out.append(persist.dumps({
            "confidence": "low" if heavy else "reduced",
            "gaps": gaps[i],
            "stale_since": as_of[positions[i]] if stale else None,
        }))
    return out
