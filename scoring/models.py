"""Churn and upsell classifiers: pipelines, validation split, family choice, calibration.

Each model is one scikit-learn Pipeline (ColumnTransformer + classifier + calibration)
so it can be stored whole and rescoring never re-implements a transform. The model
family is chosen on validation rows the candidate never trained on: the latest known
dates when the book has a history (time-based), a stratified random slice when it is a
single snapshot with explicit labels; the reported validation metrics come from that
train-only model. The chosen family is then refit on all known rows so the latest dates
are scored by the most informed model, and its probabilities are calibrated on
out-of-fold predictions of that same family trained the same way: K folds of whole
snapshot dates in contiguous blocks (a held-out month's neighbours, which share much of
its outcome window, are mostly held out with it). A mapping learned on the validation
model's scores does not fit the refit model: more data and different trees give another
score scale, and the validation months have their own churn level. Platt scaling on
the log-odds rather than isotonic: two parameters are stable with the few hundred
positives of a small book, and a strictly increasing mapping keeps the ranking (AUC,
drivers, the upsell threshold) without isotonic's ties; on big books the out-of-fold
slope comes out near 1, so a more flexible shape would buy little. Rows are sampled
per fit on huge books. Everything is seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from scoring.errors import ModelError

FAMILIES = ("hist_gradient_boosting", "logistic_regression")
# Caps that keep training time flat on very large books; rows are sampled with the seed.
MAX_TRAIN_ROWS = 120_000
MAX_VALIDATION_ROWS = 50_000
MAX_REFIT_ROWS = 150_000
# Out-of-fold calibration of the refit family: folds of whole dates; each fold's model
# trains on a sample of the other folds and predicts a sample of its own rows.
CALIBRATION_FOLDS = 3
MAX_OOF_TRAIN_ROWS = 40_000
MAX_OOF_PREDICT_ROWS = 20_000
VALIDATION_SHARE = 0.25
MIN_VALIDATION_POSITIVES = 5
EPS = 1e-6
# Moderate trees: prediction cost (trees x depth) matters as much as accuracy, since
# every snapshot row is scored and drivers re-predict the latest rows per metric.
HGB = {"learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 15, "min_samples_leaf": 40}


# -- the calibrated final estimator ------------------------------------------------------


class PlattCalibrated(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities go through a fixed Platt mapping.

    The mapping (slope, intercept on the log-odds) is learned by `train_model` on
    out-of-fold predictions of the same family and settings, and passed in, so fitting
    on all rows keeps a calibration that was measured on rows the models had not seen.
    """

    def __init__(self, estimator: Any = None, slope: float = 1.0, intercept: float = 0.0):
        self.estimator = estimator
        self.slope = slope
        self.intercept = intercept

    def fit(self, X: Any, y: Any) -> PlattCalibrated:
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self.estimator_.predict_proba(X)[:, 1]
        p = _sigmoid(self.slope * _logit(raw) + self.intercept)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept mapping raw log-odds to calibrated ones."""
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(_logit(raw).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def apply_platt(raw: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return _sigmoid(slope * _logit(raw) + intercept)


# -- pipelines --------------------------------------------------------------------------


def build_pipeline(family: str, numeric: list[str], categorical: list[str], seed: int,
                   **params: Any) -> Pipeline:
    """Preprocessing + classifier for one model family (not yet calibrated)."""
    if family == "hist_gradient_boosting":
        cat = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                             encoded_missing_value=np.nan)
        prep = ColumnTransformer(
            [("categorical", cat, categorical), ("numeric", "passthrough", numeric)],
            remainder="drop", verbose_feature_names_out=False,
        )
        clf = HistGradientBoostingClassifier(
            learning_rate=params.get("learning_rate", HGB["learning_rate"]),
            max_iter=params.get("max_iter", HGB["max_iter"]),
            max_leaf_nodes=HGB["max_leaf_nodes"], min_samples_leaf=HGB["min_samples_leaf"],
            l2_regularization=1.0,
            early_stopping=params.get("early_stopping", True),
            validation_fraction=0.15, n_iter_no_change=20,
            categorical_features=[True] * len(categorical) + [False] * len(numeric),
            random_state=seed,
        )
        return Pipeline([("prep", prep), ("model", clf)])
    if family == "logistic_regression":
        cat = Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="(blank)")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=20)),
        ])
        num = Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("skew", FunctionTransformer(np.arcsinh, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ])
        prep = ColumnTransformer(
            [("categorical", cat, categorical), ("numeric", num, numeric)],
            remainder="drop", verbose_feature_names_out=False,
        )
        clf = LogisticRegression(C=params.get("C", 0.3), max_iter=1000)
        return Pipeline([("prep", prep), ("model", clf)])
    raise ValueError(f"unknown model family {family!r}")


# -- validation split -------------------------------------------------------------------


@dataclass
class Split:
    train: np.ndarray          # row positions
    validation: np.ndarray
    scheme: str                # 'time' | 'stratified' | 'none'
    validation_start: str | None = None


def choose_split(as_of: np.ndarray, y: np.ndarray, horizon_days: int, seed: int) -> Split:
    """Train on the past, validate on the latest known dates; stratified when no history.

    Training rows are those whose outcome window closed before the first validation date
    (as_of + horizon <= it), so no training label describes the validation period. When
    that leaves too few positives the gap is dropped, then the split falls back to a
    stratified random one.
    """
    n = len(y)
    idx = np.arange(n)
    dates = np.sort(np.unique(as_of))
    if len(dates) >= 3:
        # At least 3 validation dates once there are 6: calibration on one or two months
        # follows their particular churn level too closely.
        n_val = max(3 if len(dates) >= 6 else 1, round(VALIDATION_SHARE * len(dates)))
        start = dates[-n_val]
        val = as_of >= start
        gap_end = (pd.Timestamp(start) - pd.Timedelta(days=horizon_days)).strftime("%Y-%m-%d")
        for train in (as_of <= gap_end, as_of < start):
            if (y[val].sum() >= MIN_VALIDATION_POSITIVES and y[train].sum() >= MIN_VALIDATION_POSITIVES
                    and (1 - y[train]).sum() >= MIN_VALIDATION_POSITIVES
                    and (1 - y[val]).sum() >= MIN_VALIDATION_POSITIVES):
                return Split(idx[train], idx[val], "time", str(start))
    positives = int(y.sum())
    if min(positives, n - positives) >= 4:
        train, val = train_test_split(idx, test_size=VALIDATION_SHARE, stratify=y,
                                      random_state=seed)
        return Split(np.sort(train), np.sort(val), "stratified")
    return Split(idx, idx[:0], "none")


def _sample(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= cap:
        return rows
    return np.sort(rng.choice(rows, size=cap, replace=False))


# -- training ---------------------------------------------------------------------------


@dataclass
class TrainedModel:
    kind: str
    pipeline: Pipeline
    numeric: list[str]
    categorical: list[str]
    metrics: dict[str, Any]
    params: dict[str, Any]
    train_start: str | None
    train_end: str | None
    provisional: bool
    # Held-out rows and the train-only model's calibrated probabilities on them, for
    # permutation importance and reports (not stored).
    validation_X: pd.DataFrame | None = None
    validation_y: np.ndarray | None = None
    validation_model: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(X[self.features])[:, 1]


def lib_versions() -> dict[str, str]:
    import platform

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__, "numpy": np.__version__}


def _safe_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    return round(float(roc_auc_score(y, p)), 4)


def _safe_pr(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    return round(float(average_precision_score(y, p)), 4)


def _crossfit_calibrated(raw: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Calibrated validation probabilities where each half is mapped by the other's fit,
    so the reported Brier score is not measured on the rows the mapping learned from."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(y)) % 2
    out = np.empty(len(y))
    for k in (0, 1):
        fit_rows, apply_rows = fold != k, fold == k
        slope, intercept = fit_platt(raw[fit_rows], y[fit_rows])
        out[apply_rows] = apply_platt(raw[apply_rows], slope, intercept)
    return out


def calibration_folds(as_of: np.ndarray, y: np.ndarray, seed: int,
                      k: int = CALIBRATION_FOLDS) -> list[np.ndarray]:
    """Row positions of each out-of-fold calibration fold (together: every row once).

    With at least k snapshot dates, each fold is a contiguous block of whole dates
    (blocks of about equal row counts), so no date is split between fitting and
    predicting and a held-out date's neighbours, which share much of its outcome
    window, mostly sit in the same fold. A single-date book with explicit labels gets
    stratified, seeded row folds. Empty when there are too few rows or outcomes.
    """
    n = len(y)
    dates, inverse, counts = np.unique(as_of.astype(str), return_inverse=True, return_counts=True)
    if len(dates) >= k:
        middle = np.cumsum(counts) - counts / 2.0
        block_of_date = np.minimum((k * middle / n).astype(int), k - 1)
        block = block_of_date[inverse]
        folds = [np.flatnonzero(block == b) for b in range(k)]
        folds = [f for f in folds if len(f)]
        return folds if len(folds) >= 2 else []
    positives = int(y.sum())
    if min(positives, n - positives) < k:
        return []
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [np.sort(test) for _, test in skf.split(np.zeros(n), y)]


def out_of_fold_raw(make_pipeline: Any, X: pd.DataFrame, y: np.ndarray, as_of: np.ndarray,
                    numeric: list[str], categorical: list[str], seed: int
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw (uncalibrated) out-of-fold probabilities: (row positions, probabilities, folds).

    `make_pipeline(numeric, categorical)` builds the family exactly as the final fit
    does. Each fold's model trains on (a seeded sample of) the other folds' rows and
    predicts (a seeded sample of) its own; folds whose training rows hold one class
    only are skipped.
    """
    rng = np.random.default_rng(seed + 7919)
    folds = calibration_folds(as_of, y, seed)
    all_rows = np.arange(len(y))
    rows_out: list[np.ndarray] = []
    raw_out: list[np.ndarray] = []
    used = 0
    for fold in folds:
        in_fold = np.zeros(len(y), dtype=bool)
        in_fold[fold] = True
        train_rows = _sample(all_rows[~in_fold], MAX_OOF_TRAIN_ROWS, rng)
        predict_rows = _sample(fold, MAX_OOF_PREDICT_ROWS, rng)
        yt = y[train_rows]
        if len(np.unique(yt)) < 2:
            continue
        Xt = X.iloc[train_rows]
        num_t, cat_t = _usable(Xt, numeric, categorical)
        if not num_t and not cat_t:
            continue
        pipe = make_pipeline(num_t, cat_t)
        pipe.fit(Xt[[*num_t, *cat_t]], yt)
        rows_out.append(predict_rows)
        raw_out.append(pipe.predict_proba(X.iloc[predict_rows][[*num_t, *cat_t]])[:, 1])
        used += 1
    if not rows_out:
        return all_rows[:0], np.zeros(0), 0
    return np.concatenate(rows_out), np.concatenate(raw_out), used


