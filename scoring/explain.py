"""Leading Indicators (weight of each data component) and per-account drivers.

Indicators use grouped permutation importance on held-out rows: all the features
made from a component's metrics (levels and trends) are shuffled together, and the
rise in log-loss is that component's importance. It is model-agnostic, measured on
rows the model never trained on, seeded (same data, same weights), and grouping
keeps correlated metrics from splitting their credit. Context features (renewal
timing, tenure, ARR) are measured too but are not data components, so they are kept
in the model's metrics rather than in the indicator weights.

Drivers answer "why this score" for one account: each metric (level and trends) in
turn is set to its segment's typical value and the change in the log-odds of churn is
that metric's pull (log-odds, so healthy and risky accounts both get their reasons).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from scoring.features import TREND_SEP, human_label, is_context

OTHER_COMPONENT = "Other metrics"
CONTEXT_GROUP = "Account & contract"
IMPORTANCE_ROWS = 20_000
REPEATS = 3
MIN_PULL = 0.05         # in log-odds of churn: about a 5% change in the odds
MAX_DRIVERS = 3


def component_for(metric: str, component_of: Callable[[str], str | None]) -> str | None:
    """The data component of a base metric; context features have none."""
    if is_context(metric):
        return None
    return component_of(metric) or OTHER_COMPONENT


def _loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))


def grouped_importance(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame,
                       y: np.ndarray, groups: dict[str, list[str]], seed: int,
                       repeats: int = REPEATS) -> dict[str, float]:
    """Mean rise in log-loss when each group's columns are shuffled together (>= 0)."""
    base = _loss(y, predict(X))
    out: dict[str, float] = {}
    work = X.copy()
    for i, (name, cols) in enumerate(sorted(groups.items())):
        rng = np.random.default_rng([seed, i])
        original = {c: work[c].to_numpy(copy=True) for c in cols}
        rises = []
        for _ in range(repeats):
            perm = rng.permutation(len(work))
            for c in cols:
                work[c] = original[c][perm]
            rises.append(_loss(y, predict(work)) - base)
        for c in cols:
            work[c] = original[c]
        out[name] = max(0.0, float(np.mean(rises)))
    return out


