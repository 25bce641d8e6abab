"""Unit checks on the model layer: honest time splits, no look-ahead in features,
calibration and the upsell threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.errors import ModelError
from scoring.features import MetricPlan, build_features, human_label
from scoring.labels import derive_labels
from scoring.models import PlattCalibrated, choose_split, choose_threshold, train_model


def _monthly_dates(n: int) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range("2025-01-01", periods=n, freq="MS")]


def test_time_split_trains_only_on_outcomes_closed_before_validation():
    rng = np.random.default_rng(0)
    dates = np.array(_monthly_dates(12) * 200, dtype=object)
    y = (rng.random(len(dates)) < 0.2).astype(int)
    split = choose_split(dates, y, horizon_days=90, seed=1)
    assert split.scheme == "time"
    start = pd.Timestamp(split.validation_start)
    train_dates = pd.to_datetime(dates[split.train])
    assert (train_dates + pd.Timedelta(days=90) <= start).all()
    assert (pd.to_datetime(dates[split.validation]) >= start).all()
    assert not set(split.train) & set(split.validation)


def test_single_date_falls_back_to_a_stratified_split():
    dates = np.array(["2025-01-01"] * 400, dtype=object)
    y = np.r_[np.ones(40), np.zeros(360)].astype(int)
    split = choose_split(dates, y, horizon_days=90, seed=1)
    assert split.scheme == "stratified"
    assert y[split.validation].mean() == pytest.approx(0.1, abs=0.02)


def test_features_never_look_into_the_future(demo_book):
    book = demo_book[demo_book["status"] != "churned"].copy()
    book = book.sort_values(["account_id", "as_of"]).reset_index(drop=True)
    codes = pd.factorize(book["account_id"], sort=True)[0]
    days = pd.to_datetime(book["as_of"]).to_numpy().astype("datetime64[D]").astype("int64")

    def frame(b: pd.DataFrame) -> pd.DataFrame:
        prepared = pd.DataFrame({
            "account_id": b["account_id"], "as_of": b["as_of"], "_account_code": codes[: len(b)],
            "_day": days[: len(b)], "arr": b["arr"], "_days_to_renewal": 30.0, "_n_products": 1.0,
            "logins_30d": b["logins_30d"], "plan": b["plan"],
        })
        return build_features(prepared, MetricPlan(["logins_30d"], ["plan"])).frame

    cutoff = "2026-03-01"
    before = frame(book)
    changed = book.copy()
    future = changed["as_of"] > cutoff
    changed.loc[future, "logins_30d"] = changed.loc[future, "logins_30d"] * 10 + 7
    after = frame(changed)
    past = (book["as_of"] <= cutoff).to_numpy()
    pd.testing.assert_frame_equal(before[past], after[past])
    assert not before[~past].equals(after[~past])
    assert before["logins_30d__d3"].notna().mean() > 0.5


def test_platt_calibration_keeps_the_ranking():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"x": rng.normal(size=500)})
    y = (rng.random(500) < 1 / (1 + np.exp(-2 * X["x"]))).astype(int)
    from sklearn.linear_model import LogisticRegression

    raw = LogisticRegression().fit(X, y)
    cal = PlattCalibrated(LogisticRegression(), slope=0.5, intercept=-1.0).fit(X, y)
    p_raw, p_cal = raw.predict_proba(X)[:, 1], cal.predict_proba(X)[:, 1]
    assert np.array_equal(np.argsort(p_raw, kind="stable"), np.argsort(p_cal, kind="stable"))
    assert p_cal.mean() < p_raw.mean()


def test_threshold_is_chosen_for_best_f1():
    p = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 0, 1, 0, 0, 0])
    threshold, precision, recall = choose_threshold(p, y)
    assert threshold == 0.4
    assert precision == pytest.approx(0.75) and recall == pytest.approx(1.0)


def test_no_positive_outcome_is_a_model_error():
    X = pd.DataFrame({"x": np.arange(50.0)})
    with pytest.raises(ModelError, match="no account"):
        train_model("churn", X, np.zeros(50), np.array(["2025-01-01"] * 50), numeric=["x"],
                    categorical=[], horizon_days=90, seed=1, min_positive_labels=30)


def test_contract_example_labels():
    # Monthly snapshots, H = 90 days: the 01-01 row looks at 02-01, 03-01, 04-01.
    rows = [("a", "2025-01-01", 100.0), ("a", "2025-02-01", 100.0),
            ("b", "2025-01-01", 100.0), ("b", "2025-02-01", 100.0), ("b", "2025-03-01", 115.0),
            ("b", "2025-04-01", 115.0)]
    snaps = pd.DataFrame(rows, columns=["account_id", "as_of", "arr"])
    labels = derive_labels(snaps, 90, 0.10)
    first = labels[labels["as_of"] == "2025-01-01"].set_index("account_id")
    assert first.loc["a", "churned"] == 1 and first.loc["a", "upsold"] == 0
    assert first.loc["b", "churned"] == 0 and first.loc["b", "upsold"] == 1
    assert labels[labels["as_of"] == "2025-02-01"]["churned"].isna().all()


def test_human_labels():
    assert human_label("logins_30d") == "Logins (30d)"
    assert human_label("feature_adoption_pct") == "Feature adoption (%)"
    assert human_label("nps") == "NPS"
