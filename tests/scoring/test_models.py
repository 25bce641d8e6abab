"""Unit checks on the model layer: honest time splits, no look-ahead in features,
calibration and the upsell threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.errors import ModelError
from scoring.features import MetricPlan, build_features, human_label
from scoring.labels import derive_labels
from scoring.models import calibrate, choose_threshold, train_model, walk_forward_folds


def _monthly_dates(n: int) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range("2025-01-01", periods=n, freq="MS")]


def test_walk_forward_folds_purge_one_horizon_and_test_whole_later_dates():
    rng = np.random.default_rng(0)
    dates = np.array(sorted(_monthly_dates(18) * 200), dtype=object)
    accounts = np.array([f"a{i % 200}" for i in range(len(dates))], dtype=object)
    y = (rng.random(len(dates)) < 0.1).astype(int)
    folds = walk_forward_folds(dates, y, accounts, horizon_days=90, seed=1)
    assert folds.scheme == "walk-forward" and len(folds.test) >= 4
    previous_end = None
    for train, test, cutoff in zip(folds.train, folds.test, folds.cutoffs, strict=True):
        start = pd.Timestamp(cutoff)
        assert (pd.to_datetime(dates[train]) + pd.Timedelta(days=90) <= start).all()
        assert (pd.to_datetime(dates[test]) >= start).all()
        # Whole dates: every row of a test date is in the block.
        assert len(test) == np.isin(dates, np.unique(dates[test])).sum()
        if previous_end is not None:
            assert dates[test].min() > previous_end
        previous_end = dates[test].max()


def test_single_date_gets_folds_of_accounts():
    dates = np.array(["2025-01-01"] * 400, dtype=object)
    accounts = np.array([f"a{i}" for i in range(400)], dtype=object)
    y = np.r_[np.ones(40), np.zeros(360)].astype(int)
    folds = walk_forward_folds(dates, y, accounts, horizon_days=90, seed=1)
    assert folds.scheme == "grouped" and len(folds.test) >= 4
    seen = np.concatenate(folds.test)
    assert len(seen) == len(set(seen)) == 400
    for train, test in zip(folds.train, folds.test, strict=True):
        assert not set(accounts[train]) & set(accounts[test])
        assert y[test].mean() == pytest.approx(0.1, abs=0.03)


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


def test_feature_keys_are_plain_strings_shared_by_equal_values():
    # Each model trained reads the keys: a text column would hand it a new string per row.
    ids = ["a", "a", "b", "b", "b"]
    prepared = pd.DataFrame({
        "account_id": ids, "as_of": ["2025-01-01", "2025-02-01"] * 2 + ["2025-03-01"],
        "_account_code": [0, 0, 1, 1, 1], "_day": [0, 31, 0, 31, 59], "arr": 1.0,
        "_days_to_renewal": 30.0, "_n_products": 1.0, "logins_30d": [1.0, 2, 3, 4, 5],
    })
    assert prepared["account_id"].dtype == "str"      # a text column: the keys share anyway
    keys = build_features(prepared, MetricPlan(["logins_30d"], [])).keys
    assert keys.dtypes.tolist() == [object, object]
    assert keys["account_id"].tolist() == ids
    acc = keys["account_id"].to_numpy()
    assert acc[0] is acc[1] and acc[2] is acc[4]
    dates = keys["as_of"].to_numpy()
    assert dates[0] is dates[2] and dates[1] is dates[3]


@pytest.mark.slow
def test_final_estimator_is_the_plain_classifier_and_calibration_keeps_the_ranking():
    """Explanations need the plain model; calibration is a separate stored mapping."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    dates = np.array(sorted(_monthly_dates(12) * 150), dtype=object)
    accounts = np.array([f"a{i % 150}" for i in range(len(dates))], dtype=object)
    x = rng.normal(size=len(dates))
    y = (rng.random(len(dates)) < 1 / (1 + np.exp(-(-2.5 + 1.5 * x)))).astype(int)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=len(x))})
    model = train_model("churn", X, y, dates, numeric=["x", "noise"], categorical=[],
                        horizon_days=90, seed=1, min_positive_labels=30, groups=accounts,
                        raw_columns=["x", "noise"])
    final = model.pipeline.steps[-1][1]
    assert isinstance(final, HistGradientBoostingClassifier | LogisticRegression)
    assert model.calibration["method"] == "platt"
    assert model.calibration["fitted_on"].startswith("walk-forward")
    raw, cal = model.predict_raw(X), model.predict(X)
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(cal, kind="stable"))
    assert np.allclose(cal, calibrate(raw, model.metrics["calibration"]))