def leading_indicators(model: Any, base_of: dict[str, str],
                       component_of: Callable[[str], str | None], seed: int,
                       fallback_X: pd.DataFrame | None = None,
                       fallback_y: np.ndarray | None = None) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Indicator rows for one trained model and the context features' importance.

    Uses the model's held-out rows and its train-only model; with no held-out rows
    (a handful of labels) it falls back to the training rows, which the caller says.
    """
    if model.validation_X is not None and len(model.validation_X):
        X, y, pipe = model.validation_X, model.validation_y, model.validation_model
        features = list(pipe.feature_names_)
    else:
        X, y, pipe, features = fallback_X, fallback_y, model.pipeline, model.features
    rng = np.random.default_rng(seed)
    if len(X) > IMPORTANCE_ROWS:
        rows = np.sort(rng.choice(len(X), IMPORTANCE_ROWS, replace=False))
        X, y = X.iloc[rows], y[rows]
    X = X[features].reset_index(drop=True)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return pipe.predict_proba(frame)[:, 1]

    # A '<x>' metric next to '<x>_used' is the denominator of a utilisation: the two are
    # shuffled and credited together, under the '_used' metric.
    merged = {m.removesuffix("_used"): m for m in set(base_of.values())
              if m.endswith("_used") and m.removesuffix("_used") in set(base_of.values())}
    metric_groups: dict[str, list[str]] = {}
    for f in features:
        metric_groups.setdefault(merged.get(base_of[f], base_of[f]), []).append(f)
    comp_groups: dict[str, list[str]] = {}
    for metric, cols in metric_groups.items():
        comp = component_for(metric, component_of) or CONTEXT_GROUP
        comp_groups.setdefault(comp, []).extend(cols)
    # Small validation sets get more shuffles, so the weights settle.
    repeats = int(np.clip(round(30_000 / max(len(X), 1)), REPEATS, 10))
    comp_imp = grouped_importance(predict, X, y, comp_groups, seed, repeats=repeats)
    metric_imp = grouped_importance(predict, X, y, metric_groups, seed + 1,
                                    repeats=max(2, repeats // 2))
    context = {m: round(v, 6) for m, v in metric_imp.items() if is_context(m)}
    context[CONTEXT_GROUP] = round(comp_imp.pop(CONTEXT_GROUP, 0.0), 6)
    if not comp_imp:
        return [], context
    total = sum(comp_imp.values())
    weights = ({c: v / total for c, v in comp_imp.items()} if total > 0
               else {c: 1.0 / len(comp_imp) for c in comp_imp})
    numeric = {c for c in X.columns if pd.api.types.is_numeric_dtype(X[c].dtype)}
    p = predict(X)
    rows = []
    for comp in sorted(weights, key=lambda c: (-weights[c], c)):
        metrics = [m for m in metric_groups if component_for(m, component_of) == comp]
        raw = {m: metric_imp.get(m, 0.0) for m in metrics}
        raw_total = sum(raw.values())
        detail = {m: round(weights[comp] * (raw[m] / raw_total if raw_total > 0 else 1 / len(raw)), 4)
                  for m in sorted(raw, key=lambda m: (-raw[m], m))}
        top = max(metrics, key=lambda m: (raw[m], m))
        rows.append({
            "component": comp,
            "weight": round(weights[comp], 6),
            "direction": (direction_words(model.kind, top, _sign_of(
                predict, X, p, top, metric_groups[top], numeric, seed)) if weights[comp] >= 0.0005
                else f"no measurable effect on {'churn risk' if model.kind == 'churn' else 'upsell likelihood'}"),
            "detail": detail,
        })
    _fix_rounding(rows)
    return rows, context


def _sign_of(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, p: np.ndarray,
             metric: str, columns: list[str], numeric: set[str], seed: int) -> int | None:
    """Association first (what a CSM sees in the data), the model's response if flat."""
    if metric not in numeric:
        return None
    sign = association_sign(X[metric].to_numpy(dtype="float64"), p)
    return sign if sign != 0 else donor_sign(predict, X, metric, columns, seed)


def _fix_rounding(rows: list[dict[str, Any]]) -> None:
    """Make the rounded weights sum to exactly 1 (the largest absorbs the remainder)."""
    if rows:
        rows[0]["weight"] = round(1.0 - sum(r["weight"] for r in rows[1:]), 6)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 10:
        return 0.0
    ra = pd.Series(a[ok]).rank().to_numpy()
    rb = pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def association_sign(x: np.ndarray, p: np.ndarray) -> int:
    """+1 when the model's predictions are higher for accounts with more of the metric,
    -1 when lower, 0 when flat (on held-out rows).

    The association a CSM can check in the data, robust to the model splitting one
    signal over correlated features (a level and its trend). Rank correlation first;
    for mostly-constant metrics (late days are 0 for most accounts) the mean prediction
    above versus at-or-below the median decides.
    """
    rho = _spearman(x, p)
    if abs(rho) >= 0.05:
        return 1 if rho > 0 else -1
    ok = ~np.isnan(x)
    if ok.sum() < 20:
        return 0
    med = np.median(x[ok])
    hi, lo = ok & (x > med), ok & (x <= med)
    if hi.sum() < 10 or lo.sum() < 10:
        return 0
    diff = float(p[hi].mean() - p[lo].mean())
    if abs(diff) < 0.05 * max(float(p.mean()), 1e-9):
        return 0
    return 1 if diff > 0 else -1


