"""Churn and upsell classifiers: walk-forward validation, model choice, calibration, refit.

Each model is one scikit-learn Pipeline (ColumnTransformer + a HistGradientBoosting or
LogisticRegression classifier), stored whole so rescoring never re-implements a
transform, and a separate two-number calibration (Platt: slope and intercept on the
log-odds) applied to the pipeline's output. The pipeline's final estimator is the plain
classifier, so explanations can be computed exactly from the model that scores.

Validation is walk-forward in time: at each of (at least) 4 cut-off dates a model is
trained on the rows whose outcome window closed before the cut-off (a purge gap of one
horizon: no training label describes the test period) and predicts the whole snapshot
dates from the cut-off to the next one. Those out-of-time predictions are used for
everything that is claimed about the model:

- the model family and its settings (boosting rounds, regularisation) are chosen on
  their mean ROC AUC across the cut-offs;
- the calibration of the final model is fitted on the out-of-time predictions of exactly
  that configuration, weighting recent test dates more (a half-life of one horizon), so
  probabilities follow the book's current churn level rather than its history average;
- the backtest (`evaluate`, `/outcome accuracy`) reports them, each test block mapped
  by a calibration fitted on the earlier blocks only.

A calibration is fitted on the blocks of at least MIN_CALIBRATION_BLOCKS walk-forward
models. Each block is predicted by a different model (trained on a longer history than
the one before), and one model's out-of-time error does not carry over to another: on
the demo book the first model, trained on five months, under-predicted its block by
half, and the shift learned from it alone doubled the next model's probabilities, which
had been close (predicted/realised 2.2 on that block where the model's own gave 1.2).
A block with fewer earlier blocks is reported with the model's own probabilities.

A single snapshot (or too short a history) gets folds of accounts instead (stratified,
grouped by account). Gradient boosting carries monotone constraints for the metrics
whose direction is clear on the training rows (a strong rank association and a monotone
pattern across deciles). Books with fewer known positives than `min_positive_labels`
use regularised logistic regression only, and their scores are provisional.

Every fit, the final one included, trains on at most MAX_FIT_ROWS rows (a seeded
sample), so the models the calibration was measured on are the size of the one that
scores. Everything is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from scoring.errors import ModelError
from scoring.features import text_array, usable_columns
from scoring.parallel import single_thread

FAMILIES = ("hist_gradient_boosting", "logistic_regression")
CUTOFFS = 4                 # walk-forward cut-offs (test blocks)
TEST_SHARE = 0.4            # share of the known dates the test blocks span (at least 1 date each)
MAX_FIT_ROWS = 50_000       # every fit, walk-forward and final, samples at most this many rows
MAX_TEST_ROWS = 30_000      # rows predicted per test block (seeded sample)
MIN_FOLD_POSITIVES = 3      # a cut-off whose training rows hold fewer positives is skipped
MIN_CALIBRATION_POSITIVES = 5
MIN_CALIBRATION_BLOCKS = 2  # walk-forward blocks (models) a calibration is fitted on (module doc)
# Half-life of the calibration's recency weights, in horizons. Half a horizon was tried
# (2026-12-07) and left: on the held-out months of the demo and bench_quality.py books it
# moved predicted/realised nearer 1 on four of six models and further on two (drifting
# churn 0.84 -> 0.71): weighting the latest block more also weighs its noise more.
CALIBRATION_HALF_LIFE = 1.0
PLATT_SLOPE_POSITIVES = 100  # fewer positives: the calibration only shifts the log-odds
EPS = 1e-6
# Moderate trees: prediction cost (trees x depth) matters as much as accuracy, since
# every snapshot row is scored. Boosting rounds are chosen on the walk-forward folds.
HGB = {"learning_rate": 0.08, "max_leaf_nodes": 15, "min_samples_leaf": 40,
       "l2_regularization": 1.0}
HGB_ROUNDS = (20, 40, 60)
LR_C = (0.05, 0.3)          # both tried on small books only (cheap there)
# Monotone constraint when the rank correlation's z-score is at least this and the
# decile rates move one way.
MONOTONE_Z = 4.0
MONOTONE_SAMPLE = 10_000
# Rows per pass of the trees in `predict_positive`: a block of the feature matrix this
# size stays in the CPU cache while every tree walks it (87 features x 8 bytes x 4,096
# rows = 2.9 MB); one pass over 400,000 rows re-reads the matrix from memory for each
# tree. Each pass also pays a fixed ~3 ms in scikit-learn (the classifier's own input
# checks), so blocks much smaller than this cost more than the cache saves. Churn model
# (60 trees) over 1.6M rows on one thread: 5.95 s in blocks of 2,048, 5.51 s of 4,096,
# 5.57 s of 8,192 (Intel Xeon, 2 MB L2 a core).
PREDICT_BLOCK = 4_096
# Rows per preprocessing pass. The transformers' copies turn the feature frame's columns
# into rows (column-major into row-major), which is cheap while the block stays in the
# cache and slow once it does not: the upsell model's preprocessing of 1.6M rows takes
# 5.7 s in passes of 200,000 rows and 3.9 s in passes of 32,768 (same output).
PREP_BLOCK = 32_768


# -- calibration -------------------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def fit_platt(raw: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
              ) -> tuple[float, float]:
    """Slope and intercept mapping raw log-odds to calibrated ones (optionally weighted).

    With fewer than PLATT_SLOPE_POSITIVES positives only the intercept moves (slope 1):
    a slope fitted on a few dozen outcomes swings the probabilities more than it fixes.
    """
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    if int(np.sum(y)) < PLATT_SLOPE_POSITIVES:
        return 1.0, _intercept_shift(_logit(raw), np.asarray(y, dtype="float64"),
                                     np.ones(len(y)) if weight is None else weight)
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(_logit(raw).reshape(-1, 1), y, sample_weight=weight)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _intercept_shift(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The shift b with sum(w * sigmoid(z + b)) = sum(w * y) (bisection; it is monotone)."""
    target = float(np.sum(w * y))
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if float(np.sum(w * _sigmoid(z + mid))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def apply_platt(raw: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return _sigmoid(slope * _logit(raw) + intercept)


def calibrate(raw: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """The stored calibration (model metrics['calibration']) applied to raw probabilities."""
    if not calibration or calibration.get("method") != "platt":
        return np.asarray(raw, dtype="float64")
    return apply_platt(raw, float(calibration["slope"]), float(calibration["intercept"]))


def predict_positive(pipeline: Pipeline, X: pd.DataFrame,
                     features: list[str] | None = None) -> np.ndarray:
    """Probability of the positive class for the rows of X (its `features` columns, in
    order; all of them when None), the preprocessing PREP_BLOCK rows at a time, the
    classifier PREDICT_BLOCK rows at a time."""
    out = np.empty(len(X))
    prep, clf = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    for start in range(0, len(X), PREP_BLOCK):
        part = X.iloc[start:start + PREP_BLOCK]
        Z = prep.transform(part if features is None else part[features])
        for s in range(0, Z.shape[0], PREDICT_BLOCK):
            e = min(s + PREDICT_BLOCK, Z.shape[0])
            out[start + s:start + e] = clf.predict_proba(Z[s:e])[:, 1]
    return out


def recency_weights(days: np.ndarray, half_life_days: float) -> np.ndarray:
    """Weight of each row for calibration: halves every `half_life_days` back from the latest."""
    days = np.asarray(days, dtype="float64")
    if not len(days):
        return days
    return 0.5 ** ((days.max() - days) / max(half_life_days, 1))


# -- pipelines --------------------------------------------------------------------------


def build_pipeline(family: str, numeric: list[str], categorical: list[str], seed: int,
                   **params: Any) -> Pipeline:
    """Preprocessing + classifier for one model family and its settings."""
    if family == "hist_gradient_boosting":
        cat = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                             encoded_missing_value=np.nan)
        prep = ColumnTransformer(
            [("categorical", cat, categorical), ("numeric", "passthrough", numeric)],
            remainder="drop", verbose_feature_names_out=False,
        )
        monotone = params.get("monotone") or {}
        clf = HistGradientBoostingClassifier(
            learning_rate=HGB["learning_rate"], max_iter=int(params.get("max_iter", HGB_ROUNDS[-1])),
            max_leaf_nodes=HGB["max_leaf_nodes"], min_samples_leaf=HGB["min_samples_leaf"],
            l2_regularization=HGB["l2_regularization"], early_stopping=False,
            categorical_features=[True] * len(categorical) + [False] * len(numeric),
            monotonic_cst=[0] * len(categorical) + [int(monotone.get(c, 0)) for c in numeric],
            random_state=seed,
        )
        return Pipeline([("prep", prep), ("model", clf)])
    if family == "logistic_regression":
        cat = Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="(blank)")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=20)),
        ])
        num = Pipeline([
            ("impute", SimpleImputer(strategy=column_median, add_indicator=True)),
            ("skew", FunctionTransformer(np.arcsinh, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ])
        prep = ColumnTransformer(
            [("categorical", cat, categorical), ("numeric", num, numeric)],
            remainder="drop", verbose_feature_names_out=False,
        )
        # Newton steps with a Cholesky solve: many rows, a few hundred columns, so each
        # step is cheap and five or six reach the optimum that lbfgs (about 100 steps at
        # its default tolerance) only nears.
        clf = LogisticRegression(C=float(params.get("C", LR_C[-1])), solver="newton-cholesky",
                                 max_iter=200)
        return Pipeline([("prep", prep), ("model", clf)])
    raise ValueError(f"unknown model family {family!r}")


def column_median(values: np.ndarray) -> float:
    """The median of one column's non-missing values (SimpleImputer's strategy): the same
    value as its "median" strategy, which sorts a masked copy of the whole matrix (half
    a second at 50,000 rows x 80 columns) where this partitions one column at a time."""
    return float(np.median(values)) if len(values) else np.nan


def monotone_directions(X: pd.DataFrame, y: np.ndarray, numeric: list[str],
                        seed: int) -> dict[str, int]:
    """+1 / -1 for numeric features whose effect on the outcome has a clear direction.

    Clear = the rank correlation with the outcome has |z| >= MONOTONE_Z and the outcome
    rate across the feature's deciles moves the same way (Spearman of the decile rates
    >= 0.8). Measured on (a seeded sample of) the training rows only.
    """
    from scipy.stats import rankdata

    n = len(y)
    rows = np.arange(n)
    if n > MONOTONE_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(n, MONOTONE_SAMPLE, replace=False))
    yy = y[rows].astype("float64")
    if yy.std() == 0:
        return {}
    out: dict[str, int] = {}
    for c in numeric:
        x = X[c].to_numpy(dtype="float64")[rows]
        ok = ~np.isnan(x)
        if ok.sum() < 200 or np.unique(x[ok]).size < 5:
            continue
        rx = rankdata(x[ok])
        yo = yy[ok]
        if yo.std() == 0:
            continue
        r = float(np.corrcoef(rx, yo)[0, 1])
        if not np.isfinite(r) or abs(r) * np.sqrt(ok.sum()) < MONOTONE_Z:
            continue
        bins = np.minimum((10 * (rx - 1) / len(rx)).astype(int), 9)
        rates = np.array([yo[bins == b].mean() for b in range(10) if (bins == b).any()])
        if len(rates) < 4:
            continue
        rr = float(np.corrcoef(np.arange(len(rates)), rankdata(rates))[0, 1])
        if np.isfinite(rr) and rr * np.sign(r) >= 0.8:
            out[c] = int(np.sign(r))
    return out


# -- walk-forward folds -----------------------------------------------------------------


@dataclass
class Folds:
    """Training and test rows of each validation fold, oldest cut-off first."""

    scheme: str                        # 'walk-forward' | 'grouped' | 'none'
    train: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    cutoffs: list[str | None] = field(default_factory=list)


def day_numbers(as_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct ISO dates of `as_of` (sorted), their day numbers (days since
    1970-01-01) and each row's day number. The few distinct dates are parsed, not every
    row's (a million rows hold a few dozen dates)."""
    codes, dates = pd.factorize(np.asarray(as_of).astype(object), sort=True)
    dates = np.asarray(dates, dtype=object)
    date_days = pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype("int64")
    return dates, date_days, date_days[codes]


def walk_forward_folds(as_of: np.ndarray, y: np.ndarray, groups: np.ndarray,
                       horizon_days: int, seed: int, k: int = CUTOFFS) -> Folds:
    """Walk-forward folds in time (see module doc); account folds without a history.

    Test blocks are contiguous runs of whole snapshot dates spanning the latest
    TEST_SHARE of the known dates; the training rows of the block starting at cut-off c
    are those with as_of + horizon <= c. Fewer blocks are used only when the history is
    too short for k (at least 2; otherwise account folds). Account folds: every account
    in one fold, stratified on whether it ever had a positive outcome.
    """
    dates, date_days, day = day_numbers(as_of)
    for blocks in range(k, 1, -1):
        per = max(1, round(TEST_SHARE * len(dates) / blocks))
        first = len(dates) - per * blocks
        if first < 1:
            continue
        starts = [first + i * per for i in range(blocks)]
        train, test, cutoffs = [], [], []
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < blocks else len(dates)
            t_rows = np.flatnonzero((day >= date_days[s]) & (day <= date_days[end - 1]))
            tr_rows = np.flatnonzero(day + horizon_days <= date_days[s])
            if y[tr_rows].sum() < MIN_FOLD_POSITIVES or (1 - y[tr_rows]).sum() < MIN_FOLD_POSITIVES:
                continue
            train.append(tr_rows)
            test.append(t_rows)
            cutoffs.append(str(dates[s]))
        if len(train) >= min(blocks, k) and len(train) >= 2:
            return Folds("walk-forward", train, test, cutoffs)
    # No usable history: folds of accounts.
    codes, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    ever = np.zeros(len(codes))
    np.maximum.at(ever, inverse, y)
    n_splits = int(min(k, ever.sum(), len(codes) - ever.sum()))
    if n_splits < 2:
        return Folds("none")
    skf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train, test = [], []
    for tr, te in skf.split(np.zeros(len(y)), y, inverse):
        if y[tr].sum() < 1 or y[tr].sum() == len(tr):
            continue
        train.append(np.sort(tr))
        test.append(np.sort(te))
    if len(train) < 2:
        return Folds("none")
    return Folds("grouped", train, test, [None] * len(train))


def _sample(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= cap:
        return rows
    return np.sort(rng.choice(rows, size=cap, replace=False))


# -- training ---------------------------------------------------------------------------


@dataclass
class Backtest:
    """Out-of-time predictions of the configuration that scores (`rows`: positions in y)."""

    scheme: str
    rows: np.ndarray
    fold: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray     # block f mapped by a calibration fitted on blocks < f, the
                               # model's own where fewer than MIN_CALIBRATION_BLOCKS (NaN: none)
    y: np.ndarray
    as_of: np.ndarray
    groups: np.ndarray
    cutoffs: list[str | None]
    baseline_raw: np.ndarray | None = None   # plain HistGradientBoosting on the raw columns


@dataclass
class TrainedModel:
    kind: str
    pipeline: Pipeline          # prep + plain HistGradientBoosting / LogisticRegression
    calibration: dict[str, Any]
    numeric: list[str]
    categorical: list[str]
    metrics: dict[str, Any]
    params: dict[str, Any]
    train_start: str | None
    train_end: str | None
    provisional: bool
    backtest: Backtest | None = None
    # Held-out rows of the latest cut-off and the model that had not seen them (raw
    # pipeline with `feature_names_`), for permutation importance (not stored).
    validation_X: pd.DataFrame | None = None
    validation_y: np.ndarray | None = None
    validation_model: Any = None
    warnings: list[str] = field(default_factory=list)
    # The walk-forward models of the chosen configuration (pipeline, its features), oldest
    # cut-off first (not stored).
    fold_models: list[tuple[Any, list[str]]] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities."""
        return calibrate(predict_positive(self.pipeline, X, self.features), self.calibration)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return predict_positive(self.pipeline, X, self.features)


def lib_versions() -> dict[str, str]:
    import platform

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__, "numpy": np.__version__}


def _safe_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    return round(float(roc_auc_score(y, p)), 4)


def choose_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The probability cut-off with the best F1: (threshold, precision, recall).
    Rounded to 3 decimals so reruns and reports agree."""
    if len(p) == 0 or y.sum() == 0:
        return 0.5, 0.0, 0.0
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    precision = tp / k
    recall = tp / ys.sum()
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-12), 0)
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    f1 = np.where(last_of_tie, f1, -1)
    best = int(np.argmax(f1))
    threshold = round(float(ps[best]), 3)
    threshold = min(max(threshold, 0.001), 0.999)
    chosen = p >= threshold
    prec = float(y[chosen].mean()) if chosen.any() else 0.0
    rec = float(y[chosen].sum() / y.sum())
    return threshold, round(prec, 4), round(rec, 4)


def _fit(family: str, X: pd.DataFrame, y: np.ndarray, numeric: list[str],
         categorical: list[str], seed: int, **params: Any) -> tuple[Pipeline, list[str], list[str]]:
    """Fit one configuration on these rows; monotone directions measured on them."""
    num, cat = usable_columns(X, numeric, categorical)
    if family == "hist_gradient_boosting":
        params = {**params, "monotone": monotone_directions(X, y, num, seed)}
    pipe = build_pipeline(family, num, cat, seed, **params)
    pipe.fit(X[[*num, *cat]], y)
    return pipe, num, cat


def _candidates(family: str, small: bool = False) -> list[dict[str, Any]]:
    if family == "hist_gradient_boosting":
        return [{"max_iter": r} for r in HGB_ROUNDS]
    return [{"C": c} for c in (LR_C if small else LR_C[:1])]


def _fold_predictions(family: str, X_train: pd.DataFrame, y_train: np.ndarray,
                      X_test: pd.DataFrame, numeric: list[str], categorical: list[str],
                      seed: int, small: bool) -> tuple[list[np.ndarray], Any, list[str], list[Any]]:
    """Raw test probabilities of each candidate setting of a family (one list entry each),
    the last fitted pipeline, the features, and each candidate's fitted pipeline (gradient
    boosting: the one fit, which `with_rounds` cuts to a candidate's rounds)."""
    pipe, num, cat = _fit(family, X_train, y_train, numeric, categorical, seed,
                          max_iter=HGB_ROUNDS[-1], C=LR_C[0])
    Xt = X_test[[*num, *cat]]
    if family == "hist_gradient_boosting":
        blocks: dict[int, list[np.ndarray]] = {}
        wanted = set(HGB_ROUNDS)
        Zt = pipe.named_steps["prep"].transform(Xt)
        for s in range(0, Zt.shape[0], PREDICT_BLOCK):  # cache-sized blocks (see there)
            stages = pipe.named_steps["model"].staged_predict_proba(Zt[s:s + PREDICT_BLOCK])
            for i, p in enumerate(stages, start=1):
                if i in wanted:
                    blocks.setdefault(i, []).append(p[:, 1])
        staged = {i: np.concatenate(parts) for i, parts in blocks.items()}
        last = pipe.named_steps["model"].n_iter_
        out = [staged.get(r, staged.get(min(last, r), None)) for r in HGB_ROUNDS]
        out = [o if o is not None else pipe.predict_proba(Xt)[:, 1] for o in out]
        return out, pipe, [*num, *cat], [pipe] * len(out)
    out = [pipe.predict_proba(Xt)[:, 1]]
    pipes = [pipe]
    for c in [p["C"] for p in _candidates(family, small)][1:]:
        other = build_pipeline(family, num, cat, seed, C=c)
        other.fit(X_train[[*num, *cat]], y_train)
        out.append(other.predict_proba(Xt)[:, 1])
        pipe = other
        pipes.append(other)
    return out, pipe, [*num, *cat], pipes


def with_rounds(pipe: Pipeline, rounds: int) -> Pipeline:
    """A gradient-boosting pipeline cut to its first `rounds` trees (what its staged
    predictions at that round are); any other pipeline as it is."""
    import copy

    clf = pipe.named_steps["model"]
    if not hasattr(clf, "_predictors") or len(clf._predictors) <= rounds:
        return pipe
    out = copy.deepcopy(pipe)
    cut = out.named_steps["model"]
    cut._predictors = cut._predictors[:rounds]   # n_iter_ is their count
    return out


def _plain_baseline(X_train: pd.DataFrame, y_train: np.ndarray, X_test: pd.DataFrame,
                    raw_columns: list[str], categorical: list[str], seed: int) -> np.ndarray | None:
    """HistGradientBoostingClassifier() with default settings on the raw metric columns."""
    cols = [c for c in raw_columns if c in X_train.columns]
    if not cols or len(np.unique(y_train)) < 2:
        return None
    frame = pd.concat([X_train[cols], X_test[cols]], ignore_index=True)
    for c in cols:
        if c in categorical:
            frame[c] = pd.Categorical(frame[c].astype("object"))
    clf = HistGradientBoostingClassifier(random_state=seed, categorical_features="from_dtype")
    n = len(X_train)
    clf.fit(frame.iloc[:n], y_train)
    return clf.predict_proba(frame.iloc[n:])[:, 1]


def train_model(*args: Any, **kwargs: Any) -> TrainedModel:
    """Validate (walk-forward), choose, calibrate and refit one classifier (single-threaded);
    see `_train_model`."""
    with single_thread():
        return _train_model(*args, **kwargs)


def _train_model(
    kind: str, X: pd.DataFrame, y: np.ndarray, as_of: np.ndarray, *, numeric: list[str],
    categorical: list[str], horizon_days: int, seed: int, min_positive_labels: int,
    groups: np.ndarray | None = None, raw_columns: list[str] | None = None,
    threshold: float | None = None, rows: np.ndarray | None = None,
) -> TrainedModel:
    """Validate (walk-forward), choose, calibrate and refit one classifier.

    `X` holds the known rows (all of its rows, or those at positions `rows`, in the
    order of `y`: only the rows a fit or a test samples are ever copied out of it);
    `y` is 0/1; `as_of` their dates (ISO strings);
    `groups` their account ids (for account folds and grouped intervals); `raw_columns`
    the plain metric columns the baseline uses. Raises ModelError when there is nothing
    to learn (no positives or no negatives).
    """
    y = np.asarray(y, dtype="int64")
    as_of = text_array(as_of)
    groups = text_array(groups if groups is not None else np.arange(len(y)))
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        what = "no account" if positives == 0 else "every account"
        raise ModelError(f"{kind}: {what} has a known positive outcome among {len(y):,} rows; "
                         "nothing to learn yet")
    at = np.arange(len(y)) if rows is None else np.asarray(rows)

    def take(idx: np.ndarray) -> pd.DataFrame:
        """The known rows `idx` (positions in y) of X."""
        return X.iloc[at[idx]]

    numeric, categorical = usable_columns(X, numeric, categorical, at)
    if not numeric and not categorical:
        raise ModelError(f"{kind}: no metric has values to learn from")
    rng = np.random.default_rng(seed)
    warnings: list[str] = []
    provisional = positives < min_positive_labels
    families = ["logistic_regression"] if provisional else list(FAMILIES)
    if provisional:
        warnings.append(
            f"{kind}: only {positives} known positive outcomes (fewer than {min_positive_labels}); "
            "scores are provisional")
    metrics: dict[str, Any] = {"n_known": len(y), "n_positive": positives,
                               "base_rate": round(positives / len(y), 4)}
    if provisional:
        what = "churn" if kind == "churn" else "upsell"
        accounts = len(np.unique(groups[y == 1]))
        metrics["provisional_reason"] = (
            f"only {positives} known {what} outcomes ({accounts} account{'s' if accounts != 1 else ''})"
            f" to learn from, and {min_positive_labels} are needed")
    days = day_numbers(as_of)[2]

    folds = walk_forward_folds(as_of, y, groups, horizon_days, seed)
    metrics["validation"] = folds.scheme
    if folds.scheme == "walk-forward" and len(folds.train) < CUTOFFS:
        warnings.append(f"{kind}: the history allows only {len(folds.train)} walk-forward "
                        f"cut-offs (fewer than {CUTOFFS})")
    # Walk-forward predictions of every candidate configuration.
    fold_rows: list[np.ndarray] = []
    preds: dict[tuple[str, int], list[np.ndarray]] = {}
    last_fit: dict[str, tuple[Any, list[str]]] = {}
    fold_fits: dict[tuple[str, int], list[tuple[Any, list[str]]]] = {}
    baseline: list[np.ndarray | None] = []
    for f, (train, test) in enumerate(zip(folds.train, folds.test, strict=True)):
        train = _sample(train, MAX_FIT_ROWS, rng)
        test = _sample(test, MAX_TEST_ROWS, rng)
        fold_rows.append(test)
        X_train, X_test = take(train), take(test)
        for family in families:
            out, pipe, feats, pipes = _fold_predictions(family, X_train, y[train], X_test,
                                                        numeric, categorical, seed + f,
                                                        provisional)
            for i, p in enumerate(out):
                preds.setdefault((family, i), []).append(p)
                fold_fits.setdefault((family, i), []).append((pipes[i], feats))
            last_fit[family] = (pipe, feats)
        # The baseline is needed only where the backtest is reported (walk-forward: not the
        # first block, which serves the calibration of the second).
        baseline.append(np.full(len(test), np.nan) if f == 0 and folds.scheme == "walk-forward"
                        else _plain_baseline(X_train, y[train], X_test, raw_columns or [],
                                             categorical, seed))

    # Choose on the mean per-cut-off ROC AUC (ties: fewer rounds / the simpler setting).
    scores: dict[tuple[str, int], float] = {}
    for key, ps in preds.items():
        aucs = [a for a in (_safe_auc(y[r], p) for r, p in zip(fold_rows, ps, strict=True))
                if a is not None]
        scores[key] = float(np.mean(aucs)) if aucs else 0.0
    if scores:
        best = max(scores.values())
        chosen_key = min((k for k, v in scores.items() if v >= best - 0.002),
                         key=lambda k: (FAMILIES.index(k[0]) if k[0] in families else 9, k[1]))
        family, setting = chosen_key
    else:
        family, setting = families[-1], 0
    params = dict(_candidates(family, provisional)[setting])
    metrics["family"] = family
    metrics["settings"] = params
    metrics["candidates"] = {f"{k[0]} {_candidates(k[0], provisional)[k[1]]}": round(v, 4)
                             for k, v in sorted(scores.items())}

    backtest = None
    calibration: dict[str, Any] = {"method": "none", "fitted_on": None}
    if fold_rows:
        rows = np.concatenate(fold_rows)
        fold = np.concatenate([np.full(len(r), i) for i, r in enumerate(fold_rows)])
        raw = np.concatenate(preds[(family, setting)])
        yb = y[rows]
        walk = folds.scheme == "walk-forward"
        half_life = CALIBRATION_HALF_LIFE * horizon_days
        weight = recency_weights(days[rows], half_life) if walk else np.ones(len(rows))
        # Calibration for reporting: walk-forward block f is mapped by a calibration fitted
        # on the blocks before it when there are MIN_CALIBRATION_BLOCKS of them (the first
        # block gets nothing and is not reported, the second the model's own probabilities);
        # an account fold by the others.
        calibrated = np.full(len(rows), np.nan)
        for f in range(len(fold_rows)):
            here = fold == f
            before = fold < f if walk else ~here
            if walk and f == 0:
                continue
            if walk and f < MIN_CALIBRATION_BLOCKS:
                calibrated[here] = raw[here]
            elif yb[before].sum() >= MIN_CALIBRATION_POSITIVES:
                s, i = fit_platt(raw[before], yb[before], weight[before])
                calibrated[here] = apply_platt(raw[here], s, i)
        base_raw = (np.concatenate(baseline) if baseline and all(b is not None for b in baseline)
                    else None)
        backtest = Backtest(folds.scheme, rows, fold, raw, calibrated, yb, as_of[rows],
                            groups[rows], folds.cutoffs, base_raw)
        enough = (yb.sum() >= MIN_CALIBRATION_POSITIVES
                  and (1 - yb).sum() >= MIN_CALIBRATION_POSITIVES
                  and (not walk or len(fold_rows) >= MIN_CALIBRATION_BLOCKS))
        if enough:
            slope, intercept = fit_platt(raw, yb, weight)
            calibration = {
                "method": "platt", "fitted_on": "walk-forward out-of-time predictions"
                if folds.scheme == "walk-forward" else "out-of-fold predictions (account folds)",
                "weighting": (f"recent test dates weigh more (half-life {half_life:g} days)"
                              if walk else "uniform"),
                "slope": round(slope, 6), "intercept": round(intercept, 6),
                "n_rows": len(yb), "n_positive": int(yb.sum()),
                "weighted_rate": round(float(np.average(yb, weights=weight)), 5),
            }
        else:
            warnings.append(f"{kind}: too few out-of-time outcomes to calibrate; "
                            "probabilities are the model's own")
    else:
        warnings.append(f"{kind}: too few known outcomes to hold any out; no backtest")
    metrics["calibration"] = calibration

    if kind == "upsell":
        if backtest is not None and calibration["method"] == "platt":
            p_thr = calibrate(backtest.raw, calibration)
            if threshold is None:
                threshold, prec, rec = choose_threshold(p_thr, backtest.y)
                metrics["threshold_source"] = "out-of-time (best F1)"
            else:
                chosen_rows = p_thr >= threshold
                prec = float(backtest.y[chosen_rows].mean()) if chosen_rows.any() else 0.0
                rec = float(backtest.y[chosen_rows].sum() / max(backtest.y.sum(), 1))
                metrics["threshold_source"] = "app.yaml"
            metrics.update({"threshold": threshold, "threshold_precision": round(prec, 4),
                            "threshold_recall": round(rec, 4)})
        else:
            metrics.update({"threshold": threshold if threshold is not None else 0.5,
                            "threshold_source": "app.yaml" if threshold is not None else "default",
                            "threshold_precision": None, "threshold_recall": None})

    # The held-out rows of the latest cut-off and its model, for permutation importance.
    val_X = val_y = val_model = None
    if fold_rows and family in last_fit:
        pipe, feats = last_fit[family]
        val_X, val_y = take(fold_rows[-1]), y[fold_rows[-1]]
        val_model = pipe
        val_model.feature_names_ = feats

    # The final model: the chosen configuration on all known rows (sampled on huge books).
    refit_rows = _sample(np.arange(len(y)), MAX_FIT_ROWS, rng)
    final, num_a, cat_a = _fit(family, take(refit_rows), y[refit_rows], numeric,
                               categorical, seed, **params)
    if family == "hist_gradient_boosting":
        cst = final.named_steps["model"].monotonic_cst
        metrics["monotone"] = {c: int(v) for c, v in zip(num_a, cst[len(cat_a):], strict=True)
                               if v}
    metrics["n_refit"] = len(refit_rows)
    # The walk-forward models of the chosen configuration, for the stability of the
    # Leading Indicators' directions (`explain.leading_indicators`).
    rounds = params.get("max_iter") if family == "hist_gradient_boosting" else None
    fold_models = [(with_rounds(p, int(rounds)) if rounds else p, f)
                   for p, f in fold_fits.get((family, setting), [])]
    return TrainedModel(
        kind=kind, pipeline=final, calibration=calibration, numeric=num_a, categorical=cat_a,
        metrics=metrics, params={"family": family, "seed": seed, **params},
        train_start=str(as_of.min()), train_end=str(as_of.max()), provisional=provisional,
        backtest=backtest, validation_X=val_X, validation_y=val_y, validation_model=val_model,
        warnings=warnings, fold_models=fold_models,
    )
