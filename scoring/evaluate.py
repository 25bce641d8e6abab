"""The backtest of exactly the production configuration, from its walk-forward predictions.

`train_model` validates walk-forward: at each cut-off the chosen family and settings are
trained on the rows whose outcome was known before it (a purge gap of one horizon) and
predict the next snapshot dates. This module turns those out-of-time predictions into
what a person can check, the same figures whether they come from `outcomes evaluate`,
the stored model metrics or `/outcome accuracy`:

- ROC AUC and PR AUC with 95% intervals from a bootstrap over accounts (an account's
  rows are resampled together: they share most of their outcome window), beside a plain
  `HistGradientBoostingClassifier()` on the raw metric columns trained and tested on the
  same rows;
- mean predicted vs realised overall (their ratio with a 95% interval from the same
  bootstrap over accounts), per Renewal Index category (health ranked within each test
  date, as in production) and per decile of predicted probability, and the top-decile
  lift;
- a plain warning when the known positives are too few to trust the figures.

Each test block is calibrated by a mapping fitted on the earlier blocks only, so the
first block serves calibration and is not reported, and the second, with one block
before it, shows the model's own probabilities (`models.MIN_CALIBRATION_BLOCKS`;
account folds: by the other folds).
Intervals are computed on at most BOOTSTRAP_ROWS rows (a seeded sample of accounts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from scoring.indexes import health_scores, renewal_indexes
from scoring.settings import ScoringSettings

BOOTSTRAP = 200
BOOTSTRAP_PR = 60
BOOTSTRAP_ROWS = 30_000
MIN_TRUSTED_POSITIVE_ACCOUNTS = 30
SEED_OFFSET = 1009


def _weighted(y: np.ndarray, p: np.ndarray, w: np.ndarray | None, bucket: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels as booleans, weights (1 each by default), each row's rank among the
    distinct scores (`bucket` when given)."""
    y = np.asarray(y).astype(bool)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype="float64")
    if bucket is None:
        bucket = np.unique(p, return_inverse=True)[1]
    return y, w, bucket


def weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None, *,
                 bucket: np.ndarray | None = None) -> float | None:
    """ROC AUC with row weights (ties count half); None with one class only. `bucket`:
    each row's rank among the distinct values of `p` (`np.unique(p, return_inverse=True)`),
    when many weightings of the same scores are measured (the bootstrap)."""
    y, w, bucket = _weighted(y, p, w, bucket)
    pos = np.bincount(bucket, weights=w * y)
    neg = np.bincount(bucket, weights=w * ~y)
    tp, tn = pos.sum(), neg.sum()
    if tp <= 0 or tn <= 0:
        return None
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (tp * tn))


def weighted_ap(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None, *,
                bucket: np.ndarray | None = None) -> float | None:
    """Average precision (PR AUC) with row weights, as scikit-learn's
    `average_precision_score` (one step per distinct score, tied rows together); None
    with no weighted positive or nothing but positives. `bucket` as for `weighted_auc`:
    sorted once, then each weighting of the same scores is two bincounts."""
    y, w, bucket = _weighted(y, p, w, bucket)
    pos = np.bincount(bucket, weights=w * y)[::-1]   # highest score first
    seen = np.cumsum(np.bincount(bucket, weights=w)[::-1])
    total = pos.sum()
    if total <= 0 or total >= seen[-1]:
        return None
    kept = pos > 0
    return float((pos[kept] * np.cumsum(pos)[kept] / seen[kept]).sum() / total)


def grouped_intervals(y: np.ndarray, scores: dict[str, np.ndarray], groups: np.ndarray,
                      seed: int) -> dict[str, dict[str, float | None]]:
    """ROC AUC and PR AUC of each score with 95% account-bootstrap intervals."""
    rng = np.random.default_rng(seed + SEED_OFFSET)
    codes, inverse = np.unique(groups, return_inverse=True)
    rows = np.arange(len(y))
    if len(y) > BOOTSTRAP_ROWS:   # a seeded sample of whole accounts
        keep = rng.random(len(codes)) < BOOTSTRAP_ROWS / len(y)
        rows = np.flatnonzero(keep[inverse])
        codes, inverse = np.unique(inverse[rows], return_inverse=True)
    yb = y[rows]
    out: dict[str, dict[str, float | None]] = {}
    draws = [np.bincount(rng.integers(0, len(codes), len(codes)), minlength=len(codes))[inverse]
             for _ in range(BOOTSTRAP)]
    for name, p in scores.items():
        auc = weighted_auc(y, p)
        pr = float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else None
        pb = p[rows]
        ranks = np.unique(pb, return_inverse=True)[1]   # the same for every draw
        aucs = [a for a in (weighted_auc(yb, pb, w, bucket=ranks) for w in draws)
                if a is not None]
        prs = [a for a in (weighted_ap(yb, pb, w, bucket=ranks) for w in draws[:BOOTSTRAP_PR])
               if a is not None]
        lo, hi = (np.percentile(aucs, [2.5, 97.5]) if len(aucs) >= 20 else (None, None))
        plo, phi = (np.percentile(prs, [2.5, 97.5]) if len(prs) >= 20 else (None, None))
        out[name] = {"roc_auc": _r(auc), "roc_auc_low": _r(lo), "roc_auc_high": _r(hi),
                     "pr_auc": _r(pr), "pr_auc_low": _r(plo), "pr_auc_high": _r(phi)}
    return out


