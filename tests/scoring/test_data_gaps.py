"""Data confidence: a component whose metrics are all blank this period (while most
accounts have them) is named with the last date it had data; confidence drops."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from scoring.account_explain import data_gaps
from scoring.settings import RenewalBand, ScoringSettings


def _settings() -> ScoringSettings:
    return ScoringSettings(
        horizon_days=90, upsell_growth=0.1, renewal_bands=(RenewalBand("Likely to Renew", 50),
                                                           RenewalBand("At Risk", 0)),
        upsell_likely="Likely to upsell", upsell_unlikely="Not likely to upsell",
        upsell_threshold=None, seed=0, min_positive_labels=10,
        components={"Product usage": ("logins_30d",), "Sentiment": ("nps",)})


def test_a_missing_component_is_named_with_its_last_date():
    keys = pd.DataFrame({"account_id": ["A", "A", "A", "B", "B", "C", "C"],
                         "as_of": ["2026-09-01", "2026-10-01", "2026-11-01",
                                   "2026-10-01", "2026-11-01", "2026-10-01", "2026-11-01"]})
    frame = pd.DataFrame({
        "logins_30d": [5, 7, np.nan, 3, 4, 8, 9],          # A stopped reporting usage
        "nps": [np.nan, 8, np.nan, np.nan, np.nan, np.nan, 7],  # sparse by nature
    })
    base_of = {"logins_30d": "logins_30d", "nps": "nps"}
    out = data_gaps(frame, keys, np.array([2, 4, 6]), base_of, _settings(), "2026-11-01",
                {"Product usage": 0.6, "Sentiment": 0.1})
    a = json.loads(out[0])
    assert a["confidence"] == "low"
    assert a["gaps"] == [{"component": "Product usage", "since": "2026-10-01", "weight": 0.6}]
    assert out[1] is None and out[2] is None   # NPS blank for most: no gap
