"""Leading Indicators (weight and direction of each data component) and drivers.

Both come from exact attributions (`scoring.attributions`) of the final scoring model,
the one that produced the scores, not from a train-only copy:

- Indicators: the latest rows of the book (a seeded sample on big books) are explained
  against one book-wide baseline (each feature's median; the most common category), on
  the model's raw log-odds. A component's weight is its share of the mean absolute
  contribution (all its metrics, levels and trends together); context features
  (renewal timing, tenure, ARR) are reported apart, not as data components. The
  direction is read off the same contributions: when accounts above the baseline on a
  metric get positive contributions (more risk) and those below get negative ones, more
  of the metric means higher risk. A direction is stated only when it is clear: the
  final model has it and so has every walk-forward model of the same configuration
  (trained on shorter histories, or on other accounts) but at most one of four or more,
  read the same way on the same rows (`stable_signs`). A direction that refits reverse
  or do not find is the model fitting chance in a few accounts (on the demo book: "more
  support tickets, lower churn risk" in two of five fits and the opposite in three), and
  is said to be unclear. `indicator_intervals` bootstraps the weights over accounts, for
  `outcomes evaluate`.
- Drivers: see "per-account drivers" below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import TREND_SEP, distinct_sorted, human_label, is_context

OTHER_COMPONENT = "Other metrics"
CONTEXT_GROUP = "Account & contract"
IMPORTANCE_ROWS = 20_000
DIRECTION_ROWS = 4_000   # rows the walk-forward models' directions are read on (a sample)
MAX_DRIVERS = 3
NO_EFFECT = 0.0005      # a component weighing less than this has no measurable effect


def component_for(metric: str, component_of: Callable[[str], str | None]) -> str | None:
    """The data component of a base metric; context features have none."""
    if is_context(metric):
        return None
    return component_of(metric) or OTHER_COMPONENT


def book_baseline(X: pd.DataFrame, features: list[str], categorical: set[str]) -> pd.DataFrame:
    """One row: each feature's median (the most common value for categories)."""
    row: dict[str, Any] = {}
    for f in features:
        if f in categorical:
            mode = X[f].dropna().mode()
            row[f] = np.array([str(min(mode)) if len(mode) else np.nan], dtype=object)
        else:
            col = X[f].to_numpy(dtype="float64")
            row[f] = np.array([np.nanmedian(col) if np.any(~np.isnan(col)) else np.nan])
    return pd.DataFrame(row, columns=features)


@dataclass
class IndicatorBasis:
    """Per-row contributions grouped by component and by metric (raw log-odds)."""

    components: list[str]
    by_component: np.ndarray      # (rows, components)
    metrics: list[str]
    by_metric: np.ndarray         # (rows, metrics)
    signs: dict[str, int]         # metric -> +1 more raises the score, -1 lowers it, 0 flat
    # The same on the drivers' metrics (`driver_base`: a share such as seats used / seats
    # is a metric of its own there).
    driver_signs: dict[str, int] = field(default_factory=dict)
    weak: set[str] = field(default_factory=set)   # barely used: no direction for that reason


SHARE = f"{TREND_SEP}ratio"   # the features' suffix of a share ('seats_used' / 'seats')


def driver_base(base_of: dict[str, str]) -> dict[str, str]:
    """The metric each feature counts towards on the card: its own base metric, except a
    share, which is a metric of its own (an account's seats used can be High for its
    segment while the share of its seats in use is Low; the model's points for the share
    are not points for the count)."""
    return {f: (f if f.endswith(SHARE) else b) for f, b in base_of.items()}


def driver_label(metric: str) -> str:
    """'seats_used__ratio' -> 'Seats used (share of seats)'; other metrics: `human_label`."""
    if metric.endswith(SHARE):
        base = metric.removesuffix(SHARE)
        return f"{human_label(base)} (share of {_phrase(base.removesuffix('_used'))})"
    return human_label(metric)


