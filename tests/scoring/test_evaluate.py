"""The backtest's own ROC AUC and PR AUC against scikit-learn's, ties and weights included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from scoring.evaluate import grouped_intervals, weighted_ap, weighted_auc


@pytest.mark.parametrize(("ours", "sklearns"), [(weighted_auc, roc_auc_score),
                                                 (weighted_ap, average_precision_score)])
def test_weighted_figures_are_sklearns_with_or_without_precomputed_ranks(ours, sklearns):
    rng = np.random.default_rng(7)
    y = rng.random(5_000) < 0.2
    p = np.round(rng.random(5_000) * 0.5 + 0.3 * y, 2)   # many ties
    ranks = np.unique(p, return_inverse=True)[1]
    for w in (None, rng.integers(0, 4, 5_000).astype("float64")):
        expected = sklearns(y, p, sample_weight=w)
        assert ours(y, p, w) == pytest.approx(expected, abs=1e-12)
        assert ours(y, p, w, bucket=ranks) == pytest.approx(expected, abs=1e-12)
    assert ours(np.zeros(10, dtype=bool), np.arange(10.0)) is None
    if ours is weighted_ap:
        assert ours(np.ones(10, dtype=bool), np.arange(10.0)) is None


def test_intervals_hold_the_point_estimate():
    rng = np.random.default_rng(3)
    y = rng.random(40_000) < 0.1
    p = rng.random(40_000) + 0.5 * y
    got = grouped_intervals(y, {"model": p}, rng.integers(0, 4_000, 40_000), seed=42)["model"]
    assert got["roc_auc_low"] < got["roc_auc"] < got["roc_auc_high"]
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
