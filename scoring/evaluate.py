"""Time-based backtest: would the models have been right about the latest known period?

The known rows are split the way training validates (the latest known dates held
out; a stratified slice for a single snapshot). The whole training procedure (family
choice, calibration, refit) runs on the earlier rows only, then the held-out rows are
scored and compared with what really happened: ROC AUC, PR AUC, Brier score, and the
realised churn / upsell rate in each category. A plain `HistGradientBoostingClassifier()`
on the raw metrics, trained on the same rows, is the baseline to beat.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from scoring.errors import ModelError, ScoringError
from scoring.indexes import health_scores, renewal_indexes, upsell_indexes
from scoring.models import choose_split, train_model
from scoring.pipeline import _prepare, _Prepared, single_thread
from scoring.settings import ScoringSettings
from storage.store import Store

MIN_CATEGORY_ROWS = 30   # smaller categories are too noisy to count for monotonicity


@dataclass
class CategoryRate:
    category: str
    rows: int
    realised_rate: float | None
    mean_predicted: float | None


@dataclass
class OutcomeEvaluation:
    kind: str
    scheme: str
    train_until: str | None
    test_from: str | None
    test_to: str | None
    n_train: int
    n_test: int
    n_test_positive: int
    roc_auc: float | None
    pr_auc: float | None
    brier: float | None
    base_rate: float | None
    baseline_roc_auc: float | None
    family: str | None
    categories: list[CategoryRate] = field(default_factory=list)
    monotonic: bool | None = None
    threshold: float | None = None
    precision: float | None = None
    recall: float | None = None


@dataclass
class EvaluationReport:
    churn: OutcomeEvaluation | None
    upsell: OutcomeEvaluation | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = []
        for ev in (self.churn, self.upsell):
            if ev is None:
                continue
            span = f"{ev.test_from} to {ev.test_to}" if ev.test_from else "a stratified slice"
            lines.append(
                f"{ev.kind.capitalize()} backtest ({ev.scheme}): trained on {ev.n_train:,} rows"
                f"{' up to ' + ev.train_until if ev.train_until else ''}, tested on {ev.n_test:,} "
                f"rows ({ev.n_test_positive:,} positive) from {span}.")
            lines.append(f"  ROC AUC {_f(ev.roc_auc)} (plain gradient boosting {_f(ev.baseline_roc_auc)}),"
                         f" PR AUC {_f(ev.pr_auc)}, Brier {_f(ev.brier, 4)}, base rate {_pct(ev.base_rate)};"
                         f" model {ev.family}.")
            for c in ev.categories:
                lines.append(f"  {c.category:<24} {c.rows:>8,} rows  realised {_pct(c.realised_rate):>6}"
                             f"  predicted {_pct(c.mean_predicted):>6}")
            if ev.monotonic is not None:
                lines.append(f"  Realised rates ordered across categories: {'yes' if ev.monotonic else 'NO'}")
            if ev.threshold is not None:
                lines.append(f"  Threshold {ev.threshold:.3f}: precision {_f(ev.precision, 2)}, "
                             f"recall {_f(ev.recall, 2)}")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _metric(fn: Any, y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    return round(float(fn(y, p)), 4)


def _baseline(prepared: _Prepared, X: pd.DataFrame, y: np.ndarray, train: np.ndarray,
              test: np.ndarray, seed: int) -> float | None:
    """ROC AUC of HistGradientBoostingClassifier() on the raw current metrics."""
    plan = prepared.plan
    raw = X[[*plan.numeric, *plan.categorical]].copy()
    for c in plan.categorical:
        raw[c] = raw[c].astype("category")
    if raw.shape[1] == 0:
        return None
    clf = HistGradientBoostingClassifier(random_state=seed).fit(raw.iloc[train], y[train])
    return _metric(roc_auc_score, y[test], clf.predict_proba(raw.iloc[test])[:, 1])


def _evaluate_kind(kind: str, prepared: _Prepared, settings: ScoringSettings) -> OutcomeEvaluation:
    labels = prepared.churn if kind == "churn" else prepared.upsold
    known = ~np.isnan(labels)
    fs = prepared.features
    X = fs.frame.loc[known].reset_index(drop=True)
    y = labels[known].astype("int64")
    as_of = fs.keys["as_of"].to_numpy()[known]
    seed = settings.seed
    split = choose_split(as_of, y, settings.horizon_days, seed)
    if split.scheme == "none":
        raise ModelError(f"{kind}: too few known outcomes to hold any out")
    train, test = split.train, split.validation
    model = train_model(
        kind, X.iloc[train].reset_index(drop=True), y[train], as_of[train],
        numeric=fs.numeric, categorical=fs.categorical, horizon_days=settings.horizon_days,
        seed=seed, min_positive_labels=settings.min_positive_labels,
        threshold=settings.upsell_threshold if kind == "upsell" else None)
    p = model.predict(X.iloc[test])
    yt = y[test]
    ev = OutcomeEvaluation(
        kind=kind, scheme=split.scheme,
        train_until=str(as_of[train].max()) if split.scheme == "time" else None,
        test_from=str(as_of[test].min()) if split.scheme == "time" else None,
        test_to=str(as_of[test].max()) if split.scheme == "time" else None,
        n_train=len(train), n_test=len(test), n_test_positive=int(yt.sum()),
        roc_auc=_metric(roc_auc_score, yt, p), pr_auc=_metric(average_precision_score, yt, p),
        brier=round(float(brier_score_loss(yt, p)), 5), base_rate=round(float(yt.mean()), 4),
        baseline_roc_auc=_baseline(prepared, X, y, train, test, seed),
        family=model.metrics.get("family"),
    )
    if kind == "churn":
        cats = renewal_indexes(health_scores(p), settings)
        order = settings.renewal_categories
    else:
        threshold = settings.upsell_threshold or model.metrics.get("threshold", 0.5)
        cats = upsell_indexes(p, threshold, settings)
        order = [settings.upsell_unlikely, settings.upsell_likely]
        chosen = p >= threshold
        ev.threshold = float(threshold)
        ev.precision = round(float(yt[chosen].mean()), 4) if chosen.any() else None
        ev.recall = round(float(yt[chosen].sum() / max(yt.sum(), 1)), 4)
    for name in order:
        mask = cats == name
        ev.categories.append(CategoryRate(
            name, int(mask.sum()),
            round(float(yt[mask].mean()), 4) if mask.any() else None,
            round(float(p[mask].mean()), 4) if mask.any() else None))
    rates = [c.realised_rate for c in ev.categories if c.rows >= MIN_CATEGORY_ROWS]
    ev.monotonic = (all(a <= b for a, b in itertools.pairwise(rates)) if len(rates) >= 2 else None)
    return ev


def backtest(store: Store, settings: ScoringSettings) -> EvaluationReport:
    """Run the time-based backtest for churn and upsell (see module docstring)."""
    with single_thread():
        return _backtest(store, settings)


def _backtest(store: Store, settings: ScoringSettings) -> EvaluationReport:
    if not store.scalar("SELECT count(*) FROM snapshots"):
        raise ScoringError("no snapshots stored yet: run `outcomes ingest FILE` first")
    prepared = _prepare(store, settings)
    out: dict[str, OutcomeEvaluation | None] = {}
    warnings: list[str] = []
    for kind in ("churn", "upsell"):
        try:
            out[kind] = _evaluate_kind(kind, prepared, settings)
        except ModelError as exc:
            out[kind] = None
            warnings.append(f"no {kind} backtest: {exc}")
    if out["churn"] is None and out["upsell"] is None:
        raise ScoringError("nothing to evaluate: " + "; ".join(warnings))
    return EvaluationReport(out["churn"], out["upsell"], warnings)
