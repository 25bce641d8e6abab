"""`score_book`: the whole scoring run, from stored snapshots to stored scores.

Steps: fingerprint the data; reuse the active models when nothing changed, else train
churn and upsell models (labels, features, family choice, calibration, refit) and
measure their Leading Indicators; score every snapshot row that has no score yet;
segment the accounts; explain each account's latest score; record which data
components are connected. Every write happens in one transaction, so a failed run
leaves the previous state intact, and the same data always gives the same scores.

Where the two cores go: the book is read by this process and a helper process
(`storage.split_read`); the upsell model is trained and scored in a forked child while
the churn model trains on a thread and a second fits the segments; the drivers are
computed in a forked child while this process writes the history rows
(`scoring.parallel`; where the process may not fork, threads do it all). None of it
changes a figure: the same data gives the same output on one core or two.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from scoring import explain, parallel, persist
from scoring.account_explain import data_gaps, explain_current
from scoring.components import ComponentStatus, component_status
from scoring.errors import ModelError, ScoringError
from scoring.evaluate import EvaluationReport, summarise_backtest
from scoring.features import (
    CONTEXT,
    TREND_SEP,
    FeatureSet,
    MetricPlan,
    build_features,
    distinct_sorted,
    load_book,
    metric_plan,
    take_rows,
)
from scoring.indexes import health_scores, renewal_indexes, upsell_indexes
from scoring.labels import derive_label_arrays
from scoring.models import (
    TrainedModel,
    calibrate,
    lib_versions,
    predict_positive,
    train_model,
)
from scoring.segments import (
    add_senses,
    benchmarks,
    distinctive,
    fit_segmenter,
    name_segments,
    order_by_arr,
    rate_many,
    top_products,
)
from scoring.settings import ScoringSettings
from storage import queries
from storage.store import Store

ENGINE_VERSION = "3"   # 3: segments, coverage and drivers over the current accounts (queries.current_scores)
RATE_SAMPLE = 300_000
# Rows per piece of a model's scoring (`_each_model`): small enough that the two threads
# end within a piece of each other, large enough that a piece's fixed cost is nothing.
SCORE_PIECE_ROWS = 131_072

T = TypeVar("T")
R = TypeVar("R")
ProgressFn = Callable[[str, int, int], None]   # (stage, step done, steps in all)
MODELS = ("churn", "upsell")   # the models a run trains, in the order it reports them
# The progress stages. Segments are fitted during "Training models" (the stage waits for
# them); "Drivers" includes writing the history rows, which runs beside them.
STAGES = ("Checking data", "Loading snapshots", "Features and labels", "Training models",
          "Scoring", "Segments", "Drivers", "Saving")


@dataclass
class ScoreReport:
    """What a scoring run did, for the CLI and the bot."""

    up_to_date: bool = False
    trained: bool = False
    churn_model: str | None = None
    upsell_model: str | None = None
    provisional: dict[str, bool] = field(default_factory=dict)
    model_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    indicators: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rows_scored: int = 0
    dates_scored: list[str] = field(default_factory=list)
    accounts_scored: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)
    components: list[ComponentStatus] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)   # stage -> seconds

    @property
    def is_provisional(self) -> bool:
        return any(self.provisional.values())

    def summary(self) -> str:
        """A few lines a person can read after `outcomes score`."""
        if self.up_to_date:
            return (f"Scores are up to date (models {self.churn_model}"
                    f"{', ' + self.upsell_model if self.upsell_model else ''}); nothing to do.")
        lines = []
        if self.trained:
            for kind in MODELS:
                m = self.model_metrics.get(kind)
                version = self.churn_model if kind == "churn" else self.upsell_model
                if not m or not version:
                    continue
                bt = m.get("backtest")
                what = (f"backtest ROC AUC {bt['roc_auc']:.3f} (plain gradient boosting "
                        f"{(bt.get('baseline') or {}).get('roc_auc') or float('nan'):.3f}), "
                        f"predicted/realised {bt['calibration_ratio'] or float('nan'):.2f} "
                        f"({m['validation']})" if bt and bt.get("roc_auc") is not None
                        else "no backtest possible")
                extra = ""
                if kind == "upsell" and m.get("threshold") is not None:
                    prec, rec = m.get("threshold_precision"), m.get("threshold_recall")
                    extra = f"; threshold {m['threshold']:.3f}"
                    if prec is not None:
                        extra += f" (precision {prec:.2f}, recall {rec:.2f})"
                flag = " [provisional]" if self.provisional.get(kind) else ""
                lines.append(f"Trained {version}{flag}: {m['family'].replace('_', ' ')}, "
                             f"{m['n_positive']:,} positives of {m['n_known']:,} known; {what}{extra}.")
        else:
            lines.append(f"Reused models {self.churn_model}"
                         f"{', ' + self.upsell_model if self.upsell_model else ''}.")
        if self.rows_scored:
            span = (self.dates_scored[0] if len(self.dates_scored) == 1
                    else f"{self.dates_scored[0]} to {self.dates_scored[-1]}")
            lines.append(f"Scored {self.rows_scored:,} rows of {self.accounts_scored:,} accounts "
                         f"({len(self.dates_scored)} dates, {span}).")
        for kind, rows in self.indicators.items():
            if rows:
                top = ", ".join(f"{r['component']} {100 * r['weight']:.0f}%" for r in rows[:4])
                lines.append(f"Leading indicators ({kind}): {top}.")
        if self.segments:
            lines.append("Segments: " + "; ".join(f"{s['name']} ({s['size']:,})"
                                                 for s in self.segments) + ".")
        if self.components:
            marks = ", ".join(f"{'✅' if c.connected else '❌'} {c.component}"
                              for c in self.components)
            lines.append(f"Data components: {marks}.")
        if self.is_provisional:
            lines.append("Scores are PROVISIONAL: too few known outcomes to trust them yet.")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        lines.append(f"Done in {self.seconds:.1f}s.")
        return "\n".join(lines)


def _settings_part(settings: ScoringSettings) -> dict[str, Any]:
    return {"horizon_days": settings.horizon_days, "upsell_growth": settings.upsell_growth,
            "seed": settings.seed, "min_positive": settings.min_positive_labels,
            "threshold": settings.upsell_threshold, "components": settings.components}


def fingerprint(store: Store, settings: ScoringSettings) -> str:
    """Data fingerprint: a new one means the models must be retrained."""
    return persist.data_fingerprint(store, _settings_part(settings), ENGINE_VERSION)


@dataclass
class _Prepared:
    plan: MetricPlan
    features: FeatureSet
    churn: np.ndarray            # labels of the feature rows (NaN unknown)
    upsold: np.ndarray


def _prepare(store: Store, settings: ScoringSettings,
             step: Callable[[str | None], None] = lambda stage: None) -> _Prepared:
    plan = metric_plan(store)
    book = load_book(store, plan)
    step("Features and labels")
    churn, upsold = derive_label_arrays(
        book["_account_code"].to_numpy(), book["_day"].to_numpy(),
        book["_status_churned"].to_numpy() > 0, book["arr"].to_numpy(),
        book["churned"].to_numpy(), book["upsold"].to_numpy(),
        settings.horizon_days, settings.upsell_growth,
    )
    # Rows of accounts that already left are neither scored nor trained on.
    keep = book["_status_churned"].to_numpy() == 0
    book = take_rows(book, np.flatnonzero(keep))  # the whole book is not needed any more
    features = build_features(book, plan, settings.horizon_days)
    return _Prepared(plan, features, churn[keep], upsold[keep])


def _pending(store: Store, keys: pd.DataFrame) -> np.ndarray:
    """Which rows (of `keys`) have no score yet."""
    scored = persist.scored_keys(store)
    if not len(scored):
        return np.ones(len(keys), dtype=bool)
    return ~pd.MultiIndex.from_frame(keys).isin(pd.MultiIndex.from_frame(scored))


def _version(kind: str, model: TrainedModel, fp: str) -> str:
    return f"{kind}-{model.train_end}-{fp[:8]}"


def _train(kind: str, prepared: _Prepared, settings: ScoringSettings) -> TrainedModel:
    labels = prepared.churn if kind == "churn" else prepared.upsold
    known = ~np.isnan(labels)
    fs = prepared.features
    return train_model(
        kind, fs.frame, labels[known].astype("int64"), fs.keys["as_of"].to_numpy()[known],
        numeric=fs.numeric, categorical=fs.categorical, horizon_days=settings.horizon_days,
        seed=settings.seed, min_positive_labels=settings.min_positive_labels,
        groups=fs.keys["account_id"].to_numpy()[known], raw_columns=prepared.plan.all,
        threshold=settings.upsell_threshold if kind == "upsell" else None,
        rows=np.flatnonzero(known),
    )


def _trained_entry(kind: str, prepared: _Prepared, settings: ScoringSettings, fp: str,
                   recent: np.ndarray) -> dict[str, Any]:
    """Train one model, summarise its backtest and measure its Leading Indicators (on the
    rows of the latest dates, `recent`): the model entry the rest of the run uses."""
    model = _train(kind, prepared, settings)
    bt = model.metrics["backtest"] = summarise_backtest(model, settings)
    # The headline figures are the out-of-time backtest's (what `evaluate` reports).
    model.metrics["roc_auc"] = bt["roc_auc"] if bt else None
    model.metrics["pr_auc"] = bt["pr_auc"] if bt else None
    fs = prepared.features
    rows, context = explain.leading_indicators(
        model, fs.base_of, settings.component_of, settings.seed, fs.frame, recent)
    model.metrics["context_importance"] = context
    model.metrics["indicator_rows"] = (
        f"final model, {len(recent):,} rows of the latest {INDICATOR_DATES} dates")
    return {"version": _version(kind, model, fp), "pipeline": model.pipeline,
            "calibration": model.calibration, "features": model.features,
            "metrics": model.metrics, "provisional": model.provisional, "trained": model,
            "indicators": rows}


def _trainers(prepared: _Prepared, settings: ScoringSettings, fp: str
              ) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each model kind's training (`_trained_entry`), to be called once."""
    recent = _recent_rows(prepared.features.keys["as_of"].to_numpy())
    return {kind: partial(_trained_entry, kind, prepared, settings, fp, recent)
            for kind in MODELS}