def ratio_interval(y: np.ndarray, p: np.ndarray, groups: np.ndarray, seed: int
                   ) -> tuple[float | None, float | None]:
    """95% account-bootstrap interval of mean(p) / mean(y) (predicted / realised): on a
    book of a few hundred accounts a ratio of 1.2 can be chance, and the interval says so."""
    if not len(y) or y.sum() == 0:
        return None, None
    rng = np.random.default_rng(seed + SEED_OFFSET + 1)
    codes, inverse = np.unique(groups, return_inverse=True)
    py = np.bincount(inverse, weights=p, minlength=len(codes))
    yy = np.bincount(inverse, weights=y.astype("float64"), minlength=len(codes))
    ratios = []
    for _ in range(BOOTSTRAP):
        w = np.bincount(rng.integers(0, len(codes), len(codes)), minlength=len(codes))
        realised = float(w @ yy)
        if realised > 0:
            ratios.append(float(w @ py) / realised)
    if len(ratios) < 20:
        return None, None
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return _r(lo, 3), _r(hi, 3)


def _r(x: Any, digits: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return round(float(x), digits)


def summarise_backtest(model: Any, settings: ScoringSettings) -> dict[str, Any] | None:
    """The backtest figures of one trained model (JSON-ready), or None without one."""
    bt = model.backtest
    if bt is None or not len(bt.rows):
        return None
    seed = settings.seed
    report = ~np.isnan(bt.calibrated)
    calibrated = True
    if report.sum() == 0 or bt.y[report].sum() == 0:
        report = np.ones(len(bt.y), dtype=bool)
        calibrated = False
    y, p = bt.y[report], (bt.calibrated if calibrated else bt.raw)[report]
    groups, dates = bt.groups[report], bt.as_of[report]
    scores = {"model": p}
    if bt.baseline_raw is not None and not np.isnan(bt.baseline_raw[report]).any():
        scores["baseline"] = bt.baseline_raw[report]
    ci = grouped_intervals(y, scores, groups, seed)
    pos_accounts = len(np.unique(groups[y == 1]))
    out: dict[str, Any] = {
        "scheme": bt.scheme, "cutoffs": [c for c in bt.cutoffs if c],
        "test_from": str(dates.min()), "test_to": str(dates.max()),
        "folds_reported": len(np.unique(bt.fold[report])),
        "rows": len(y), "positives": int(y.sum()), "accounts": len(np.unique(groups)),
        "positive_accounts": pos_accounts, "realised_rate": _r(y.mean()),
        "mean_predicted": _r(p.mean()) if calibrated else None,
        "calibration_ratio": _r(p.mean() / y.mean(), 3) if calibrated and y.mean() > 0 else None,
        **dict(zip(("calibration_ratio_low", "calibration_ratio_high"),
                   ratio_interval(y, p, groups, seed) if calibrated else (None, None),
                   strict=True)),
        "family": model.metrics.get("family"), "settings": model.metrics.get("settings"),
        **ci["model"],
        "baseline": ci.get("baseline"),
        "per_cutoff_roc_auc": [weighted_auc(bt.y[bt.fold == f], bt.raw[bt.fold == f])
                               for f in range(int(bt.fold.max()) + 1)],
    }
    out["per_cutoff_roc_auc"] = [_r(a) for a in out["per_cutoff_roc_auc"]]
    # Deciles of predicted probability, and the top-decile lift.
    order = np.argsort(-p, kind="stable")
    deciles = np.empty(len(p), dtype=int)
    deciles[order] = np.minimum(10 * np.arange(len(p)) // max(len(p), 1), 9)
    out["deciles"] = [{"decile": d + 1, "rows": int((deciles == d).sum()),
                       "mean_predicted": _r(p[deciles == d].mean()) if calibrated else None,
                       "realised_rate": _r(y[deciles == d].mean())}
                      for d in range(10) if (deciles == d).any()]
    top = deciles == 0
    out["top_decile_lift"] = _r(y[top].mean() / y.mean(), 2) if y.mean() > 0 and top.any() else None
    if model.kind == "churn":
        health = health_scores(p, dates)
        cats = renewal_indexes(health, settings)
        out["categories"] = [{
            "category": c, "rows": int((cats == c).sum()),
            "share": _r((cats == c).mean()),
            "realised_rate": _r(y[cats == c].mean()) if (cats == c).any() else None,
            "mean_predicted": _r(p[cats == c].mean()) if calibrated and (cats == c).any() else None,
            "share_of_positives": _r(y[cats == c].sum() / max(y.sum(), 1)),
        } for c in settings.renewal_categories]
        rates = [c["realised_rate"] for c in out["categories"] if c["rows"]]
        out["monotonic"] = all(a < b for a, b in pairwise(rates))
    else:
        threshold = settings.upsell_threshold or model.metrics.get("threshold", 0.5)
        chosen = p >= threshold
        out["threshold"] = threshold
        out["precision"] = _r(y[chosen].mean()) if chosen.any() else None
        out["recall"] = _r(y[chosen].sum() / max(y.sum(), 1))
    warnings = []
    if not calibrated:
        warnings.append("too few outcomes in the earlier test blocks to check calibration")
    if pos_accounts < max(MIN_TRUSTED_POSITIVE_ACCOUNTS, settings.min_positive_labels):
        warnings.append(f"only {pos_accounts} accounts with a known "
                        f"{'churn' if model.kind == 'churn' else 'upsell'} in the test periods: "
                        "too few to trust these figures (the interval shows how unsure they are)")
    out["warnings"] = warnings
    return out


@dataclass
class EvaluationReport:
    churn: dict[str, Any] | None
    upsell: dict[str, Any] | None
    provisional: dict[str, bool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return "\n".join(summary_lines(self.churn, self.upsell, self.provisional, self.warnings))


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ci(m: dict[str, Any] | None, key: str) -> str:
    if not m or m.get(key) is None:
        return "n/a"
    lo, hi = m.get(f"{key}_low"), m.get(f"{key}_high")
    band = f" [{lo:.2f}-{hi:.2f}]" if lo is not None and hi is not None else ""
    return f"{m[key]:.3f}{band}"


def _band(m: dict[str, Any], key: str) -> str:
    lo, hi = m.get(f"{key}_low"), m.get(f"{key}_high")
    return f" [{lo:.2f}-{hi:.2f}]" if lo is not None and hi is not None else ""


def summary_lines(churn: dict[str, Any] | None, upsell: dict[str, Any] | None,
                  provisional: dict[str, bool], warnings: list[str]) -> list[str]:
    lines = []
    for kind, ev in (("churn", churn), ("upsell", upsell)):
        if ev is None:
            continue
        how = (f"walk-forward, {len(ev['cutoffs'])} cut-offs ({', '.join(ev['cutoffs'])}), "
               f"{ev['folds_reported']} test blocks reported" if ev["scheme"] == "walk-forward"
               else f"{ev['folds_reported']} folds of accounts")
        flag = " [PROVISIONAL]" if provisional.get(kind) else ""
        lines.append(f"{kind.capitalize()} backtest{flag} ({how}): {ev['rows']:,} out-of-time rows "
                     f"from {ev['test_from']} to {ev['test_to']}, {ev['positives']:,} positive "
                     f"({ev['positive_accounts']:,} accounts); model {ev['family']} {ev['settings']}.")
        lines.append(f"  ROC AUC {_ci(ev, 'roc_auc')} (plain gradient boosting "
                     f"{_ci(ev.get('baseline'), 'roc_auc')}), PR AUC {_ci(ev, 'pr_auc')} (plain "
                     f"{_ci(ev.get('baseline'), 'pr_auc')}); top-decile lift {_f(ev['top_decile_lift'], 1)}x.")
        lines.append(f"  Predicted {_pct(ev['mean_predicted'])} vs realised {_pct(ev['realised_rate'])}"
                     f" (ratio {_f(ev['calibration_ratio'], 2)}{_band(ev, 'calibration_ratio')}).")
        for c in ev.get("categories", []):
            lines.append(f"  {c['category']:<24} {c['rows']:>8,} rows ({_pct(c['share']):>6})  realised "
                         f"{_pct(c['realised_rate']):>6}  predicted {_pct(c['mean_predicted']):>6}  "
                         f"{_pct(c['share_of_positives']):>6} of churners")
        if "monotonic" in ev:
            lines.append(f"  Realised churn rises strictly across categories: "
                         f"{'yes' if ev['monotonic'] else 'NO'}")
        lines.append("  Deciles (predicted / realised): " + ", ".join(
            f"{d['decile']}: {_pct(d['mean_predicted'])}/{_pct(d['realised_rate'])}"
            for d in ev["deciles"]))
        if ev.get("threshold") is not None:
            lines.append(f"  Threshold {ev['threshold']:.3f}: precision {_f(ev['precision'], 2)}, "
                         f"recall {_f(ev['recall'], 2)}")
        if ev.get("indicators"):
            lines.append("  Leading Indicators (weight, 90% bootstrap interval over accounts):")
            lines.extend(f"    {i['component']:<24} {_pct(i['weight']):>6} "
                         f"[{_pct(i['weight_low'])}-{_pct(i['weight_high'])}]  {i['direction']}"
                         for i in ev["indicators"])
        lines.extend(f"  Warning: {w}" for w in ev["warnings"])
    lines.extend(f"Warning: {w}" for w in warnings)
    return lines
