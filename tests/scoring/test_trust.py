"""What a CSM is told must be what the model shows clearly, on a book that behaves like
a real one: the demo generator's relationships, the calibration's rule, the Leading
Indicators' directions and the card's drivers (storage/demo_book.py, scoring/models.py,
scoring/explain.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring import explain
from scoring.labels import derive_labels
from scoring.models import MIN_CALIBRATION_BLOCKS, build_pipeline, train_model
from storage.demo_book import DemoSpec, generate
from tests.scoring.conftest import drifting_rows


@pytest.fixture(scope="module")
def big_book() -> pd.DataFrame:
    book = generate(DemoSpec(accounts=3000, months=12, seed=7))
    labels = derive_labels(book, 90, 0.10)
    return book.assign(churned=labels["churned"].to_numpy(dtype="float64"),
                       upsold=labels["upsold"].to_numpy(dtype="float64"))


# -- the demo book behaves like a real one ------------------------------------------------


def test_customers_of_the_first_snapshot_can_leave_at_once(big_book):
    """They have been customers for a while: the book's first outcome window holds about
    as much churn as later ones (all brand new, none could leave in their first months,
    and the first walk-forward model learnt half the real churn level)."""
    dates = sorted(big_book["as_of"].unique())
    first = big_book[big_book["as_of"] == dates[0]]
    second = big_book[big_book["as_of"] == dates[1]]
    gone = ~first["account_id"].isin(second["account_id"]) | (
        first["account_id"].isin(second.loc[second["status"] == "churned", "account_id"]))
    assert gone.sum() > 0
    rate = big_book.dropna(subset=["churned"]).groupby("as_of")["churned"].mean()
    assert rate.iloc[0] >= 0.75 * rate.iloc[1:].mean(), rate


def _rate(book: pd.DataFrame, mask: pd.Series, col: str) -> float:
    known = book[col].notna()
    return float(book.loc[known & mask, col].mean())


def test_no_relationship_a_real_book_would_not_show(big_book):
    """More products: a little stickier; more tickets: not healthier; late payments and
    sev1 tickets: fewer upsells (each was the other way, or nothing, in the generator)."""
    b = big_book.assign(n_products=big_book["products"].str.count(";") + 1)
    assert _rate(b, b["n_products"] >= 4, "churned") < _rate(b, b["n_products"] <= 2, "churned")
    many = b["support_tickets_30d"] > b["support_tickets_30d"].median()
    assert _rate(b, many, "churned") >= _rate(b, ~many, "churned")
    # At the same sev1 count, more tickets is no sign of a healthier account.
    calm = b["sev1_tickets_90d"] == 0
    assert _rate(b, calm & many, "churned") >= 0.9 * _rate(b, calm & ~many, "churned")
    late = b["payment_late_days"] > 0
    assert _rate(b, late, "upsold") < _rate(b, ~late, "upsold")
    sev1 = b["sev1_tickets_90d"] > 0
    assert _rate(b, sev1, "upsold") < _rate(b, ~sev1, "upsold")


# -- calibration ---------------------------------------------------------------------------


def test_a_block_is_calibrated_on_two_earlier_models_or_shows_the_models_own():
    """One walk-forward model's error does not carry over to the next model: the backtest
    maps a block by a calibration only where at least two earlier blocks (two models)
    were seen; the block after the first shows the model's own probabilities."""
    X, y, as_of, kwargs = drifting_rows()
    model = train_model("churn", X, y, as_of, **kwargs)
    bt = model.backtest
    assert bt.scheme == "walk-forward" and bt.fold.max() >= MIN_CALIBRATION_BLOCKS
    assert np.isnan(bt.calibrated[bt.fold == 0]).all()
    for f in range(1, MIN_CALIBRATION_BLOCKS):
        assert np.array_equal(bt.calibrated[bt.fold == f], bt.raw[bt.fold == f])
    later = bt.fold >= MIN_CALIBRATION_BLOCKS
    assert not np.isnan(bt.calibrated[later]).any()
    assert not np.array_equal(bt.calibrated[later], bt.raw[later])
    assert model.calibration["method"] == "platt"
    assert "half-life 90 days" in model.calibration["weighting"]