def donor_sign(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, metric: str,
               columns: list[str], seed: int) -> int:
    """The model's own response when the association is flat: give sampled held-out
    rows the metric (with its trends) of real accounts above its median, then of
    accounts at or below it, and compare the mean predictions."""
    x = X[metric].to_numpy(dtype="float64")
    ok = ~np.isnan(x)
    if ok.sum() < 20:
        return 0
    med = np.median(x[ok])
    hi, lo = np.flatnonzero(ok & (x > med)), np.flatnonzero(ok & (x <= med))
    if len(hi) < 10 or len(lo) < 10:
        return 0
    rng = np.random.default_rng(seed)
    rows = X.iloc[np.sort(rng.choice(len(X), min(len(X), 3000), replace=False))]
    means = []
    for donors in (lo, hi):
        work = rows.copy()
        picks = rng.choice(donors, len(work))
        for c in columns:
            work[c] = X[c].to_numpy()[picks]
        means.append(float(np.mean(predict(work))))
    diff = means[1] - means[0]
    if abs(diff) < 0.01 * max(means[0], 1e-9):
        return 0
    return 1 if diff > 0 else -1


def _phrase(metric: str) -> str:
    label = human_label(metric)
    first = label.split(" ")[0]
    return label if first.isupper() else label[0].lower() + label[1:]


def direction_words(kind: str, metric: str, sign: int | None) -> str:
    """Plain words for a metric's effect, e.g. 'more logins (30d), lower churn risk'."""
    label = _phrase(metric)
    outcome = "churn risk" if kind == "churn" else "upsell likelihood"
    if sign is None:
        return f"{outcome} varies with {label}"
    if sign == 0:
        return f"{outcome} barely moves with {label}"
    more = "more" if any(t in metric for t in ("_30d", "_90d", "users", "seats", "tickets",
                                                   "logins", "meetings", "emails", "days")) \
        else "higher"
    return f"{more} {label}, {'higher' if sign > 0 else 'lower'} {outcome}"


# -- per-account drivers ---------------------------------------------------------------


def format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if isinstance(value, str):
        return value
    v = float(value)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == round(v):
        return f"{v:.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2g}" if abs(v) < 0.1 else f"{v:.1f}"


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isnan(v):
        return None
    return int(v) if v == round(v) and abs(v) < 2**53 else round(v, 4)


def driver_text(label: str, value: Any, typical: Any, level: str | None,
                trend: float | None = None) -> str:
    """'Logins (30d): Low for its segment - 12 vs 40 typical' (plus a trend when it moved)."""
    if isinstance(value, str) or isinstance(typical, str):
        return f"{label}: {format_value(value)} ({format_value(typical)} is typical for its segment)"
    if level is None:
        return f"{label}: no data ({format_value(typical)} typical for its segment)"
    text = f"{label}: {level} for its segment - {format_value(value)} vs {format_value(typical)} typical"
    if trend is not None and not math.isnan(trend) and abs(trend) >= 0.15:
        change = math.expm1(trend) * 100
        text += f", {'down' if change < 0 else 'up'} {abs(change):.0f}% in 3 months"
    return text