def _scoring(X_pending: pd.DataFrame, entry: dict[str, Any]) -> list[Callable[[], np.ndarray]]:
    """A model's scores of the pending rows, in pieces any thread may take."""
    return [partial(_predict, entry, X_pending.iloc[start:start + SCORE_PIECE_ROWS])
            for start in range(0, len(X_pending), SCORE_PIECE_ROWS)]


def _trained_and_scored(train: Callable[[], dict[str, Any]], X_pending: pd.DataFrame
                        ) -> tuple[dict[str, Any], list[np.ndarray]]:
    """A model trained and its scores of the pending rows, one after the other (what a
    child process does with a model: `_each_model`'s result for it)."""
    entry = train()
    return entry, [piece() for piece in _scoring(X_pending, entry)]


def _models(store: Store, settings: ScoringSettings, report: ScoreReport,
            step: Callable[[str | None], None], X_pending: pd.DataFrame,
            trainers: dict[str, Callable[[], dict[str, Any]]] | None,
            elsewhere: dict[str, parallel.Pending[tuple[dict[str, Any], list[np.ndarray]]]],
            active: dict[str, dict[str, Any]]
            ) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Each model's entry (trained now by `trainers`, or the stored one when there are
    none) and its probabilities of the pending rows `X_pending`, rounded as stored.
    `elsewhere`: models trained and scored in a child process (`_trained_and_scored`)."""
    scoring = partial(_scoring, X_pending)
    if trainers is None:
        step("Scoring")
        loaded = {kind: {"version": row["version"], "pipeline": persist.load_pipeline(
            store, row["version"]), "features": row["features"], "metrics": row["metrics"],
            "calibration": row["metrics"].get("calibration"),
            "provisional": bool(row["provisional"]),
            "indicators": persist.indicator_rows(store, row["version"])}
            for kind, row in active.items()}
        outcomes = _each_model(loaded.get, tuple(loaded), scoring)
    else:
        report.trained = True
        step("Training models")
        # Each model's scoring starts as soon as it is trained (see _each_model).
        here = _each_model(lambda kind: trainers[kind](), tuple(trainers), scoring)
        outcomes = {kind: here[kind] if kind in here else _outcome(elsewhere[kind])
                    for kind in MODELS}
    models: dict[str, dict[str, Any]] = {}
    predicted: dict[str, np.ndarray] = {}
    for kind, done in outcomes.items():
        if isinstance(done, ModelError):
            if kind == "churn":
                raise ScoringError(
                    f"cannot score yet: {done}. Add more snapshot history (outcomes are known "
                    f"{settings.horizon_days} days after a snapshot) or a 'churned' column "
                    "with explicit outcomes.") from None
            report.warnings.append(f"no Upsell Index: {done}")
        elif isinstance(done, BaseException):
            raise done
        else:
            models[kind], pieces = done
            predicted[kind] = np.round(np.concatenate(pieces) if pieces else np.zeros(0), 6)
            if "trained" in models[kind]:
                report.warnings.extend(models[kind]["trained"].warnings)
    if trainers is not None:
        step("Scoring")
    return models, predicted


def _outcome(pending: parallel.Pending[T]) -> T | Exception:
    """A child process's result, or the exception its work raised (run here again)."""
    try:
        return pending.result()
    except Exception as error:   # noqa: BLE001 - reported as _each_model reports it
        return error