def test_walk_forward_models_are_kept_for_the_directions():
    X, y, as_of, kwargs = drifting_rows()
    model = train_model("churn", X, y, as_of, **kwargs)
    assert len(model.fold_models) == len(model.backtest.cutoffs)
    rounds = model.metrics["settings"].get("max_iter")
    for pipe, feats in model.fold_models:
        assert set(feats) <= {"x", "noise"}
        clf = pipe.named_steps["model"]
        if rounds:   # gradient boosting cut to the chosen rounds
            assert clf.n_iter_ == rounds


# -- Leading Indicators: a direction only where the model's evidence is clear -----------


def _linear(coef: dict[str, float], X: pd.DataFrame) -> object:
    """A fitted logistic-regression pipeline whose coefficients are then set by hand
    (on the standardised columns, in the order of X)."""
    pipe = build_pipeline("logistic_regression", list(X.columns), [], 0)
    y = (np.arange(len(X)) % 2).astype(int)
    pipe.fit(X, y)
    clf = pipe.named_steps["model"]
    width = clf.coef_.shape[1]
    c = np.zeros(width)
    names = list(pipe.named_steps["prep"].get_feature_names_out())
    for name, value in coef.items():
        c[names.index(name)] = value
    clf.coef_ = c.reshape(1, -1)
    return pipe


def test_a_direction_the_walk_forward_models_do_not_share_is_not_stated():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"logins_30d": rng.normal(50, 10, 600),
                      "support_tickets_30d": rng.poisson(3, 600).astype("float64")})
    base_of = {c: c for c in X.columns}
    comp = {"logins_30d": "Product usage", "support_tickets_30d": "Support"}.get
    final = _linear({"logins_30d": -1.0, "support_tickets_30d": -0.5}, X)
    steady = _linear({"logins_30d": -0.8, "support_tickets_30d": -0.4}, X)
    flipped = _linear({"logins_30d": -0.9, "support_tickets_30d": 0.6}, X)
    own = explain.indicator_basis(final, list(X.columns), X, base_of, comp, set())
    assert own.signs == {"logins_30d": -1, "support_tickets_30d": -1}
    feats = list(X.columns)
    rows = np.arange(len(X))
    # Four walk-forward models: one may dissent, two may not.
    one = [(steady, feats)] * 3 + [(flipped, feats)]
    two = [(steady, feats)] * 2 + [(flipped, feats)] * 2
    signs, _ = explain.stable_signs(own.signs, own.driver_signs, one, X, rows, base_of, comp,
                                    set(), 0)
    assert signs == {"logins_30d": -1, "support_tickets_30d": -1}
    signs, drivers = explain.stable_signs(own.signs, own.driver_signs, two, X, rows, base_of,
                                          comp, set(), 0)
    assert signs == {"logins_30d": -1, "support_tickets_30d": 0}
    assert drivers == signs
    words = explain.component_words(
        "churn", [("support_tickets_30d", 0.2, 0)], {"support_tickets_30d"})
    assert words == "no clear direction of churn risk with support tickets (30d)"
    words = explain.component_words(
        "churn", [("sev1_tickets_90d", 0.5, 1), ("support_tickets_30d", 0.2, 0),
                  ("csat", 0.1, -1)], {"support_tickets_30d"})
    assert words == ("higher churn risk with more sev1 tickets (90d); lower with higher CSAT;"
                     " no clear direction with support tickets (30d)")
    assert "lower churn risk with more support tickets" not in words


# -- the card's drivers ----------------------------------------------------------------


