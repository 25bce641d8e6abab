"""The backtest's own ROC AUC against scikit-learn's, ties and weights included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from scoring.evaluate import grouped_intervals, weighted_ap, weighted_auc


def test_weighted_auc_is_sklearns_with_or_without_precomputed_ranks():
    rng = np.random.default_rng(7)
    y = rng.random(5_000) < 0.2
    p = np.round(rng.random(5_000) * 0.5 + 0.3 * y, 2)   # many ties
    ranks = np.unique(p, return_inverse=True)[1]
    for w in (None, rng.integers(0, 4, 5_000).astype("float64")):
        expected = roc_auc_score(y, p, sample_weight=w)
        assert weighted_auc(y, p, w) == pytest.approx(expected, abs=1e-12)
        assert weighted_auc(y, p, w, bucket=ranks) == pytest.approx(expected, abs=1e-12)
    assert weighted_auc(np.zeros(10, dtype=bool), np.arange(10.0)) is None


def test_weighted_ap_is_sklearns_with_ties_and_weights():
    rng = np.random.default_rng(11)
    y = rng.random(5_000) < 0.15
    p = np.round(rng.random(5_000) * 0.6 + 0.25 * y, 2)   # many ties
    ranks = np.unique(p, return_inverse=True)[1]
    for w in (None, rng.integers(0, 4, 5_000).astype("float64")):
        expected = average_precision_score(y, p, sample_weight=w)
        assert weighted_ap(y, p, w) == pytest.approx(expected, abs=1e-12)
        assert weighted_ap(y, p, w, bucket=ranks) == pytest.approx(expected, abs=1e-12)
    assert weighted_ap(np.zeros(10, dtype=bool), np.arange(10.0)) is None
    assert weighted_ap(np.ones(10, dtype=bool), np.arange(10.0)) is None


def test_intervals_hold_the_point_estimate():
    rng = np.random.default_rng(3)
    y = rng.random(40_000) < 0.1
    p = rng.random(40_000) + 0.5 * y
    got = grouped_intervals(y, {"model": p}, rng.integers(0, 4_000, 40_000), seed=42)["model"]
    assert got["roc_auc_low"] < got["roc_auc"] < got["roc_auc_high"]
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