def choose_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The probability cut-off with the best F1 on validation rows: (threshold, precision,
    recall). Rounded to 3 decimals so reruns and reports agree."""
    if len(p) == 0 or y.sum() == 0:
        return 0.5, 0.0, 0.0
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    precision = tp / k
    recall = tp / ys.sum()
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-12), 0)
    # Only cut between distinct probabilities.
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    f1 = np.where(last_of_tie, f1, -1)
    best = int(np.argmax(f1))
    threshold = round(float(ps[best]), 3)
    threshold = min(max(threshold, 0.001), 0.999)
    chosen = p >= threshold
    prec = float(y[chosen].mean()) if chosen.any() else 0.0
    rec = float(y[chosen].sum() / y.sum())
    return threshold, round(prec, 4), round(rec, 4)


def train_model(
    kind: str, X: pd.DataFrame, y: np.ndarray, as_of: np.ndarray, *, numeric: list[str],
    categorical: list[str], horizon_days: int, seed: int, min_positive_labels: int,
    threshold: float | None = None,
) -> TrainedModel:
    """Choose, calibrate and refit one classifier on the rows with a known outcome.

    `X` holds the known rows only; `y` is 0/1; `as_of` their dates (ISO strings).
    Raises ModelError when there is nothing to learn (no positives or no negatives).
    """
    y = np.asarray(y, dtype="int64")
    as_of = np.asarray(as_of, dtype=object)
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        what = "no account" if positives == 0 else "every account"
        raise ModelError(f"{kind}: {what} has a known positive outcome among {len(y):,} rows; "
                         "nothing to learn yet")
    numeric, categorical = _usable(X, numeric, categorical)
    if not numeric and not categorical:
        raise ModelError(f"{kind}: no metric has values to learn from")
    rng = np.random.default_rng(seed)
    split = choose_split(as_of, y, horizon_days, seed)
    warnings: list[str] = []
    provisional = positives < min_positive_labels
    if provisional:
        warnings.append(
            f"{kind}: only {positives} known positive outcomes (fewer than {min_positive_labels}); "
            "scores are provisional"
        )

    metrics: dict[str, Any] = {"n_known": len(y), "n_positive": positives,
                               "base_rate": round(positives / len(y), 4),
                               "validation": split.scheme}
    candidates: dict[str, dict[str, Any]] = {}
    chosen = "logistic_regression"
    hgb_iters = 300
    val_model = None
    val_X = val_y = None
    calibrated_cf = None
    val_slope, val_intercept = 1.0, 0.0
    if split.scheme != "none":
        train_rows = _sample(split.train, MAX_TRAIN_ROWS, rng)
        val_rows = _sample(split.validation, MAX_VALIDATION_ROWS, rng)
        Xt, yt = X.iloc[train_rows], y[train_rows]
        val_X, val_y = X.iloc[val_rows], y[val_rows]
        num_t, cat_t = _usable(Xt, numeric, categorical)
        fitted: dict[str, tuple[Pipeline, np.ndarray]] = {}
        for family in FAMILIES:
            pipe = build_pipeline(family, num_t, cat_t, seed)
            if family == "hist_gradient_boosting" and len(train_rows) < 1000:
                pipe.set_params(model__early_stopping=False, model__max_iter=100)
            pipe.fit(Xt[[*num_t, *cat_t]], yt)
            raw = pipe.predict_proba(val_X[[*num_t, *cat_t]])[:, 1]
            fitted[family] = (pipe, raw)
            candidates[family] = {"roc_auc": _safe_auc(val_y, raw), "pr_auc": _safe_pr(val_y, raw)}
        chosen = max(FAMILIES, key=lambda f: (candidates[f]["roc_auc"] or 0.0, f == FAMILIES[0]))
        pipe, raw = fitted[chosen]
        if chosen == "hist_gradient_boosting":
            hgb_iters = int(pipe.named_steps["model"].n_iter_)
        # The train-only model keeps a mapping fitted on its own validation scores: it
        # serves the honest validation metrics and the permutation importances only.
        val_slope, val_intercept = fit_platt(raw, val_y)
        calibrated_cf = _crossfit_calibrated(raw, val_y, seed)
        val_model = Pipeline([("prep", pipe.named_steps["prep"]),
                              ("model", _frozen(pipe.named_steps["model"], val_slope,
                                                val_intercept))])
        val_model.feature_names_ = [*num_t, *cat_t]
        metrics.update({
            "roc_auc": _safe_auc(val_y, raw), "pr_auc": _safe_pr(val_y, raw),
            "brier": round(float(brier_score_loss(val_y, calibrated_cf)), 5),
            "n_train": len(train_rows), "n_validation": len(val_rows),
            "n_validation_positive": int(val_y.sum()),
            "train_until": str(as_of[split.train].max()),
            "validation_from": str(as_of[split.validation].min()),
            "validation_to": str(as_of[split.validation].max()),
            "candidates": candidates,
        })
    else:
        warnings.append(f"{kind}: too few known outcomes to hold any out; "
                        "no validation metrics")
        metrics.update({"roc_auc": None, "pr_auc": None, "brier": None, "n_train": len(y)})

    metrics["family"] = chosen
    params: dict[str, Any] = {"family": chosen, "seed": seed}
    fit_params: dict[str, Any] = {}
    if chosen == "hist_gradient_boosting":
        # As many boosting rounds as early stopping found on the training slice, scaled
        # a little for the extra data; no random inner split in the final fit.
        iters = max(20, math.ceil(hgb_iters * 1.1))
        fit_params = {"max_iter": iters, "early_stopping": False}
        params.update(fit_params)

    def make_pipeline(num: list[str], cat: list[str]) -> Pipeline:
        return build_pipeline(chosen, num, cat, seed, **fit_params)

    # Calibrate the final model on out-of-fold predictions of the same family, fitted
    # the same way (see module doc).
    oof_rows, oof_raw, n_folds = out_of_fold_raw(make_pipeline, X, y, as_of, numeric,
                                                 categorical, seed)
    oof_y = y[oof_rows]
    oof_p = None
    oof_pos = int(oof_y.sum())
    if n_folds and min(oof_pos, len(oof_y) - oof_pos) >= MIN_VALIDATION_POSITIVES:
        slope, intercept = fit_platt(oof_raw, oof_y)
        oof_p = apply_platt(oof_raw, slope, intercept)
        by_date = len(np.unique(as_of.astype(str))) >= CALIBRATION_FOLDS
        calibration = {
            "method": "platt", "fitted_on": "out-of-fold",
            "folds": f"{n_folds} {'blocks of snapshot dates' if by_date else 'stratified row folds'}",
            "n_rows": len(oof_y), "n_positive": oof_pos,
            "out_of_fold_roc_auc": _safe_auc(oof_y, oof_raw),
            "out_of_fold_mean_raw": round(float(oof_raw.mean()), 4),
            "out_of_fold_rate": round(float(oof_y.mean()), 4),
        }
    elif split.scheme != "none":
        slope, intercept = val_slope, val_intercept
        calibration = {"method": "platt", "fitted_on": "validation (too few out-of-fold outcomes)"}
        warnings.append(f"{kind}: too few outcomes for out-of-fold calibration; probabilities "
                        "use the validation model's mapping")
    else:
        slope, intercept = 1.0, 0.0
        calibration = {"method": "none", "fitted_on": None}
    calibration.update({"slope": round(slope, 6), "intercept": round(intercept, 6)})
    metrics["calibration"] = calibration

    if kind == "upsell":
        # The threshold applies to the final model's probabilities, so it is chosen on
        # probabilities with the same mapping: the out-of-fold ones when there are any.
        if oof_p is not None:
            p_thr, y_thr, source = oof_p, oof_y, "out-of-fold"
        elif calibrated_cf is not None:
            p_thr, y_thr, source = calibrated_cf, val_y, "validation"
        else:
            p_thr = y_thr = source = None
        if p_thr is None:
            metrics.update({"threshold": threshold if threshold is not None else 0.5,
                            "threshold_source": "app.yaml" if threshold is not None else "default",
                            "threshold_precision": None, "threshold_recall": None})
        else:
            if threshold is None:
                threshold, prec, rec = choose_threshold(p_thr, y_thr)
                metrics["threshold_source"] = f"{source} (best F1)"
            else:
                chosen_rows = p_thr >= threshold
                prec = float(y_thr[chosen_rows].mean()) if chosen_rows.any() else 0.0
                rec = float(y_thr[chosen_rows].sum() / max(y_thr.sum(), 1))
                metrics["threshold_source"] = "app.yaml"
            metrics.update({"threshold": threshold, "threshold_precision": round(prec, 4),
                            "threshold_recall": round(rec, 4),
                            "threshold_rows": source})

    # Refit the chosen family on all known rows (sampled on huge books).
    refit_rows = _sample(np.arange(len(y)), MAX_REFIT_ROWS, rng)
    Xa, ya = X.iloc[refit_rows], y[refit_rows]
    num_a, cat_a = _usable(Xa, numeric, categorical)
    base = make_pipeline(num_a, cat_a)
    final = Pipeline([
        ("prep", base.named_steps["prep"]),
        ("model", PlattCalibrated(base.named_steps["model"], slope=slope, intercept=intercept)),
    ])
    final.fit(Xa[[*num_a, *cat_a]], ya)
    metrics["n_refit"] = len(refit_rows)
    return TrainedModel(
        kind=kind, pipeline=final, numeric=num_a, categorical=cat_a, metrics=metrics,
        params=params, train_start=str(as_of.min()), train_end=str(as_of.max()),
        provisional=provisional, validation_X=val_X, validation_y=val_y,
        validation_model=val_model, warnings=warnings,
    )


def _frozen(fitted: Any, slope: float, intercept: float) -> PlattCalibrated:
    """Wrap an already fitted classifier with a Platt mapping, without refitting it."""
    wrapped = PlattCalibrated(fitted, slope, intercept)
    wrapped.estimator_ = fitted
    wrapped.classes_ = fitted.classes_
    return wrapped


def _usable(X: pd.DataFrame, numeric: list[str], categorical: list[str]
            ) -> tuple[list[str], list[str]]:
    from scoring.features import usable_columns

    return usable_columns(X, numeric, categorical)