def test_a_driver_against_the_models_book_wide_direction_is_listed_apart():
    """Soylent Health on the demo: 'Active users 75: Low for its segment, good for this
    account' where the churn model has no book-wide direction for active users, and
    'Products in use 4: High, bad' read against a relationship no refit shares."""
    metrics = ["active_users", "ctx__n_products", "seats_used", "seats_used__ratio"]
    X = pd.DataFrame({"active_users": [75.0], "ctx__n_products": [4.0], "seats_used": [91.0],
                      "seats_used__ratio": [0.5]})
    points = np.array([[1.1, -7.5, -3.0, -18.1]])
    mp = explain.MetricPoints(metrics, points, np.array([3.0]), np.array([52.0]))
    typical = {1: {"active_users": 115, "ctx__n_products": 3, "seats_used": 129,
                   "seats_used__ratio": 0.8}}
    bench = {1: {"active_users": {"low": 100, "high": 130},
                 "ctx__n_products": {"low": 2, "high": 3},
                 "seats_used": {"low": 110, "high": 150},
                 "seats_used__ratio": {"low": 0.7, "high": 0.9}}}
    senses = {"active_users": 0, "ctx__n_products": 1, "seats_used": 1, "seats_used__ratio": 1}
    drivers = explain.account_drivers(mp, X, np.array([1]), typical, bench, lambda m: None,
                                      set(), senses)[0]
    by = {d["metric"]: d for d in drivers}
    assert by["seats_used__ratio"]["direction"] == "down"
    assert by["seats_used__ratio"]["label"] == "Seats used (share of seats)"
    assert by["seats_used__ratio"]["unit"] == "share"
    assert by["seats_used"]["direction"] == "down"          # Low, more is healthier: bad
    assert by["active_users"]["direction"] == "unclear"     # no book-wide direction
    assert by["ctx__n_products"]["direction"] == "unclear"  # High but the model says bad
    assert by["ctx__n_products"]["sense"] == "unclear"
    assert not [d for d in drivers if d["direction"] == "up"]
    # Without book-wide directions (a model stored before them), as before.
    old = explain.account_drivers(mp, X, np.array([1]), typical, bench, lambda m: None, set())[0]
    assert {d["direction"] for d in old} == {"down", "up"}


@pytest.mark.slow
def test_every_card_driver_goes_the_way_the_model_says_book_wide(scored_db):
    """On the demo book no listed driver contradicts the churn model's book-wide
    direction, and none is a metric without one."""
    from storage.store import Store

    db, _ = scored_db
    with Store(db) as store:
        book = json.loads(store.scalar("SELECT metrics FROM models WHERE kind = 'churn'"
                                       " AND active = 1"))["directions"]
        rows = store.query("SELECT drivers FROM scores WHERE drivers IS NOT NULL")
    listed = 0
    for row in rows:
        for d in json.loads(row["drivers"]):
            if d["direction"] == "unclear" or d["level"] not in ("Low", "High"):
                continue
            listed += 1
            healthier = -book[d["metric"]]
            assert healthier != 0, d
            side = 1 if d["level"] == "High" else -1
            assert healthier * side == (1 if d["direction"] == "up" else -1), d
    assert listed > 100


@pytest.mark.slow
def test_the_demo_books_backtest_is_calibrated(scored_db):
    _, report = scored_db
    for kind in ("churn", "upsell"):
        ratio = report.model_metrics[kind]["backtest"]["calibration_ratio"]
        assert 0.75 <= ratio <= 1.3, (kind, ratio)


def test_the_calibration_ratio_has_an_interval_over_accounts():
    from scoring.evaluate import ratio_interval

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(300), 5)
    p = np.full(len(groups), 0.06)
    y = (rng.random(len(groups)) < 0.05).astype(int)
    lo, hi = ratio_interval(y, p, groups, 0)
    ratio = p.mean() / y.mean()
    assert lo < ratio < hi and hi - lo > 0.2   # 300 accounts: a wide interval
    assert ratio_interval(np.zeros(10, dtype=int), np.full(10, 0.1), np.arange(10), 0) == (None, None)