def _each_model(work: Callable[[str], T], kinds: Sequence[str],
                then: Callable[[T], Sequence[Callable[[], R]]] = lambda result: ()
                ) -> dict[str, tuple[T, list[R]] | BaseException]:
    """`work(kind)` for each model kind, side by side on one thread per kind when the
    machine has a core for each (`model_threads`; with fewer kinds, the other threads
    only take pieces), and, as soon as a kind's work is done, the pieces of work
    `then(result)` gives (its scoring, in pieces of rows), on whichever thread is free
    first: no core waits while the other finishes the slower kind. What this work
    spends its time in (tree histograms and walks, matrix products) runs without the GIL,
    single-threaded in OpenMP (see score_book). Each kind's work uses its own seeded
    generator: the results are those of one kind after the other.
    Returns each kind's (result, its pieces' results), or the exception its work or a
    piece raised."""
    one_thread = parallel.single_threaded(lambda task: task())
    results: dict[str, tuple[T, list[R]] | BaseException] = {}
    with ThreadPoolExecutor(max_workers=model_threads(),
                            thread_name_prefix="outcomes-model") as pool:
        started = {pool.submit(one_thread, partial(work, kind)): kind for kind in kinds}
        pieces: dict[str, tuple[T, list[Future[R]]]] = {}
        for future in as_completed(started):
            kind = started[future]
            error = future.exception()
            if error is not None:
                results[kind] = error
                continue
            result = future.result()
            pieces[kind] = (result, [pool.submit(one_thread, task) for task in then(result)])
        for kind, (result, futures) in pieces.items():
            error = next((f.exception() for f in futures if f.exception() is not None), None)
            results[kind] = error if error is not None else (result, [f.result() for f in futures])
    return {kind: results[kind] for kind in kinds}