def indicator_basis(pipeline: Any, features: list[str], X: pd.DataFrame,
                    base_of: dict[str, str], component_of: Callable[[str], str | None],
                    categorical: set[str]) -> IndicatorBasis:
    from scoring.attributions import contributions, sum_columns

    base = book_baseline(X, features, categorical)
    att = contributions(pipeline, X, base, None, features)
    att.check(1e-6)
    metrics = sorted({base_of[f] for f in features})
    mcol = {m: j for j, m in enumerate(metrics)}
    by_metric = sum_columns(att.values, [mcol[base_of[f]] for f in features], len(metrics))
    comps = sorted({component_for(m, component_of) or CONTEXT_GROUP for m in metrics})
    ccol = {c: j for j, c in enumerate(comps)}
    by_comp = np.zeros((len(X), len(comps)))
    for m, j in mcol.items():
        by_comp[:, ccol[component_for(m, component_of) or CONTEXT_GROUP]] += by_metric[:, j]
    level = np.zeros((len(X), len(metrics)))
    for j, f in enumerate(features):
        if base_of[f] == f:
            level[:, mcol[f]] = att.values[:, j]
    # Directions from all of a metric's features together (its level, trends and
    # days since non-zero), read against its level: what the model as a whole does with
    # "more X". Its level's own contribution alone can point the other way when a
    # correlated feature of the same metric carries the effect (a linear model splitting
    # "late payments" between the days late and the days since the last late payment);
    # it decides only where the whole is flat.
    zero = np.zeros(len(X), dtype="int64")
    own = metric_signs(level, metrics, X, base, zero, categorical)
    weak: set[str] = set()
    signs = {m: s or own.get(m, 0) for m, s in
             metric_signs(by_metric, metrics, X, base, zero, categorical, weak=weak).items()}
    dbase = driver_base({f: base_of[f] for f in features})
    driver_signs = signs
    if any(dbase[f] != base_of[f] for f in features):
        dmetrics = sorted(set(dbase.values()))
        dcol = {m: j for j, m in enumerate(dmetrics)}
        by_d = sum_columns(att.values, [dcol[dbase[f]] for f in features], len(dmetrics))
        dlevel = np.zeros_like(by_d)
        for j, f in enumerate(features):
            if dbase[f] == f:
                dlevel[:, dcol[f]] = att.values[:, j]
        down = metric_signs(dlevel, dmetrics, X, base, zero, categorical)
        driver_signs = {m: s or down.get(m, 0) for m, s in
                        metric_signs(by_d, dmetrics, X, base, zero, categorical).items()}
    return IndicatorBasis(comps, by_comp, metrics, by_metric, signs, driver_signs, weak)


def metric_signs(by_metric: np.ndarray, metrics: list[str], X: pd.DataFrame,
                 baseline: pd.DataFrame, baseline_of_row: np.ndarray,
                 categorical: set[str], min_effect: float = 0.005,
                 weak: set[str] | None = None) -> dict[str, int]:
    """Per metric: +1 when accounts with more of it than the baseline get positive
    contributions from it (callers pass the contributions of its level) and those with
    less get negative ones; -1 the other way round; 0 when it does not matter.

    Read off the contributions `by_metric` (rows x metrics): the sign of
    sum(contribution * sign(level - baseline level)) over the rows whose level differs
    from the baseline, when that is at least 5% of their absolute contributions and
    the mean contribution there is at least `min_effect` (the model's raw log-odds by
    default): a metric the model barely uses has no direction. `weak` collects the
    metrics whose mean absolute contribution there is below `min_effect` (no direction
    because the model barely uses them, not because they pull both ways).
    """
    out: dict[str, int] = {}
    for j, m in enumerate(metrics):
        if m in categorical or m not in X or m not in baseline:
            continue
        side = np.nan_to_num(np.sign(X[m].to_numpy(dtype="float64")
                                     - baseline[m].to_numpy(dtype="float64")[baseline_of_row]))
        score = float(np.sum(by_metric[:, j] * side))
        scale = float(np.sum(np.abs(by_metric[:, j]) * (side != 0)))
        differ = int((side != 0).sum())
        small = float(np.abs(by_metric[:, j]).sum()) / max(differ, 1) < min_effect
        if weak is not None and (scale == 0 or small):
            weak.add(m)
        flat = scale == 0 or abs(score) < 0.05 * scale or abs(score) / max(differ, 1) < min_effect
        out[m] = 0 if flat else (1 if score > 0 else -1)
    return out


def _weights(by_component: np.ndarray, components: list[str]) -> dict[str, float]:
    mean_abs = np.abs(by_component).mean(axis=0) if len(by_component) else np.zeros(len(components))
    data = {c: float(v) for c, v in zip(components, mean_abs, strict=True) if c != CONTEXT_GROUP}
    total = sum(data.values())
    if not data:
        return {}
    return ({c: v / total for c, v in data.items()} if total > 0
            else {c: 1.0 / len(data) for c in data})


