"""Movement reasons agree with the movement: a worsening lists only changes that raise
risk, an improvement only changes that lower it, in the scoring model's own directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from scoring import movements
from scoring.account_explain import book_directions, change_points
from scoring.attributions import raw_score
from scoring.models import build_pipeline

METRICS = ["active_users", "payment_late_days", "nps", "ctx__days_to_renewal"]
LABELS = {"active_users": "Active users", "payment_late_days": "Payment late days",
          "nps": "NPS", "ctx__days_to_renewal": "Days to renewal"}
UNITS = {m: None for m in METRICS}
# Score orientation (health): more active users and NPS raise it, late days lower it,
# and a renewal further out raises it.
BOOK = {"active_users": 1, "payment_late_days": -1, "nps": 1, "ctx__days_to_renewal": 1}


def _reasons(delta, sign, before, now, *, own=None, lb=None, ln=None, trend=None,
             book=BOOK, relative=True):
    return movements.reasons(np.array(delta, dtype="float64"), METRICS, sign, now, before,
                             ln or {}, lb or {}, trend or {}, LABELS, UNITS,
                             own_level=np.array(own if own is not None else [0.0] * 4),
                             book=book, relative=relative, horizon_days=90)


def _texts(found):
    return [r["text"] for r in found]


def test_a_worsening_lists_only_changes_that_raise_risk():
    # Every metric's contribution moved the score down (the old rule listed all three),
    # but more active users and fewer late days lower risk: they are no reasons to worsen.
    before = {"active_users": 112, "payment_late_days": 20, "nps": 40, "ctx__days_to_renewal": 200}
    now = {"active_users": 129, "payment_late_days": 5, "nps": 20, "ctx__days_to_renewal": 200}
    found = _reasons([-0.5, -0.4, -0.2, 0.0], -1, before, now,
                     lb={"payment_late_days": "High"}, ln={"payment_late_days": "Medium"})
    assert _texts(found) == ["NPS 40 → 20"]


def test_an_improvement_lists_only_changes_that_lower_risk_largest_first():
    before = {"active_users": 100, "payment_late_days": 30, "nps": 50, "ctx__days_to_renewal": 30}
    now = {"active_users": 80, "payment_late_days": 2, "nps": 70, "ctx__days_to_renewal": 395}
    found = _reasons([0.9, 0.1, 0.3, 0.6], 1, before, now)
    # active users fell (reads the other way); the rest in order of their contribution
    assert _texts(found) == ["renewal date moved out (30 → 395 days)", "NPS 50 → 70",
                             "Payment late days 30 → 2"]
    assert [r["metric"] for r in found] == ["ctx__days_to_renewal", "nps", "payment_late_days"]


def test_a_change_against_the_models_book_wide_direction_is_no_reason():
    # For this account the model's own level contribution says fewer late days lowered
    # health (a local effect of the model). Across the book the same model says late days
    # raise risk, so "Payment late days 20 → 5" is no reason for a worse score: a CSM
    # would not believe it (the card's drivers follow the same rule).
    before = {"active_users": 100, "payment_late_days": 20, "nps": 40, "ctx__days_to_renewal": 200}
    now = {"active_users": 100, "payment_late_days": 5, "nps": 40, "ctx__days_to_renewal": 200}
    found = _reasons([0.0, -0.4, 0.0, 0.0], -1, before, now, own=[0.0, -0.4, 0.0, 0.0])
    assert "Payment late days 20 → 5" not in _texts(found)
    # Where the model has no clear book-wide direction for the metric, the account's own
    # attribution decides.
    unclear = {**BOOK, "payment_late_days": 0}
    found = _reasons([0.0, -0.4, 0.0, 0.0], -1, before, now, own=[0.0, -0.4, 0.0, 0.0],
                     book=unclear)
    assert _texts(found) == ["Payment late days 20 → 5"]


def test_a_trend_is_judged_by_its_direction_too():
    same = {"active_users": 100, "payment_late_days": 10, "nps": 40, "ctx__days_to_renewal": 200}
    up = _reasons([-0.3, 0.0, 0.0, 0.0], -1, same, same, trend={"active_users": 0.4})
    down = _reasons([-0.3, 0.0, 0.0, 0.0], -1, same, same, trend={"active_users": -0.4})
    assert _texts(down) == ["Active users down 33% in 3 months"]
    assert "Active users" not in " ".join(_texts(up))


def test_time_passing_is_said_as_such():
    before = {"active_users": 100, "payment_late_days": 10, "nps": 40, "ctx__days_to_renewal": 61}
    now = {**before, "ctx__days_to_renewal": 30}
    assert _texts(_reasons([0.0, 0.0, 0.0, -0.7], -1, before, now)) == ["renewal 31 days closer"]


def test_nothing_in_its_own_data_explains_it_is_said_honestly():
    before = {"active_users": 112, "payment_late_days": 20, "nps": 40, "ctx__days_to_renewal": 200}
    now = {"active_users": 129, "payment_late_days": 5, "nps": 40, "ctx__days_to_renewal": 200}
    # Its own score moved the way it moved, but only through changes that read the other way.
    found = _reasons([-0.5, -0.4, 0.0, 0.0], -1, before, now)
    assert _texts(found) == [movements.SMALL_SHIFTS]
    assert found[0]["note"] is True and found[0]["metric"] is None
    # Health is a rank: its own risk fell, yet it got worse because the book improved.
    found = _reasons([0.5, 0.2, 0.0, 0.0], -1, before, now)
    assert _texts(found) == [movements.BOOK_MOVED[-1]]
    # The Upsell Index is not relative to the book.
    assert _texts(_reasons([0.5, 0.2, 0.0, 0.0], -1, before, now, relative=False)) == \
        [movements.SMALL_SHIFTS]
    assert movements.stored_reasons(
        '{"from_as_of": "2026-10-01", "reasons": [{"text": "small shifts across many metrics"}]}',
        "2026-10-01") == movements.SMALL_SHIFTS


def test_change_direction_reads_levels_then_values_then_trends():
    assert movements.change_direction(20, 5, "High", "Medium", None) == -1
    assert movements.change_direction(5, 20, None, None, None) == 1
    assert movements.change_direction(5, 5, None, None, -0.2) == -1
    assert movements.change_direction(5, 5, None, None, None) == 0
    assert movements.metric_direction(0.3, -1, None) == -1  # own: less of it, score up
    assert movements.metric_direction(0.3, -1, 0) == -1     # no clear book direction: own
    assert movements.metric_direction(-0.3, -1, 1) == 1     # own agrees with the book's
    assert movements.metric_direction(0.3, -1, 1) == 0      # own against the book's: none
    assert movements.metric_direction(0.0, -1, 1) == 1      # nil own level: the book's
    assert movements.metric_direction(0.0, 1, None) == 0


def _model(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 1200
    X = pd.DataFrame({"active_users": rng.normal(100, 20, n),
                      "payment_late_days": rng.exponential(10, n),
                      "nps": rng.normal(30, 10, n)})
    logit = -0.05 * (X["active_users"] - 100) + 0.1 * (X["payment_late_days"] - 10)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    features = list(X.columns)
    pipe: Pipeline = build_pipeline("hist_gradient_boosting", features, [], 0, max_iter=40,
                                    early_stopping=False).fit(X, y)
    return {"pipeline": pipe, "features": features}, X


def test_change_points_attribute_exactly_the_change_between_periods():
    model, X = _model()
    base_of = {f: f for f in model["features"]}
    prev = X.iloc[:50].reset_index(drop=True)
    now = prev.copy()
    now["payment_late_days"] = now["payment_late_days"] + 15    # only late days change
    now.loc[:9, "nps"] = now.loc[:9, "nps"] - 5                 # and NPS for ten rows
    metrics, total, level = change_points(model, now, prev, base_of)
    gap = raw_score(model["pipeline"], now) - raw_score(model["pipeline"], prev)
    assert np.abs(total.sum(axis=1) - gap).max() < 1e-6
    assert np.abs(total[:, metrics.index("active_users")]).max() == 0.0   # did not change
    assert np.abs(total[10:, metrics.index("nps")]).max() == 0.0
    assert np.allclose(level, total)     # no trend features here: all of it is the level
    assert (total[:, metrics.index("payment_late_days")] >= 0).mean() > 0.9  # more risk


def test_book_directions_come_from_the_indicator_signs():
    churn = {"indicators": [{"component": "Billing", "signs": {"payment_late_days": 1}},
                            {"component": "Usage", "signs": {"active_users": -1, "x": None}}]}
    assert book_directions(churn, {"nps": 1}) == {"payment_late_days": 1, "active_users": -1}
    assert book_directions({"indicators": []}, {"nps": 1}) == {"nps": 1}   # a reused model
    assert book_directions(None, {}) == {}


def test_a_metric_gone_blank_says_what_it_was():
    before = {"active_users": 100, "payment_late_days": 5, "nps": 2, "ctx__days_to_renewal": 200}
    now = {"active_users": 100, "payment_late_days": 5, "nps": None, "ctx__days_to_renewal": 200}
    found = _reasons([0.0, 0.0, 0.3, 0.0], 1, before, now)
    assert _texts(found) == ["NPS: no data now (was 2)"]


def test_the_renewal_dates_two_metrics_make_one_reason():
    # Days to renewal and "renewal within the horizon" both come from the renewal date: a
    # CSM reads them as one reason, and the slot left goes to the next one.
    metrics = [*METRICS, "ctx__renewal_soon"]
    before = {"active_users": 100, "payment_late_days": 10, "nps": 40,
              "ctx__days_to_renewal": 121, "ctx__renewal_soon": 0}
    now = {**before, "ctx__days_to_renewal": 90, "ctx__renewal_soon": 1, "nps": 20,
           "payment_late_days": 30}
    labels = {**LABELS, "ctx__renewal_soon": "Renewal within 90 days"}
    book = {**BOOK, "ctx__renewal_soon": -1}
    found = movements.reasons(np.array([0.0, -0.2, -0.3, -0.6, -0.5]), metrics, -1, now, before,
                              {}, {}, {}, labels, {m: None for m in metrics},
                              own_level=np.zeros(5), book=book, relative=True, horizon_days=90)
    assert _texts(found) == ["renewal 31 days closer, now within 90 days", "NPS 40 → 20",
                             "Payment late days 10 → 30"]
    assert found[0]["metric"] == "ctx__days_to_renewal"
