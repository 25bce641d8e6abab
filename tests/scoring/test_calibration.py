"""What a CSM sees must hold on the book's future, not on rows a model trained on:
calibrated probabilities near the realised churn rate, categories that discriminate on
a low-churn book, and a backtest with intervals beside a plain baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.indexes import health_scores, renewal_indexes
from scoring.labels import derive_labels
from scoring.models import apply_platt, fit_platt, recency_weights, train_model
from scoring.pipeline import score_book
from storage.demo_book import DemoSpec, generate
from storage.store import Store
from tests.scoring.conftest import drifting_rows, ingest_frame, settings_for

HELD_OUT = 3  # months


@pytest.fixture(scope="module")
def low_churn(tmp_path_factory: pytest.TempPathFactory):
    """A simulated low-churn book (about 3% 90-day churn), stored without its last three
    months and scored as `outcomes score` does; the rows of the store's last three dates
    (outcome unknown to the store) joined with what the full book says happened."""
    root = tmp_path_factory.mktemp("low_churn")
    full = generate(DemoSpec(accounts=900, months=18, churn_shift=-2.5, seed=21))
    truth = derive_labels(full, 90, 0.10)
    full = full.assign(truth=truth["churned"].to_numpy())
    dates = sorted(full["as_of"].unique())
    kept = full[full["as_of"] <= dates[-1 - HELD_OUT]]
    db = root / "low.db"
    with Store(db) as store:
        ingest_frame(store, kept.drop(columns=["truth"]), root / "csv")
        report = score_book(store, settings_for(db))
        scores = store.frame("SELECT account_id, as_of, health_score, churn_probability,"
                             " renewal_index FROM scores")
    test_dates = sorted(kept["as_of"].unique())[-HELD_OUT:]
    test = kept[kept["as_of"].isin(test_dates) & (kept["status"] == "active")]
    test = test.merge(scores, on=["account_id", "as_of"])
    return db, report, test[test["truth"].notna()]


@pytest.mark.slow
def test_categories_discriminate_on_a_low_churn_book(low_churn):
    db, _, test = low_churn
    settings = settings_for(db)
    y = test["truth"].astype(int).to_numpy()
    assert 0.01 <= y.mean() <= 0.05, y.mean()
    names = settings.renewal_categories
    shares = [float((test["renewal_index"] == c).mean()) for c in names]
    rates = [float(y[(test["renewal_index"] == c).to_numpy()].mean()) for c in names]
    assert sum(s >= 0.02 for s in shares) >= 3, shares
    assert all(a < b for a, b in zip(rates, rates[1:], strict=False)), rates
    worst = test["renewal_index"].isin(names[-2:]).to_numpy()
    assert worst.mean() <= 0.25
    assert y[worst].sum() / y.sum() >= 0.45, (y[worst].sum(), y.sum())


@pytest.mark.slow
def test_probabilities_match_the_realised_churn_of_the_future(low_churn):
    """Mean predicted churn of what the store could not know within +/-30% of what
    happened, and in the stored backtest too."""
    _, report, test = low_churn
    ratio = test["churn_probability"].mean() / test["truth"].astype(float).mean()
    assert 0.7 <= ratio <= 1.3, ratio
    # The stored backtest maps each month by a calibration fitted on the months before it
    # only, so on a book whose churn keeps falling it runs high: 1.40 [1.11-1.85] here
    # (64 churn rows of 42 accounts; 1.45 with a calibration fitted on one earlier block).
    # Since the demo generator's customers of the first snapshot can leave at once
    # (2026-12-07) this book's churn falls faster than the 1.34 of the generator before.
    backtest = report.model_metrics["churn"]["backtest"]
    assert 0.6 <= backtest["calibration_ratio"] <= 1.5, backtest
    assert backtest["calibration_ratio_low"] <= 1.2, backtest
    assert report.model_metrics["churn"]["calibration"]["fitted_on"].startswith("walk-forward")


@pytest.mark.slow
def test_backtest_has_intervals_a_baseline_and_four_cutoffs(low_churn):
    _, report, _ = low_churn
    for kind in ("churn", "upsell"):
        bt = report.model_metrics[kind]["backtest"]
        assert bt["scheme"] == "walk-forward" and len(bt["cutoffs"]) >= 4
        assert bt["roc_auc_low"] < bt["roc_auc"] < bt["roc_auc_high"]
        assert bt["pr_auc_low"] < bt["pr_auc"] < bt["pr_auc_high"]
        assert bt["baseline"]["roc_auc"] is not None
        assert len(bt["deciles"]) == 10 and bt["top_decile_lift"] > 1.5
        assert report.model_metrics[kind]["roc_auc"] == bt["roc_auc"]
    cats = report.model_metrics["churn"]["backtest"]["categories"]
    assert [c["category"] for c in cats] == ["Likely to Renew", "Watch", "At Risk",
                                             "Likely to Churn"]


def test_health_is_the_standing_within_each_date(tmp_path):
    settings = settings_for(tmp_path / "x.db")
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 15, 4000)
    dates = np.repeat(["2026-01-01", "2026-02-01"], 2000)
    p[2000:] *= 0.2            # a much healthier month still spreads over the bands
    health = health_scores(p, dates)
    for d in np.unique(dates):
        m = dates == d
        order = np.argsort(p[m])
        assert np.all(np.diff(health[m][order]) <= 0)
        cats = renewal_indexes(health[m], settings)
        shares = [np.mean(cats == c) for c in settings.renewal_categories]
        assert shares == pytest.approx([0.50, 0.30, 0.15, 0.05], abs=0.01)
    # Rows already scored on a date are part of the ranking.
    ref = pd.DataFrame({"as_of": dates[:1999], "churn_probability": p[:1999]})
    assert health_scores(p[1999:2000], dates[1999:2000], ref)[0] == health[1999]


def test_calibration_weighted_to_recent_dates_follows_the_current_level():
    rng = np.random.default_rng(2)
    days = np.repeat(np.arange(0, 360, 30), 2000)
    raw = np.full(len(days), 0.06)
    rate = np.where(days >= 270, 0.02, 0.06)        # churn fell in the last months
    y = (rng.random(len(days)) < rate).astype(int)
    w = recency_weights(days, 90)
    assert w.max() == 1.0 and w[days == 240].max() == pytest.approx(0.5)
    slope, intercept = fit_platt(raw, y, w)
    recent = apply_platt(raw[:1], slope, intercept)[0]
    slope0, intercept0 = fit_platt(raw, y)
    assert abs(recent - 0.02) < abs(apply_platt(raw[:1], slope0, intercept0)[0] - 0.02)
    assert recent < 0.04


@pytest.mark.slow
def test_training_is_reproducible_and_calibrated_on_recent_periods():
    """Two trainings on the same rows give the same calibration and probabilities; on
    rows whose churn level drifts down, the calibrated probability follows the latest
    known months, not the history average."""
    X, y, as_of, kwargs = drifting_rows()
    dates = np.unique(as_of)
    a = train_model("churn", X, y, as_of, **kwargs)
    b = train_model("churn", X, y, as_of, **kwargs)
    assert a.metrics["calibration"] == b.metrics["calibration"]
    pa = a.predict(X)
    assert np.array_equal(pa, b.predict(X))
    recent = as_of >= dates[-3]
    assert pa[recent].mean() / y[recent].mean() == pytest.approx(1.0, abs=0.3)
    assert pa[recent].mean() < y.mean()      # below the history average


@pytest.mark.slow
def test_live_predictions_are_recorded_once_and_matched_to_outcomes(tmp_path):
    """The ledger holds only rows no model had seen the outcome of, as first shown; the
    next run fills in the outcomes the new snapshots reveal."""
    book = generate(DemoSpec(accounts=200, months=13, seed=3))
    dates = sorted(book["as_of"].unique())
    db = tmp_path / "ledger.db"
    settings = settings_for(db)
    with Store(db) as store:
        ingest_frame(store, book[book["as_of"] <= dates[9]], tmp_path / "a")
        score_book(store, settings)
        first = store.frame("SELECT * FROM prediction_ledger")
        # Monthly snapshots, 90 days: the last three dates had no known outcome.
        assert sorted(first["as_of"].unique()) == dates[7:10]
        assert first["churned"].isna().all()
        ingest_frame(store, book[book["as_of"] > dates[9]], tmp_path / "b")
        score_book(store, settings)
        after = store.frame("SELECT * FROM prediction_ledger")
    kept = after.merge(first, on=["account_id", "as_of"], suffixes=("", "_first"))
    assert len(kept) == len(first)
    assert (kept["churn_probability"] == kept["churn_probability_first"]).all()
    resolved = after[after["churned"].notna()]
    assert set(resolved["as_of"]) == set(dates[7:10])
    truth = derive_labels(book, 90, 0.10).merge(resolved, on=["account_id", "as_of"])
    assert (truth["churned_x"].astype(int) == truth["churned_y"].astype(int)).all()
    assert after[after["as_of"] > dates[9]]["churned"].isna().all()