def leading_indicators(model: Any, base_of: dict[str, str],
                       component_of: Callable[[str], str | None], seed: int,
                       X: pd.DataFrame, rows: np.ndarray | None = None, kind: str | None = None,
                       ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Indicator rows of the final model and the context features' share (see module doc).

    `X` holds the rows to explain (the latest rows of the book): all of them, or those at
    positions `rows` (only the sample measured is copied out of X); `model` a
    TrainedModel (its `pipeline`, `features`, `categorical`, `kind`).
    """
    kind = kind or model.kind
    features = list(model.features)
    picked = _importance_rows(len(X), rows, seed)
    frame = X
    X = X.iloc[picked][features].reset_index(drop=True)
    basis = indicator_basis(model.pipeline, features, X, base_of, component_of,
                            set(model.categorical))
    own = basis.signs
    basis.signs, directions = stable_signs(
        own, basis.driver_signs, getattr(model, "fold_models", None) or [], frame, picked,
        base_of, component_of, set(model.categorical), seed)
    # No clear direction: one the refits do not share, or none at all in a metric the
    # model does use (its contributions pull both ways).
    unclear = {m for m, s in own.items()
               if not basis.signs.get(m) and (s or m not in basis.weak)}
    # Every metric's direction on the drivers' metrics, context included (the drivers'
    # good/bad sense; stored with the model's metrics).
    model.metrics["directions"] = dict(sorted(directions.items()))
    weights = _weights(basis.by_component, basis.components)
    metric_abs = np.abs(basis.by_metric).mean(axis=0)
    all_abs = float(np.abs(basis.by_component).mean(axis=0).sum()) or 1.0
    context = {m: round(float(v) / all_abs, 6) for m, v in zip(basis.metrics, metric_abs,
                                                               strict=True) if is_context(m)}
    if CONTEXT_GROUP in basis.components:
        j = basis.components.index(CONTEXT_GROUP)
        context[CONTEXT_GROUP] = round(float(np.abs(basis.by_component[:, j]).mean()) / all_abs, 6)
    if not weights:
        return [], context
    rows = []
    for comp in sorted(weights, key=lambda c: (-weights[c], c)):
        members = [(m, float(metric_abs[j])) for j, m in enumerate(basis.metrics)
                   if (component_for(m, component_of) or CONTEXT_GROUP) == comp]
        raw_total = sum(v for _, v in members)
        detail = {m: round(weights[comp] * (v / raw_total if raw_total > 0 else 1 / len(members)), 4)
                  for m, v in sorted(members, key=lambda mv: (-mv[1], mv[0]))}
        outcome = "churn risk" if kind == "churn" else "upsell likelihood"
        rows.append({
            "component": comp,
            "weight": round(weights[comp], 6),
            "direction": (component_words(kind, [(m, v, basis.signs.get(m)) for m, v in
                                                 sorted(members, key=lambda mv: (-mv[1], mv[0]))],
                                          unclear)
                          if weights[comp] >= NO_EFFECT else f"no measurable effect on {outcome}"),
            "detail": detail,
            "signs": {m: basis.signs.get(m) for m, _ in members},
        })
    _fix_rounding(rows)
    return rows, context


def stable_signs(final: dict[str, int], final_drivers: dict[str, int],
                 fold_models: list[tuple[Any, list[str]]], frame: pd.DataFrame,
                 rows: np.ndarray, base_of: dict[str, str],
                 component_of: Callable[[str], str | None], categorical: set[str],
                 seed: int) -> tuple[dict[str, int], dict[str, int]]:
    """The final model's directions (`final`; `final_drivers` on the drivers' metrics),
    kept only where the walk-forward models (`fold_models`: pipeline and features) read
    the same on a seeded sample of at most DIRECTION_ROWS of the same rows (`rows` of
    `frame`): every one of them, or all but one where there are four or more; 0
    elsewhere. A model that reads a metric flat or the other way dissents; one that had
    no feature of it says nothing either way."""
    if not fold_models:
        return dict(final), dict(final_drivers)
    pick = np.asarray(rows)
    if len(pick) > DIRECTION_ROWS:
        rng = np.random.default_rng(seed + 1)
        pick = pick[np.sort(rng.choice(len(pick), DIRECTION_ROWS, replace=False))]
    dissent = dict.fromkeys(final, 0)
    dissent_d = dict.fromkeys(final_drivers, 0)
    for pipeline, feats in fold_models:
        X = frame.iloc[pick][list(feats)].reset_index(drop=True)
        b = indicator_basis(pipeline, list(feats), X, base_of, component_of,
                            categorical & set(feats))
        for mine, theirs, count in ((final, b.signs, dissent),
                                    (final_drivers, b.driver_signs, dissent_d)):
            for m, s in mine.items():
                if s and m in theirs and theirs[m] != s:
                    count[m] += 1
    allowed = 1 if len(fold_models) >= 4 else 0
    return ({m: s if dissent[m] <= allowed else 0 for m, s in final.items()},
            {m: s if dissent_d[m] <= allowed else 0 for m, s in final_drivers.items()})


def indicator_intervals(basis: IndicatorBasis, groups: np.ndarray, seed: int,
                        repeats: int = 200, level: float = 0.9) -> dict[str, tuple[float, float]]:
    """Bootstrap interval of each component's weight, resampling whole accounts
    (`groups`: the account of each row), seeded."""
    rng = np.random.default_rng(seed)
    uniq, inverse = np.unique(groups, return_inverse=True)
    # Per account and component (bincount adds in row order, as np.add.at would).
    size = np.abs(basis.by_component)
    per_group = np.zeros((len(uniq), size.shape[1]))
    for j in range(size.shape[1]):
        per_group[:, j] = np.bincount(inverse, weights=size[:, j], minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq)).astype("float64")
    keep = [j for j, c in enumerate(basis.components) if c != CONTEXT_GROUP]
    draws = np.zeros((repeats, len(keep)))
    for r in range(repeats):
        pick = rng.integers(0, len(uniq), len(uniq))
        sums = per_group[pick][:, keep].sum(axis=0) / max(counts[pick].sum(), 1.0)
        total = sums.sum()
        draws[r] = sums / total if total > 0 else 1.0 / len(keep)
    lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return {basis.components[j]: (round(float(lo[i]), 4), round(float(hi[i]), 4))
            for i, j in enumerate(keep)}


def weight_intervals(model: Any, base_of: dict[str, str],
                     component_of: Callable[[str], str | None], seed: int, X: pd.DataFrame,
                     accounts: np.ndarray, rows: np.ndarray | None = None, level: float = 0.9,
                     ) -> dict[str, tuple[float, float]]:
    """The bootstrap interval (over accounts) of each component's weight in `model`, on the
    same rows and the same sample as `leading_indicators` (for `outcomes evaluate`);
    `accounts` holds the account of each row of X."""
    features = list(model.features)
    pick = _importance_rows(len(X), rows, seed)
    basis = indicator_basis(model.pipeline, features, X.iloc[pick][features].reset_index(drop=True),
                            base_of, component_of, set(model.categorical))
    return indicator_intervals(basis, np.asarray(accounts)[pick], seed, level=level)


def _importance_rows(n: int, rows: np.ndarray | None, seed: int) -> np.ndarray:
    """Positions (of n rows) the indicators are measured on: `rows` (default all), or a
    seeded sample of IMPORTANCE_ROWS of them, in their order."""
    rows = np.arange(n) if rows is None else np.asarray(rows)
    if len(rows) > IMPORTANCE_ROWS:
        rng = np.random.default_rng(seed)
        rows = rows[np.sort(rng.choice(len(rows), IMPORTANCE_ROWS, replace=False))]
    return rows


def _fix_rounding(rows: list[dict[str, Any]]) -> None:
    """Make the rounded weights sum to exactly 1 (the largest absorbs the remainder)."""
    if rows:
        rows[0]["weight"] = round(1.0 - sum(r["weight"] for r in rows[1:]), 6)


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


MIN_METRIC_SHARE = 0.0    # of its component's weight, to be named in the direction


def component_words(kind: str, members: list[tuple[str, float, int | None]],
                    unclear: set[str] | frozenset[str] = frozenset()) -> str:
    """The direction of a component's main metrics, grouped by effect, e.g.
    'higher churn risk with more payment late days, higher discount (%)'.

    `members`: (metric, weight, sign) of the component's metrics, heaviest first; a
    metric is named when it carries at least MIN_METRIC_SHARE of the component (the
    heaviest always), three at most. `unclear`: metrics with no clear direction (one
    the walk-forward models do not share, `stable_signs`, or none in a metric the model
    uses); one among the component's three heaviest is named as such.
    """
    total = sum(w for _, w, _ in members) or 1.0
    named = [(m, s) for i, (m, w, s) in enumerate(members)
             if (i == 0 or w / total >= MIN_METRIC_SHARE) and s not in (None, 0)][:3]
    outcome = "churn risk" if kind == "churn" else "upsell likelihood"
    mixed = [m for m, _, _ in members[:3] if m in unclear]
    no_clear = (f"no clear direction of {outcome} with {', '.join(_phrase(m) for m in mixed)}"
                if mixed else "")
    if not named:
        top, _, sign = members[0]
        if not mixed:
            return direction_words(kind, top, sign)
        if sign is None:   # a category heaviest: it varies, and the numbers have no direction
            return f"{direction_words(kind, top, sign)}; {no_clear.replace(f' of {outcome}', '')}"
        return no_clear
    parts = []
    for sign in (1, -1):
        group = [m for m, s in named if s == sign]
        if not group:
            continue
        words = ", ".join(f"{_more(m)} {_phrase(m)}" for m in group)
        head = f"{'higher' if sign > 0 else 'lower'} {outcome}" if not parts else \
            ("higher" if sign > 0 else "lower")
        parts.append(f"{head} with {words}")
    return "; ".join([*parts, *([no_clear.replace(f" of {outcome}", "")] if no_clear else [])])


def _more(metric: str) -> str:
    return "more" if any(t in metric for t in ("_30d", "_90d", "users", "seats", "tickets",
                                                   "logins", "meetings", "emails", "days")) \
        else "higher"


# -- per-account drivers -------------------------------------------------------------
#
# Drivers come from exact attributions (`scoring.attributions`) of the model that made
# the score, against the account's segment baseline: a row holding the segment's
# typical value of every feature (median; most common value for categories). The
# contributions are computed on the classifier's raw log-odds, then expressed in health
# points: each is multiplied by the same factor per account, (health - baseline
# health) / (log-odds - baseline log-odds), so a metric's points (its level plus its
# trends) add up, over all metrics, to exactly the gap between the account's health
# score and its segment baseline's. "+6 pts" holds the score up, "-9 pts" pulls it down.

MIN_POINTS = 0.5       # smaller contributions are not worth a line on the card


@dataclass
class MetricPoints:
    """Health points of each metric for a set of rows (see the note above)."""

    metrics: list[str]
    points: np.ndarray          # (rows, metrics); each row sums to health - baseline health
    health: np.ndarray
    baseline_health: np.ndarray
    raw: np.ndarray | None = None   # (rows, metrics) on the model's raw log-odds
    level: np.ndarray | None = None  # (rows, metrics) points of the metric's own level only


def metric_points(pipeline: Any, features: list[str], X: pd.DataFrame,
                  baseline: pd.DataFrame, baseline_of_row: np.ndarray,
                  base_of: dict[str, str], health: np.ndarray, baseline_health: np.ndarray
                  ) -> MetricPoints:
    """Exact health-point contributions per metric of rows X against their baselines.

    `health` is each row's health score and `baseline_health` its baseline's (on the
    same scale, per row): the raw contributions of each row are scaled by
    (health - baseline_health) / (raw - baseline raw), so they add up to that gap.
    """
    from scoring.attributions import contributions, sum_columns

    att = contributions(pipeline, X, baseline, baseline_of_row, features)
    att.check(1e-6)
    gap_raw = att.raw - att.reference_raw
    gap = np.asarray(health, dtype="float64") - np.asarray(baseline_health, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(np.abs(gap_raw) > 1e-12, gap / gap_raw, 0.0)
    metrics = sorted({base_of[f] for f in features})
    col = {m: j for j, m in enumerate(metrics)}
    owner = [col[base_of[f]] for f in features]
    points = sum_columns(att.values, owner, len(metrics), scale=factor)
    raw = sum_columns(att.values, owner, len(metrics))
    level = np.zeros((len(X), len(metrics)))
    for j, f in enumerate(features):
        if base_of[f] == f:
            level[:, col[f]] = att.values[:, j] * factor
    return MetricPoints(metrics, points, np.asarray(health, dtype="float64"),
                        np.asarray(baseline_health, dtype="float64"), raw, level)


def health_among(p: np.ndarray, date_p: np.ndarray) -> np.ndarray:
    """Health (0-100) that probabilities `p` would get among a date's accounts whose
    probabilities are `date_p`: the share with a higher probability, ties counting half
    (the rule of `indexes.health_scores`)."""
    ref = np.sort(np.asarray(date_p, dtype="float64"))
    below = np.searchsorted(ref, p, side="left")
    upto = np.searchsorted(ref, p, side="right")
    higher = len(ref) - upto
    ties = upto - below
    return 100.0 * (higher + 0.5 * ties) / max(len(ref), 1)


def health_among_dates(p: np.ndarray, dates: np.ndarray, date_p: dict[Any, np.ndarray]
                       ) -> np.ndarray:
    """`health_among` for rows of several dates: row i ranked among `date_p[dates[i]]`
    (one sort per date, not per row)."""
    p = np.asarray(p, dtype="float64")
    dates = np.asarray(dates)
    out = np.empty(len(p))
    for d in distinct_sorted(dates):
        rows = dates == d
        out[rows] = health_among(p[rows], date_p[d])
    return out


def unit_of(metric: str) -> str | None:
    """How the card formats a metric's value: 'money', 'percent', 'share' (a fraction of
    1 shown as a percentage) or None (a number)."""
    if metric.endswith(SHARE):
        return "share"
    tokens = metric.removeprefix("ctx__").split("_")
    if any(t in ("arr", "mrr", "acv", "revenue", "spend") for t in tokens):
        return "money"
    if any(t in ("pct", "percent") for t in tokens):
        return "percent"
    return None


def format_value(value: Any, unit: str | None = None) -> str:
    """Plain text of a value (the card's own formatting lives in messages; this is for
    stored texts such as movement reasons)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if isinstance(value, str):
        return value
    v = float(value)
    if unit == "money":
        for cut, suffix in ((1e6, "M"), (1e3, "k")):
            if abs(v) >= cut:
                return f"${v / cut:.1f}{suffix}".replace(".0" + suffix, suffix)
        return f"${v:,.0f}"
    if unit == "percent":
        return f"{v:.0f}%"
    if unit == "share":
        return f"{100 * v:.0f}%"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == round(v):
        return f"{v:.0f}"
    return f"{v:.1f}" if abs(v) >= 0.1 else f"{v:.2g}"


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isnan(v):
        return None
    return int(v) if v == round(v) and abs(v) < 2**53 else round(v, 4)