def test_block_predictions_equal_one_pass_and_rows_train_like_a_copy(monkeypatch):
    """`predict_positive` in blocks of any size gives predict_proba's answer; training on
    positions `rows` of a bigger frame is training on a copy of those rows."""
    import scoring.models as models

    rng = np.random.default_rng(5)
    dates = np.array(sorted(_monthly_dates(12) * 150), dtype=object)
    accounts = np.array([f"a{i % 150}" for i in range(len(dates))], dtype=object)
    x = rng.normal(size=len(dates))
    y = (rng.random(len(dates)) < 1 / (1 + np.exp(-(-2.5 + 1.5 * x)))).astype(int)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=len(x)),
                      "plan": rng.choice(["Core", "Plus", "Max"], len(x)).astype(object)})
    kwargs = dict(numeric=["x", "noise"], categorical=["plan"], horizon_days=90, seed=1,
                  min_positive_labels=30, groups=accounts, raw_columns=["x", "noise", "plan"])
    copy = train_model("churn", X, y, dates, **kwargs)
    # The same rows inside a frame with other rows around them (reversed, interleaved).
    junk = X.sample(frac=1.0, random_state=0).reset_index(drop=True)
    big = pd.concat([junk, X.iloc[::-1]], ignore_index=True)
    rows = np.arange(len(big) - 1, len(junk) - 1, -1)
    placed = train_model("churn", big, y, dates, rows=rows, **kwargs)
    assert placed.metrics["candidates"] == copy.metrics["candidates"]
    assert np.allclose(placed.predict_raw(X), copy.predict_raw(X))
    expected = copy.pipeline.predict_proba(X[copy.features])[:, 1]
    monkeypatch.setattr(models, "PREDICT_BLOCK", 7)
    monkeypatch.setattr(models, "PREP_BLOCK", 50)
    assert np.allclose(models.predict_positive(copy.pipeline, X, copy.features), expected)


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


@pytest.mark.parametrize("dtype", [object, "str"])
def test_usable_columns_keep_what_varies_among_the_training_rows(dtype):
    from scoring.features import usable_columns

    frame = pd.DataFrame({
        "flat": [2.0, 2.0, np.nan, 2.0], "moves": [1.0, np.nan, 1.0, 3.0],
        "blank": [np.nan] * 4,
        "plan": pd.Series(["pro", None, "pro", "team"], dtype=dtype),
        "region": pd.Series([None, "EU", "EU", None], dtype=dtype),
    })
    numeric, categorical = ["flat", "moves", "blank"], ["plan", "region"]
    assert usable_columns(frame, numeric, categorical) == (["moves"], ["plan"])
    # Among rows 0-2 only nothing varies: 'moves' is 1 twice, 'plan' is 'pro'.
    assert usable_columns(frame, numeric, categorical, np.array([0, 1, 2])) == ([], [])
    assert usable_columns(frame, numeric, categorical, np.array([2, 3])) == (["moves"], ["plan"])


def test_day_numbers_parse_each_distinct_date_once():
    from scoring.models import day_numbers

    as_of = np.array(["2026-02-28", "2026-01-31", "2026-02-28", "2024-02-29"], dtype=object)
    dates, date_days, day = day_numbers(as_of)
    assert list(dates) == ["2024-02-29", "2026-01-31", "2026-02-28"]
    expected = pd.to_datetime(as_of).to_numpy().astype("datetime64[D]").astype("int64")
    assert day.tolist() == expected.tolist()
    assert date_days.tolist() == sorted(set(expected.tolist()))
