"""Data components (Health Score Features): which catalogue groups have data.

The catalogue in app.yaml names the metrics of each component. A component is
connected (✅) when at least one of its metrics is in the data with values, and
missing (❌) otherwise; coverage is the share of current accounts (each account's
latest row, left accounts excluded) with a value in any of its metrics. Scoring
uses whatever is there, so any subset works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.settings import ScoringSettings


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    columns: list[str]
    present: list[str]
    connected: bool
    coverage: float


def component_status(settings: ScoringSettings, latest: pd.DataFrame, usable: list[str]
                     ) -> list[ComponentStatus]:
    """One status per catalogue component, in catalogue order.

    `latest` holds each current account's latest row; `usable` the metrics the models
    may use (free-text columns are not data for a component).
    """
    out = []
    n = len(latest)
    for comp, cols in settings.components.items():
        present = [c for c in cols if c in usable and c in latest
                   and latest[c].notna().any()]
        if present and n:
            has_any = np.zeros(n, dtype=bool)
            for c in present:
                has_any |= latest[c].notna().to_numpy()
            coverage = round(float(has_any.mean()), 4)
        else:
            coverage = 0.0
        out.append(ComponentStatus(comp, list(cols), present, bool(present) and coverage > 0,
                                   coverage))
    return out