def model_threads() -> int:
    """Threads `_each_model` runs the models' work on: one per model, at most one per core."""
    return max(1, min(len(MODELS), parallel.cores()))


def _predict(model: dict[str, Any], X: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities of a model entry (pipeline, features, calibration)."""
    return calibrate(predict_positive(model["pipeline"], X, model["features"]),
                     model["calibration"])


def score_book(store: Store, settings: ScoringSettings, *, progress: ProgressFn | None = None,
               clock: Callable[[], datetime] | None = None) -> ScoreReport:
    """Train when the data changed, then score every unscored snapshot row (see module doc).

    Raises ScoringError when the store has no snapshots or no churn outcome is known.
    OpenMP and BLAS run single-threaded: their threads in gradient boosting slow down many
    times over when another process (the Slack app, a second job) holds a core, and the
    run must stay predictable on a small shared machine. The cores are used by Python
    threads instead, each single-threaded in OpenMP: the two models train side by side
    and share their scoring (`_each_model`) while a third thread fits the segments, and
    the features are built a metric per thread (`scoring.parallel`). Nothing a thread
    computes depends on how many there are.
    """
    with parallel.single_thread():
        return _score_book(store, settings, progress=progress, clock=clock)


def _score_book(store: Store, settings: ScoringSettings, *, progress: ProgressFn | None,
                clock: Callable[[], datetime] | None) -> ScoreReport:
    started = time.perf_counter()
    now = (clock or (lambda: datetime.now(UTC)))().isoformat(timespec="seconds")
    report = ScoreReport()
    step = _stepper(progress, report.timings)
    step("Checking data")
    if not store.scalar("SELECT count(*) FROM snapshots"):
        raise ScoringError("no snapshots stored yet: run `outcomes ingest FILE` first")
    fp = fingerprint(store, settings)
    active = persist.active_models(store)
    churn_row, upsell_row = active.get("churn"), active.get("upsell")
    reuse = churn_row is not None and churn_row["data_fingerprint"] == fp and (
        upsell_row is None or upsell_row["data_fingerprint"] == fp)
    if reuse and persist.pending_count(store) == 0:
        report.up_to_date = True
        report.churn_model = churn_row["version"]
        report.upsell_model = upsell_row["version"] if upsell_row else None
        report.provisional = {k: bool(r["provisional"]) for k, r in active.items()}
        report.seconds = time.perf_counter() - started
        return report

    step("Loading snapshots")
    prepared = _prepare(store, settings, step)
    fs = prepared.features
    keys = fs.keys
    pending = _pending(store, keys)
    X_pending = fs.frame if pending.all() else fs.frame.loc[pending]
    # Each account's latest row (rows are sorted by account, date), and which of those
    # are current customers (segments, coverage).
    acc = keys["account_id"].to_numpy()
    latest = np.r_[acc[1:] != acc[:-1], True] if len(acc) else np.zeros(0, dtype=bool)
    current_rows = latest & _current(store, keys)
    trainers = None if reuse else _trainers(prepared, settings, fp)
    elsewhere: dict[str, parallel.Pending[tuple[dict[str, Any], list[np.ndarray]]]] = {}
    with ExitStack() as running:
        if trainers is not None:
            # The upsell model is trained and scored in a forked child where the process
            # allows it (`parallel.in_child`, before any other thread starts): its Python
            # (tree growing, pandas) then holds a GIL of its own instead of waiting on the
            # churn model's and the segments'. Else on a thread, as the churn model.
            child = running.enter_context(parallel.in_child(parallel.single_threaded(
                partial(_trained_and_scored, trainers["upsell"], X_pending))))
            if child.forked:
                elsewhere["upsell"] = child
                del trainers["upsell"]
        segmented = running.enter_context(parallel.beside(
            partial(_segments, store, prepared, current_rows, X_pending, settings),
            name="outcomes-segments"))
        models, predicted = _models(store, settings, report, step, X_pending, trainers,
                                    elsewhere, active)
        churn = models["churn"]
        upsell = models.get("upsell")
        report.churn_model = churn["version"]
        report.upsell_model = upsell["version"] if upsell else None
        report.provisional = {k: m["provisional"] for k, m in models.items()}
        report.model_metrics = {k: m["metrics"] for k, m in models.items()}
        report.indicators = {k: m.get("indicators", []) for k, m in models.items()}

        churn_p = predicted["churn"]
        if upsell:
            upsell_p = predicted["upsell"]
            threshold = settings.upsell_threshold or upsell["metrics"].get("threshold", 0.5)
            upsell_idx = upsell_indexes(upsell_p, threshold, settings)
        else:
            upsell_p = np.full(len(X_pending), np.nan)
            upsell_idx = np.full(len(X_pending), None, dtype=object)
        pending_dates = keys["as_of"].to_numpy()[pending]
        health = health_scores(churn_p, pending_dates,
                               persist.scores_of_dates(store, distinct_sorted(pending_dates)))
        # Plain bands; current accounts' latest rows get the dead band in explain_current.
        renewal_idx = renewal_indexes(health, settings)
        step("Segments")   # fitted beside the models (they need none of them)
        seg_rows, driver_bench, typical, bench, segment_ids = segmented.result()

    report.segments = [{"segment_id": r["segment_id"], "name": r["name"], "size": r["size"]}
                       for r in seg_rows]

    # Drivers and levels for each current account's latest row, when it is scored now
    # (accounts that left are not explained: nobody acts on them any more). They hold the
    # GIL throughout, so they are computed in a child process where the process allows
    # (`parallel.in_child`) while this one writes the models and every other pending row
    # (the history), all in the run's one transaction.
    step("Drivers")
    where = np.flatnonzero((pending & current_rows)[pending])
    explained_rows = np.flatnonzero(pending)[where]   # the same rows, as rows of the book
    history = np.ones(len(X_pending), dtype=bool)
    history[where] = False
    explaining = partial(
        _explain, prepared, pending, where, explained_rows, segment_ids, typical, driver_bench, churn,
        upsell, threshold if upsell else None, health, upsell_p, churn_p, settings)
    report.components = component_status(settings, fs.frame.loc[current_rows],
                                         prepared.plan.all)
    pending_keys = keys.loc[pending]
    scores = {"account_id": pending_keys["account_id"].to_numpy(),
              "as_of": pending_keys["as_of"].to_numpy(), "health_score": health,
              "churn_probability": churn_p, "renewal_index": renewal_idx,
              "upsell_probability": upsell_p, "upsell_index": upsell_idx,
              "segment_id": segment_ids, "churn_model": churn["version"],
              "upsell_model": upsell["version"] if upsell else None, "scored_at": now}
    # The fork comes before the transaction: the child holds no SQLite state of it.
    with parallel.in_child(explaining) as explained, store.transaction() as conn:
        if report.trained:
            _write_models(conn, models, fp, now)
        # SQLite's default page cache: score rows arrive in key order, and a first scoring
        # builds the secondary indexes after them from sorts of cache-sized runs, which are
        # quicker the smaller they are (1.6M rows: 3.4 s with 256 MB, 2.1 s with the default).
        # The indexes are built (when rebuilt) after the history rows, before the explained
        # ones: a few indexed inserts more, and the build is done while the child works.
        with persist.scores_written(conn, len(pending_keys)) as write_scores:
            write_scores({c: _rows(v, history) for c, v in scores.items()})
        # What does not wait for the drivers: the history's live predictions, the
        # explained rows' Low/Medium/High levels and data confidence.
        record = partial(_ledger, store, prepared, pending, pending_keys, churn_p=churn_p,
                         health=health, upsell_p=upsell_p, renewal_idx=renewal_idx,
                         upsell_idx=upsell_idx, churn=churn, upsell=upsell, now=now)
        record(history, resolve=True)
        levels = _levels(X_pending.iloc[where], segment_ids[where], bench,
                         prepared.plan.numeric)
        gaps = data_gaps(fs.frame, keys, explained_rows, fs.base_of, settings,
                         str(keys["as_of"].max()),
                         {r["component"]: r["weight"] for r in churn["indicators"]})
        found = explained.result()
        step("Saving")
        if len(where):
            renewal_idx[where] = found.renewal_index
            upsell_idx[where] = found.upsell_index
            persist.write_scores(conn, {
                **{c: _rows(v, where) for c, v in scores.items()},
                "drivers": found.drivers, "levels": levels,
                "previous_as_of": found.previous_as_of,
                "previous_health_score": found.previous_health,
                "previous_renewal_index": found.previous_renewal,
                "previous_upsell_index": found.previous_upsell,
                "movement": found.movement, "data_gaps": gaps})
            # Good/bad sense of Low/High: the churn model's book-wide directions (more
            # churn risk = worse), else this run's per-account senses (a model stored
            # before its indicators kept their signs).
            risk = {m: s for r in churn["indicators"] for m, s in (r.get("signs") or {}).items()}
            add_senses(seg_rows, {m: -s for m, s in risk.items() if s} if risk
                       else found.senses)
        persist.write_segments(conn, churn["version"], seg_rows)
        persist.write_components(conn, report.components, now)
        record(~history, resolve=False)   # the explained rows, with their final categories
    step(None)
    report.rows_scored = len(pending_keys)
    report.dates_scored = distinct_sorted(pending_keys["as_of"]).tolist()
    report.accounts_scored = int(pending_keys["account_id"].nunique())
    report.seconds = time.perf_counter() - started
    return report


def _rows(values: Any, rows: np.ndarray) -> Any:
    """A score column's values at `rows` (a constant stays as it is)."""
    return values[rows] if isinstance(values, np.ndarray) else values


def _explain(prepared: _Prepared, pending: np.ndarray, where: np.ndarray,
             positions: np.ndarray, segment_ids: np.ndarray, typical: dict[int, dict[str, Any]],
             driver_bench: Benchmarks, churn: dict[str, Any],
             upsell: dict[str, Any] | None, threshold: float | None, health: np.ndarray,
             upsell_p: np.ndarray, churn_p: np.ndarray, settings: ScoringSettings) -> Any:
    """What is said about the pending rows at `where` (positions among the pending rows:
    the current accounts' latest; `positions`: the same rows as rows of the book):
    `explain_current`'s findings; None when there are none."""
    if not len(where):
        return None
    fs = prepared.features
    keys = fs.keys
    seg_e = segment_ids[where]
    found = explain_current(
        frame=fs.frame, keys=keys, positions=positions,
        segment_ids=seg_e, typical=typical, bench=driver_bench, base_of=fs.base_of,
        categorical=fs.categorical, churn=churn, upsell=upsell, predict=_predict,
        upsell_threshold=threshold, health_now=health[where],
        upsell_p_now=upsell_p[where] if upsell else None, settings=settings,
        scored_p=_spread(churn_p, pending))
    return found


def _write_models(conn: sqlite3.Connection, models: dict[str, dict[str, Any]], fp: str,
                  now: str) -> None:
    """The models trained by this run (each kind's new active version; a kind with no
    model now is deactivated), with their Leading Indicators."""
    for kind in MODELS:
        m = models.get(kind)
        if m is None:
            persist.deactivate(conn, kind)
            continue
        trained = m["trained"]
        persist.write_model(
            conn, kind=kind, version=m["version"], trained_at=now,
            train_start=trained.train_start, train_end=trained.train_end,
            fingerprint=fp, features=m["features"], params=trained.params,
            metrics=m["metrics"], lib_versions=lib_versions(),
            provisional=m["provisional"], blob=persist.pipeline_bytes(m["pipeline"]))
        persist.write_indicators(conn, m["version"], m["indicators"])


def _ledger(store: Store, prepared: _Prepared, pending: np.ndarray, pending_keys: pd.DataFrame,
            rows: np.ndarray, *, churn_p: np.ndarray, health: np.ndarray, upsell_p: np.ndarray,
            renewal_idx: np.ndarray, upsell_idx: np.ndarray, churn: dict[str, Any],
            upsell: dict[str, Any] | None, now: str, resolve: bool) -> None:
    """Record the live predictions among the pending rows (`pending_keys`) where `rows` is
    true and, with `resolve`, fill in the outcomes that became known (inside the run's
    transaction).

    Live = a row scored now whose churn outcome is not known yet, so no model trained on
    it: exactly what a CSM is shown. Earlier ledger rows whose outcome the data now
    reveals get it, with the date it became known.
    """
    keys = prepared.features.keys
    unknown = np.isnan(prepared.churn)
    live = unknown[pending] & rows
    open_rows = store.frame("SELECT account_id, as_of FROM prediction_ledger"
                            " WHERE churned IS NULL") if resolve else ()
    with store.transaction() as conn:
        if live.any():
            persist.write_ledger(conn, {
                "account_id": pending_keys["account_id"].to_numpy()[live],
                "as_of": pending_keys["as_of"].to_numpy()[live],
                "churn_model": churn["version"],
                "upsell_model": upsell["version"] if upsell else None,
                "churn_probability": churn_p[live], "health_score": health[live],
                "renewal_index": renewal_idx[live],
                "upsell_probability": upsell_p[live], "upsell_index": upsell_idx[live],
                "recorded_at": now,
            })
        if len(open_rows):
            known = keys.assign(churned=prepared.churn, upsold=prepared.upsold)[~unknown]
            found = open_rows.merge(known, on=["account_id", "as_of"], how="inner")
            persist.resolve_ledger(conn, found, now)


INDICATOR_DATES = 3


def _spread(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`values` of the rows where `where` is true, NaN at the others."""
    out = np.full(len(where), np.nan)
    out[where] = values
    return out


def _recent_rows(as_of: np.ndarray) -> np.ndarray:
    """Positions of the rows of the latest INDICATOR_DATES snapshot dates."""
    dates = distinct_sorted(as_of)
    return np.flatnonzero(as_of >= dates[-min(INDICATOR_DATES, len(dates))]) if len(dates) \
        else np.zeros(0, dtype="int64")


def _current(store: Store, keys: pd.DataFrame) -> np.ndarray:
    """Rows of the book's current accounts (see `storage.queries.current_scores`): rows of
    the latest snapshot date (rows marked churned are not in `keys`)."""
    return (keys["as_of"] == queries.current_snapshot_date(store)).to_numpy()


def _stepper(progress: ProgressFn | None, timings: dict[str, float]
             ) -> Callable[[str | None], None]:
    """Report the stage starting now (one of STAGES; None: the run is over) to the progress
    callback and time the stage that just ended."""
    state: dict[str, Any] = {"stage": None, "since": time.perf_counter()}

    def step(stage: str | None) -> None:
        now = time.perf_counter()
        if state["stage"] is not None:
            timings[state["stage"]] = round(timings.get(state["stage"], 0.0)
                                            + now - state["since"], 2)
        state["stage"], state["since"] = stage, now
        if progress is not None and stage is not None:
            progress(stage, STAGES.index(stage), len(STAGES))
    return step


Benchmarks = dict[int, dict[str, dict[str, float]]]   # segment -> metric -> low/median/high


def _segments(store: Store, prepared: _Prepared, latest: np.ndarray, X_pending: pd.DataFrame,
              settings: ScoringSettings
              ) -> tuple[list[dict[str, Any]], Benchmarks, dict[int, dict[str, Any]],
                         Benchmarks, np.ndarray]:
    """Fit segments on each account's latest row (always recomputed: same data, same
    segments); profile, name and benchmark them. Returns the segment rows, the drivers' and the levels' benchmarks, each segment's typical values, and
    the segment of each pending row (`X_pending`)."""
    fs = prepared.features
    plan = prepared.plan
    seed = settings.seed
    current = fs.frame.loc[latest].reset_index(drop=True)
    arr = current[f"{CONTEXT}arr"].to_numpy(dtype="float64")
    candidates = [*plan.numeric, f"{CONTEXT}arr"]
    segmenter = order_by_arr(fit_segmenter(current, candidates, seed), current, arr)
    ids = segmenter.assign(current)

    # Realised 90-day rates of rows that look like each segment (a seeded sample).
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(~np.isnan(prepared.churn))
    if len(known) > RATE_SAMPLE:
        known = np.sort(rng.choice(known, RATE_SAMPLE, replace=False))
    known_ids = segmenter.assign(fs.frame.iloc[known])
    churn_known = prepared.churn[known]
    up_known = prepared.upsold[known]

    products = _latest_products(store, fs.keys["account_id"].to_numpy()[latest])
    k = len(segmenter.centroids)
    rows: list[dict[str, Any]] = []
    typical: dict[int, dict[str, Any]] = {}
    bench: dict[int, dict[str, dict[str, float]]] = {}
    driver_bench: dict[int, dict[str, dict[str, float]]] = {}
    # Context and shares (seats used / seats) are drivers' metrics too (explain.driver_base).
    context_cols = [c for c in fs.numeric if (c.startswith(CONTEXT) and fs.base_of[c] == c)
                    or c.endswith(f"{TREND_SEP}ratio")]
    profiles = []
    metrics = plan.numeric
    for seg in range(1, k + 1):
        members = current[ids == seg]
        in_seg = known_ids == seg
        churn_rate = _mean(churn_known[in_seg])
        upsell_rate = _mean(up_known[in_seg])
        bench[seg] = benchmarks(members, metrics)
        driver_bench[seg] = {**benchmarks(members, context_cols), **bench[seg]}
        typical[seg] = _typical(members, fs)
        prof = {
            "avg_arr": _round(np.nanmean(members[f"{CONTEXT}arr"]) if len(members) and
                              members[f"{CONTEXT}arr"].notna().any() else None, 2),
            "distinctive": distinctive(members, current, metrics),
            "arr_values": members[f"{CONTEXT}arr"].to_numpy(dtype="float64"),
        }
        profiles.append(prof)
        rows.append({
            "segment_id": seg, "size": len(members), "avg_arr": prof["avg_arr"],
            "top_products": top_products(pd.Series(products[ids == seg])),
            "churn_rate": churn_rate, "upsell_rate": upsell_rate, "benchmarks": bench[seg],
            "profile": {
                "distinctive": [{"metric": m, "z": z} for m, z in prof["distinctive"]],
                "modes": {c: typical[seg].get(c) for c in plan.categorical},
                "medians": {m: bench[seg][m]["median"] for m in bench[seg]},
                "segmenter": segmenter.to_json(),
            },
        })
    names = name_segments(profiles, arr)
    for row, name in zip(rows, names, strict=True):
        row["name"] = name
    return rows, driver_bench, typical, bench, segmenter.assign(X_pending)


def _latest_products(store: Store, account_ids: np.ndarray) -> np.ndarray:
    """Products in use per account (latest known, from the accounts table), in the
    order of `account_ids`; product text is not part of the feature frame."""
    table = store.frame("SELECT account_id, products FROM accounts")
    lookup = pd.Series(table["products"].to_numpy(dtype=object),
                       index=table["account_id"].to_numpy(dtype=object))
    return lookup.reindex(account_ids).to_numpy(dtype=object)


def _typical(members: pd.DataFrame, fs: FeatureSet) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in fs.numeric:
        col = members[c].to_numpy(dtype="float64")
        out[c] = float(np.nanmedian(col)) if np.any(~np.isnan(col)) else np.nan
    for c in fs.categorical:
        mode = members[c].dropna().mode()
        out[c] = str(min(mode)) if len(mode) else np.nan
    return out


def _levels(X: pd.DataFrame, seg: np.ndarray, bench: dict[int, dict[str, dict[str, float]]],
            metrics: list[str]) -> list[str]:
    """JSON {metric: Low/Medium/High} per row against its own segment's cut-offs."""
    n = len(X)
    per_metric: dict[str, np.ndarray] = {}
    top = int(seg.max()) + 1 if len(seg) else 1
    for metric in metrics:
        low = np.array([bench.get(s, {}).get(metric, {}).get("low", np.nan) for s in range(top)])
        high = np.array([bench.get(s, {}).get(metric, {}).get("high", np.nan) for s in range(top)])
        per_metric[metric] = rate_many(X[metric].to_numpy(dtype="float64"), low[seg], high[seg])
    out = []
    for i in range(n):
        out.append(persist.dumps({m: v[i] for m, v in per_metric.items() if v[i] is not None}))
    return out


def _mean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return round(float(values.mean()), 4) if values.size else None


def _round(value: float | None, digits: int) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), digits)


