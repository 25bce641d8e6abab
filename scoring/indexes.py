"""Churn probability -> health score -> Renewal Index; upsell probability -> Upsell Index.

The Renewal Index is relative to the book: on a book where 3% of accounts churn in a
quarter, an absolute cut-off on the probability puts nearly everyone in the best band.
So the 0-100 health score is the account's standing among the book's accounts of the
same snapshot date: the share of them with a higher calibrated churn probability (ties
count half). Health 80 = healthier than 80% of the book. The bands in app.yaml cut that
scale (by default: the riskiest 5% Likely to Churn, the next 15% At Risk, the next 30%
Watch, the healthier half Likely to Renew), and the calibrated probability itself is
shown beside the category, with how it compares with the book's average.

Hysteresis (a dead band): health is a rank, so a month of unchanged data still nudges an
account's health and upsell probability a little, and near a band edge or the upsell
threshold that would flip its category. A CSM should not see an account flip on noise,
so `sticky_indexes` keeps the account's previous-period category (the previous period
re-scored by the same model) unless the new health is more than `renewal_hysteresis`
points beyond the edge it crossed, or the new upsell probability is beyond the
threshold by more than `upsell_hysteresis` of the threshold. It is applied in one place
(`account_explain.explain_current`), so the stored index, the movement and the
prediction ledger agree. Accounts without a previous period get the plain bands.

Band edges and category names come from ScoringSettings only, so a team can rename a band
or move its edge in app.yaml without touching code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.features import text_array
from scoring.settings import ScoringSettings
from storage.store import Store


def health_scores(churn_probability: np.ndarray, as_of: np.ndarray,
                  reference: pd.DataFrame | None = None) -> np.ndarray:
    """0-100 health: the share of the same date's accounts with a higher churn probability.

    `as_of` gives each row's snapshot date; `reference` (columns as_of,
    churn_probability) holds already-scored rows of those dates that the ranking must
    include. Ties count half; 1 decimal.
    """
    p = np.asarray(churn_probability, dtype="float64")
    dates = text_array(as_of)
    n_new = len(p)
    if reference is not None and len(reference):
        p = np.r_[p, reference["churn_probability"].to_numpy(dtype="float64")]
        dates = np.r_[dates, text_array(reference["as_of"].to_numpy())]
    # Grouped by the dates' codes (hashing each row's string once), not by the strings
    # copied into a fixed-width array and sorted: 1.6M rows 1.2 -> 0.5 s.
    s = pd.Series(p)
    by = s.groupby(pd.factorize(dates)[0])
    rank = by.rank(method="average").to_numpy()          # 1 = lowest probability
    size = by.transform("size").to_numpy(dtype="float64")
    health = 100.0 * (size - rank + 0.5) / size
    return np.round(health[:n_new], 1)


def book_average(churn_probability: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """Each row's date's mean churn probability (what 'your book's average' means)."""
    p = pd.Series(np.asarray(churn_probability, dtype="float64"))
    return p.groupby(np.asarray(as_of).astype(str)).transform("mean").to_numpy()


def renewal_indexes(health: np.ndarray, settings: ScoringSettings) -> np.ndarray:
    """Band name of each health score (same rule as ScoringSettings.renewal_category)."""
    bands = settings.renewal_bands
    health = np.asarray(health, dtype="float64")
    # The first band (in their order) whose minimum the score reaches, else the last:
    # band numbers, then one take of the names (no per-band writes of objects).
    which = np.full(len(health), len(bands) - 1)
    open_rows = np.ones(len(health), dtype=bool)
    for i, band in enumerate(bands):
        here = open_rows & (health >= band.min)
        which[here] = i
        open_rows &= ~here
    return np.array([band.name for band in bands], dtype=object)[which]


def upsell_indexes(probability: np.ndarray, threshold: float, settings: ScoringSettings) -> np.ndarray:
    """'likely' at or above the threshold, 'unlikely' below; None where unknown."""
    p = np.asarray(probability, dtype="float64")
    names = np.array([settings.upsell_unlikely, settings.upsell_likely, None], dtype=object)
    return names[np.where(np.isnan(p), 2, p >= threshold)]


def sticky_indexes(health: np.ndarray, previous_renewal: np.ndarray,
                   upsell_probability: np.ndarray | None, previous_upsell: np.ndarray,
                   threshold: float | None, settings: ScoringSettings
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Renewal and Upsell Index of each row with the dead band of the module doc.

    `previous_renewal` / `previous_upsell` are the previous period's categories (None
    where there is none); `upsell_probability` None = no upsell model. Returns
    (renewal_index, upsell_index or None).
    """
    health = np.asarray(health, dtype="float64")
    renewal = renewal_indexes(health, settings)
    prev = np.asarray(previous_renewal, dtype=object)
    margin = settings.renewal_hysteresis
    bands = settings.renewal_bands
    for i, band in enumerate(bands):
        low = band.min - margin if i < len(bands) - 1 else -np.inf
        high = bands[i - 1].min + margin if i > 0 else np.inf
        keep = (prev == band.name) & (health >= low) & (health < high)
        renewal[keep] = band.name
    if upsell_probability is None or threshold is None:
        return renewal, None
    p = np.asarray(upsell_probability, dtype="float64")
    upsell = upsell_indexes(p, threshold, settings)
    band = threshold * settings.upsell_hysteresis
    prev_u = np.asarray(previous_upsell, dtype=object)
    ok = ~np.isnan(p)
    upsell[ok & (prev_u == settings.upsell_likely) & (p >= threshold - band)] = \
        settings.upsell_likely
    upsell[ok & (prev_u == settings.upsell_unlikely) & (p < threshold + band)] = \
        settings.upsell_unlikely
    return renewal, upsell


def score_history(store: Store, account_id: str | None = None) -> pd.DataFrame:
    """Every score with the account's previous-period values beside it.

    Columns: account_id, as_of, health_score, renewal_index, upsell_probability,
    upsell_index, previous_as_of, previous_health_score, previous_renewal_index,
    previous_upsell_index.
    """
    where, params = ("WHERE account_id = ?", [account_id]) if account_id else ("", [])
    return store.frame(
        # The previous period as re-scored by the same model where scoring stored it.
        "SELECT account_id, as_of, health_score, renewal_index, upsell_probability, upsell_index,"
        " coalesce(s.previous_as_of, LAG(as_of) OVER w) AS previous_as_of,"
        " CASE WHEN s.previous_as_of IS NOT NULL THEN s.previous_health_score"
        "  ELSE LAG(health_score) OVER w END AS previous_health_score,"
        " CASE WHEN s.previous_as_of IS NOT NULL THEN s.previous_renewal_index"
        "  ELSE LAG(renewal_index) OVER w END AS previous_renewal_index,"
        " CASE WHEN s.previous_as_of IS NOT NULL THEN s.previous_upsell_index"
        "  ELSE LAG(upsell_index) OVER w END AS previous_upsell_index"
        f" FROM scores s {where}"
        " WINDOW w AS (PARTITION BY account_id ORDER BY as_of)"
        " ORDER BY account_id, as_of",
        params,
    )


def movements(store: Store, settings: ScoringSettings, as_of: str | None = None) -> pd.DataFrame:
    """Accounts whose Renewal or Upsell Index changed from their previous period.

    `as_of=None` looks at each account's latest score. Adds `renewal_move`
    ('better' / 'worse' / None) and `upsell_move` ('up' / 'down' / None), e.g.
    Watch -> Likely to Churn is 'worse', Watch -> Likely to upsell... is 'up'.
    """
    history = score_history(store)
    if history.empty:
        return history.assign(renewal_move=pd.Series(dtype=object),
                              upsell_move=pd.Series(dtype=object))
    if as_of is None:
        rows = history.groupby("account_id", sort=False).tail(1)
    else:
        rows = history[history["as_of"] == as_of]
    rows = rows[rows["previous_as_of"].notna()].copy()
    from scoring.movements import directions

    renewal = directions(rows["previous_renewal_index"].to_numpy(dtype=object),
                         rows["renewal_index"].to_numpy(dtype=object),
                         settings.renewal_categories)
    rows["renewal_move"] = np.where(renewal == "up", "better",
                                    np.where(renewal == "down", "worse", None))
    upsell = directions(rows["previous_upsell_index"].to_numpy(dtype=object),
                        rows["upsell_index"].to_numpy(dtype=object), settings.upsell_categories)
    rows["upsell_move"] = upsell
    moved = rows["renewal_move"].notna() | rows["upsell_move"].notna()
    return rows[moved].reset_index(drop=True)
