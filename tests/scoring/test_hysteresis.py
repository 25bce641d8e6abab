"""The dead band of scoring.indexes.sticky_indexes: no category flip on noise."""

from __future__ import annotations

import numpy as np

from scoring.indexes import renewal_indexes, sticky_indexes, upsell_indexes
from tests.scoring.conftest import settings_for


def test_renewal_keeps_the_previous_band_inside_the_margin(tmp_path):
    s = settings_for(tmp_path / "x.db", renewal_hysteresis=4.0)
    renew, watch, risk, churn = s.renewal_categories      # edges 50, 20, 5
    health = np.array([48.0, 45.9, 53.9, 54.0, 21.0, 30.0, 1.5, 10.0, 3.0])
    prev = np.array([renew, renew, watch, watch, risk, risk, risk, None, churn],
                    dtype=object)
    got, upsell = sticky_indexes(health, prev, None, np.full(9, None), None, s)
    assert upsell is None
    assert got.tolist() == [
        renew,   # 2 below the 50 edge: stays
        watch,   # 4.1 below it: leaves
        watch,   # 3.9 above the 50 edge: stays
        renew,   # 4 above it: leaves
        risk,    # 1 above the 20 edge: stays
        watch,   # far above it: leaves
        risk,    # 3.5 below the 5 edge: stays
        risk,    # no previous period: the plain band
        churn,   # the worst band has no lower edge
    ]
    assert got[7] == renewal_indexes(health, s)[7]


def test_zero_margin_is_the_plain_bands(tmp_path):
    s = settings_for(tmp_path / "x.db", renewal_hysteresis=0.0, upsell_hysteresis=0.0)
    rng = np.random.default_rng(0)
    health = np.round(rng.uniform(0, 100, 500), 1)
    prev = rng.choice(np.array(s.renewal_categories + [None], dtype=object), 500)
    p = rng.uniform(0, 1, 500)
    prev_u = rng.choice(np.array(s.upsell_categories + [None], dtype=object), 500)
    got, up = sticky_indexes(health, prev, p, prev_u, 0.3, s)
    assert got.tolist() == renewal_indexes(health, s).tolist()
    assert up.tolist() == upsell_indexes(p, 0.3, s).tolist()


def test_upsell_keeps_the_previous_index_unless_past_the_relative_margin(tmp_path):
    s = settings_for(tmp_path / "x.db", upsell_hysteresis=0.1)
    likely, unlikely = s.upsell_categories
    p = np.array([0.28, 0.26, 0.32, 0.34, 0.5, np.nan])     # threshold 0.3, band 0.03
    prev = np.array([likely, likely, unlikely, unlikely, None, likely], dtype=object)
    _, got = sticky_indexes(np.full(6, 50.0), np.full(6, None), p, prev, 0.3, s)
    assert got.tolist() == [likely, unlikely, unlikely, likely, likely, None]
