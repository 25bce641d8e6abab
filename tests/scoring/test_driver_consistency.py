"""A driver never says the opposite of what the metric does across the book."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.explain import _drop_contradictions


def test_low_usage_is_not_shown_as_holding_the_score_up() -> None:
    rng = np.random.default_rng(0)
    logins = rng.uniform(0, 100, 200)
    base = -0.05 * logins + rng.normal(0, 0.1, 200)   # more logins, lower churn log-odds
    X = pd.DataFrame({"logins": logins})
    segments = np.zeros(200, dtype=int)
    typical = {0: {"logins": 50.0}}
    pulls = np.zeros((200, 1))
    low, high = int(np.argmin(logins)), int(np.argmax(logins))
    pulls[low, 0] = -0.8    # "holding it up" with the lowest logins: contradicts the book
    pulls[high, 0] = -0.8   # "holding it up" with the highest logins: consistent
    _drop_contradictions(pulls, ["logins"], X, base, segments, typical)
    assert pulls[low, 0] == 0.0
    assert pulls[high, 0] == -0.8


def test_categories_and_unrelated_metrics_are_left_alone() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"flat": np.full(200, 3.0), "plan": ["a", "b"] * 100})
    base = rng.normal(size=200)
    pulls = rng.normal(size=(200, 2))
    before = pulls.copy()
    _drop_contradictions(pulls, ["flat", "plan"], X, base, np.zeros(200, dtype=int),
                         {0: {"flat": 3.0, "plan": "a"}})
    assert (pulls == before).all()