def levels_of(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Low / Medium / High against per-row cut-offs; None where unknown or where the
    metric does not vary (no cut-offs)."""
    with np.errstate(invalid="ignore"):
        out = np.where(values < low, "Low", np.where(values > high, "High", "Medium")).astype(object)
    out[np.isnan(values) | np.isnan(low) | np.isnan(high)] = None
    return out


def account_drivers(mp: MetricPoints, X: pd.DataFrame, segment_ids: np.ndarray,
                    typical: dict[int, dict[str, Any]],
                    benchmarks: dict[int, dict[str, dict[str, float]]],
                    component_of: Callable[[str], str | None],
                    categorical: set[str], senses: dict[str, int] | None = None,
                    ) -> list[list[dict[str, Any]]]:
    """The largest contributions of each row, down then up (at most MAX_DRIVERS each),
    then the 'unclear' ones (at most MAX_DRIVERS).

    A metric is a driver only when its value is known and not at its segment's typical
    level (Low or High for numbers, not the most common value for categories). With
    `senses` (the same model's book-wide direction of each metric, +1 = more of it is
    healthier, 0 = no clear direction), a number is a driver ('down' / 'up') only when
    its points go the way its book-wide direction says for its level (High on a metric
    where more is healthier holds the score up, Low pulls it down). One whose points go
    the other way, or that has no clear book-wide direction, is listed as 'unclear'
    instead: exact for this account, but not a reason a CSM can act on as said (the
    model reads it differently for most of the book, or not one way).
    """
    n = len(X)
    if n == 0:
        return []
    seg_top = int(segment_ids.max()) + 1
    eligible = np.zeros((n, len(mp.metrics)), dtype=bool)
    levels: dict[str, np.ndarray] = {}
    for j, metric in enumerate(mp.metrics):
        if metric not in X:
            continue
        if metric in categorical:
            vals = X[metric].to_numpy(dtype=object)
            mode = np.array([typical.get(s, {}).get(metric) for s in range(seg_top)],
                            dtype=object)[segment_ids]
            eligible[:, j] = pd.notna(vals) & (vals != mode)
            continue
        vals = X[metric].to_numpy(dtype="float64")
        low = np.array([benchmarks.get(s, {}).get(metric, {}).get("low", np.nan)
                        for s in range(seg_top)])[segment_ids]
        high = np.array([benchmarks.get(s, {}).get(metric, {}).get("high", np.nan)
                         for s in range(seg_top)])[segment_ids]
        levels[metric] = levels_of(vals, low, high)
        eligible[:, j] = np.isin(levels[metric], ["Low", "High"])
    consistent = np.ones((n, len(mp.metrics)), dtype=bool)
    if senses is not None:
        for j, metric in enumerate(mp.metrics):
            if metric not in levels:
                continue   # categories have no direction
            side = np.where(levels[metric] == "High", 1, np.where(levels[metric] == "Low", -1, 0))
            expected = int(senses.get(metric) or 0) * side
            consistent[:, j] = (expected != 0) & (np.sign(mp.points[:, j]) == expected)
    pts = np.where(eligible & consistent, mp.points, 0.0)
    mixed = np.where(eligible & ~consistent, np.abs(mp.points), 0.0)
    order_down = np.argsort(pts, axis=1, kind="stable")[:, :MAX_DRIVERS]
    order_up = np.argsort(-pts, axis=1, kind="stable")[:, :MAX_DRIVERS]
    order_mixed = np.argsort(-mixed, axis=1, kind="stable")[:, :MAX_DRIVERS]
    trends = {m: X[f"{m}{TREND_SEP}d3"].to_numpy(dtype="float64") for m in mp.metrics
              if f"{m}{TREND_SEP}d3" in X}
    columns = {m: X[m].to_numpy() for m in mp.metrics if m in X}
    # What does not depend on the row, once per metric (or segment and metric).
    static = [{"component": component_for(m, component_of), "metric": m,
               "label": driver_label(m), "unit": unit_of(m)} for m in mp.metrics]
    typicals = {s: {m: _plain(t.get(m)) for m in mp.metrics} for s, t in typical.items()}
    # The (row, metric) picks that make a line, found for all rows at once: the row loop
    # below only builds them.
    shown = [(direction, order, np.take_along_axis(values, order, axis=1))
             for direction, order, values in (("down", order_down, -pts), ("up", order_up, pts),
                                              ("unclear", order_mixed, mixed))]
    sense = {"down": "bad", "up": "good", "unclear": "unclear"}
    out: list[list[dict[str, Any]]] = []
    for i in range(n):
        seg = int(segment_ids[i])
        seg_typical = typicals.get(seg, {})
        items = []
        for direction, order, size in shown:
            for j, v in zip(order[i].tolist(), size[i].tolist(), strict=True):
                if v < MIN_POINTS:
                    continue
                info = static[j]
                metric = info["metric"]
                value = _plain(columns[metric][i])
                typ = seg_typical.get(metric)
                trend = trends[metric][i] if metric in trends else np.nan
                change = (round(float(math.expm1(trend)) * 100) if np.isfinite(trend)
                          and abs(trend) >= 0.15 and _same_way(trend, value, typ) else None)
                items.append({
                    "direction": direction,
                    **info,
                    "value": value,
                    "typical": typ,
                    "level": levels[metric][i] if metric in levels else None,
                    "sense": sense[direction],
                    "points": round(float(mp.points[i, j]), 1),
                    "change_3m_pct": change,
                })
        out.append(items)
    return out


def _same_way(trend: float, value: Any, typical: Any) -> bool:
    """Mention a trend only when it tells the same story as the level comparison."""
    if isinstance(value, str) or value is None or typical is None or isinstance(typical, str):
        return False
    return (float(value) < float(typical)) == (trend < 0)


def metric_senses(mp: MetricPoints, X: pd.DataFrame, baseline: pd.DataFrame,
                  baseline_of_row: np.ndarray, categorical: set[str]) -> dict[str, int]:
    """`metric_signs` on health points: +1 where more of a metric raises health (all of
    its features together; its level alone only where that is flat, as in
    `indicator_basis`)."""
    whole = metric_signs(mp.points, mp.metrics, X, baseline, baseline_of_row, categorical,
                         min_effect=0.2)
    if mp.level is None:
        return whole
    level = metric_signs(mp.level, mp.metrics, X, baseline, baseline_of_row, categorical,
                         min_effect=0.2)
    return {m: s or level.get(m, 0) for m, s in whole.items()}