def account_drivers(
    predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, segment_ids: np.ndarray,
    typical: dict[int, dict[str, Any]], base_of: dict[str, str],
    benchmarks: dict[int, dict[str, dict[str, float]]],
    component_of: Callable[[str], str | None],
) -> list[list[dict[str, Any]]]:
    """Top factors pulling each row's health score down and up (see module docstring).

    `typical[segment][feature]` is the segment's median (mode for categories).
    """
    n = len(X)
    if n == 0:
        return []
    work = X.reset_index(drop=True).copy()
    base = _logodds(predict(work))
    groups: dict[str, list[str]] = {}
    for f in work.columns:
        groups.setdefault(base_of[f], []).append(f)
    names = sorted(groups)
    pulls = np.zeros((n, len(names)))
    for j, metric in enumerate(names):
        cols = groups[metric]
        original = {c: work[c].to_numpy(copy=True) for c in cols}
        for c in cols:
            filler = np.array([typical.get(int(s), {}).get(c, np.nan) for s in range(
                int(segment_ids.max()) + 1)], dtype=object)
            values = filler[segment_ids]
            work[c] = values.astype(original[c].dtype) if original[c].dtype != object else values
        pulls[:, j] = base - _logodds(predict(work))   # > 0: this metric raises churn risk
        for c in cols:
            work[c] = original[c]
    _drop_contradictions(pulls, names, X, base, segment_ids, typical)
    values_of = {m: X[m].to_numpy() for m in names if m in X}
    trends_of = {m: X[f"{m}{TREND_SEP}d3"].to_numpy() for m in names if f"{m}{TREND_SEP}d3" in X}
    labels = {m: human_label(m) for m in names}
    components = {m: component_for(m, component_of) for m in names}
    order_down = np.argsort(-pulls, axis=1, kind="stable")[:, :MAX_DRIVERS]
    order_up = np.argsort(pulls, axis=1, kind="stable")[:, :MAX_DRIVERS]
    out: list[list[dict[str, Any]]] = []
    for i in range(n):
        seg = int(segment_ids[i])
        row = pulls[i]
        down = [j for j in order_down[i] if row[j] >= MIN_PULL]
        up = [j for j in order_up[i] if row[j] <= -MIN_PULL]
        items = []
        for direction, picks in (("down", down), ("up", up)):
            for j in picks:
                metric = names[j]
                value = values_of[metric][i] if metric in values_of else None
                typ = typical.get(seg, {}).get(metric)
                bench = benchmarks.get(seg, {}).get(metric)
                level = _level(value, bench)
                trend = float(trends_of[metric][i]) if metric in trends_of else None
                label = labels[metric]
                items.append({
                    "direction": direction,
                    "component": components[metric],
                    "metric": metric,
                    "label": label,
                    "value": _plain(value),
                    "typical": _plain(typ),
                    "level": level,
                    "text": driver_text(label, _plain(value), _plain(typ), level,
                                        trend if _same_way(direction, trend, value, typ) else None),
                })
        out.append(items)
    return out


def _drop_contradictions(
    pulls: np.ndarray, names: list[str], X: pd.DataFrame, base: np.ndarray,
    segment_ids: np.ndarray, typical: dict[int, dict[str, Any]],
) -> None:
    """Zero the pulls that contradict the metric's effect across the book.

    A driver reads "Feature adoption: Low for its segment"; listed as holding the
    score up it would tell the CSM the opposite of what the model does overall (it
    happens when the metric's trend features or correlated metrics carry the pull).
    Where the metric's association with predicted risk over all rows says that its
    level (above or below the segment's typical value) should push the other way,
    the pull is not shown.
    """
    seg_count = int(segment_ids.max()) + 1 if len(segment_ids) else 0
    for j, metric in enumerate(names):
        if metric not in X or not pd.api.types.is_numeric_dtype(X[metric]):
            continue
        values = X[metric].to_numpy(dtype="float64")
        known = ~np.isnan(values)
        if known.sum() < 10 or np.ptp(values[known]) == 0:
            continue
        assoc = pd.Series(values[known]).corr(pd.Series(base[known]), method="spearman")
        if not np.isfinite(assoc) or abs(assoc) < 0.05:
            continue
        typ = np.array([typical.get(s, {}).get(metric, np.nan) for s in range(seg_count)],
                       dtype="float64")[segment_ids]
        expected = np.sign(assoc) * np.sign(values - typ)   # > 0: this level raises risk
        contradicts = np.nan_to_num(expected) * np.sign(pulls[:, j]) < 0
        pulls[contradicts, j] = 0.0


def _logodds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _same_way(direction: str, trend: float | None, value: Any, typical: Any) -> bool:
    """Mention a trend only when it tells the same story as the level comparison."""
    if trend is None or isinstance(value, str) or value is None or typical is None:
        return False
    try:
        return (float(value) < float(typical)) == (trend < 0)
    except (TypeError, ValueError):
        return False


def _level(value: Any, bench: dict[str, float] | None) -> str | None:
    if bench is None or value is None or isinstance(value, str):
        return None
    v = float(value)
    if math.isnan(v):
        return None
    if v < bench["low"]:
        return "Low"
    if v > bench["high"]:
        return "High"
    return "Medium"