def backtest(store: Store, settings: ScoringSettings) -> EvaluationReport:
    """Train exactly as `outcomes score` does and report its walk-forward backtest."""
    with parallel.single_thread():
        if not store.scalar("SELECT count(*) FROM snapshots"):
            raise ScoringError("no snapshots stored yet: run `outcomes ingest FILE` first")
        prepared = _prepare(store, settings)
        out: dict[str, dict[str, Any] | None] = {}
        provisional: dict[str, bool] = {}
        warnings: list[str] = []
        for kind in MODELS:
            try:
                model = _train(kind, prepared, settings)
            except ModelError as exc:
                out[kind] = None
                warnings.append(f"no {kind} backtest: {exc}")
                continue
            provisional[kind] = model.provisional
            warnings.extend(model.warnings)
            out[kind] = summarise_backtest(model, settings)
            if out[kind] is None:
                warnings.append(f"no {kind} backtest: too few known outcomes to hold any out")
                continue
            # Leading Indicators of this model, as `score` stores them, with how much each
            # weight would move on another draw of the accounts.
            fs = prepared.features
            recent = _recent_rows(fs.keys["as_of"].to_numpy())
            rows, _ = explain.leading_indicators(model, fs.base_of, settings.component_of,
                                                 settings.seed, fs.frame, recent)
            spread = explain.weight_intervals(model, fs.base_of, settings.component_of,
                                              settings.seed, fs.frame,
                                              fs.keys["account_id"].to_numpy(), recent)
            out[kind]["indicators"] = [
                {"component": r["component"], "weight": r["weight"],
                 "weight_low": spread.get(r["component"], (None, None))[0],
                 "weight_high": spread.get(r["component"], (None, None))[1],
                 "direction": r["direction"]} for r in rows]
        if out["churn"] is None and out["upsell"] is None:
            raise ScoringError("nothing to evaluate: " + "; ".join(warnings))
        return EvaluationReport(out["churn"], out["upsell"], provisional, warnings)

