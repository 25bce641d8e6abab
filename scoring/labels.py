"""Outcome labels from snapshot history, by the rules of the shared data contract.

For a row (account, as_of) and horizon H, look at the book's snapshots dated in
(as_of, as_of + H]; L is the latest of those dates.

- churned: the account shows `status = churned` in that window, or it is absent
  from the book's snapshot at L.
- upsold: its `arr` in that window reaches (1 + U) x its `arr` at as_of; a churned
  account is not upsold. With no `arr` at as_of the upsell outcome is unknown; from
  an `arr` of 0, any positive `arr` counts as an upsell.
- unknown (NA) when the book has no snapshot on or after as_of + H, or none in the window.

Explicit `churned` / `upsold` values win over derived ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LABEL_COLUMNS = ["account_id", "as_of", "churned", "upsold"]


def derive_labels(
    snapshots: pd.DataFrame, horizon_days: int, upsell_growth: float
) -> pd.DataFrame:
    """Return one row per input row: account_id, as_of, churned, upsold (nullable 0/1).

    `snapshots` needs account_id and as_of (ISO string or datetime); status, arr,
    churned and upsold are used when present; blanks are NA. The result keeps the input's row order.
    """
    n = len(snapshots)
    codes = pd.factorize(snapshots["account_id"])[0]
    days = (pd.to_datetime(snapshots["as_of"]).to_numpy().astype("datetime64[D]")
            .astype("int64"))
    status = (snapshots["status"].astype("string").str.lower() == "churned").fillna(False) \
        .to_numpy(dtype=bool) if "status" in snapshots else np.zeros(n, dtype=bool)

    def numbers(col: str) -> np.ndarray:
        if col not in snapshots:
            return np.full(n, np.nan)
        return pd.to_numeric(snapshots[col], errors="coerce").astype("float64").to_numpy(
            na_value=np.nan)

    churned, upsold = derive_label_arrays(
        codes, days, status, numbers("arr"), numbers("churned"), numbers("upsold"),
        horizon_days, upsell_growth,
    )
    return pd.DataFrame(
        {
            "account_id": snapshots["account_id"].to_numpy(),
            "as_of": snapshots["as_of"].to_numpy(),
            "churned": pd.array(churned, dtype="Float64").astype("Int8"),
            "upsold": pd.array(upsold, dtype="Float64").astype("Int8"),
        }
    )


def derive_label_arrays(
    codes: np.ndarray, days: np.ndarray, left: np.ndarray, arr: np.ndarray,
    explicit_churn: np.ndarray, explicit_up: np.ndarray, horizon_days: int,
    upsell_growth: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The contract's labels on plain arrays (NaN = unknown); vectorised per snapshot date.

    codes: account codes 0..n_accounts-1; days: snapshot dates as day numbers; left:
    status is churned; arr, explicit_churn, explicit_up: floats with NaN for blanks.
    Big books call this directly to avoid building string columns.
    """
    n = len(codes)
    churned = np.full(n, np.nan)
    upsold = np.full(n, np.nan)
    n_accounts = int(codes.max()) + 1 if n else 0
    dates = np.unique(days)
    last_date = dates[-1] if len(dates) else None
    by_date = np.argsort(days, kind="stable")
    sorted_days = days[by_date]
    bounds = {int(d): (int(a), int(b)) for d, a, b in zip(
        dates, np.searchsorted(sorted_days, dates, "left"),
        np.searchsorted(sorted_days, dates, "right"), strict=True)}
    growth = 1.0 + upsell_growth

    for date in dates:
        window = dates[(dates > date) & (dates <= date + horizon_days)]
        if len(window) == 0 or last_date < date + horizon_days:
            continue  # horizon not over yet, or nothing observed within it
        a, b = bounds[int(date)]
        rows = by_date[a:b]
        wa, wb = bounds[int(window[0])][0], bounds[int(window[-1])][1]
        later = by_date[wa:wb]
        la, lb = bounds[int(window[-1])]
        present_at_l = np.zeros(n_accounts, dtype=bool)
        present_at_l[codes[by_date[la:lb]]] = True
        left_in_window = np.zeros(n_accounts, dtype=bool)
        left_in_window[codes[later[left[later]]]] = True
        acc = codes[rows]
        gone = left_in_window[acc] | ~present_at_l[acc]
        churned[rows] = gone.astype("float64")

        later_arr = arr[later]
        has = ~np.isnan(later_arr)
        max_arr = np.full(n_accounts, -np.inf)
        np.maximum.at(max_arr, codes[later][has], later_arr[has])
        max_arr[max_arr == -np.inf] = np.nan
        arr_now = arr[rows]
        arr_later = max_arr[acc]
        with np.errstate(invalid="ignore"):
            grew = np.where(arr_now > 0, arr_later >= growth * arr_now * (1 - 1e-9), arr_later > 0)
        up = np.where(~np.isnan(arr_now), grew.astype("float64"), np.nan)
        up[gone] = 0.0
        upsold[rows] = up

    churned = np.where(np.isnan(explicit_churn), churned, explicit_churn)
    upsold = np.where(np.isnan(explicit_up), upsold, explicit_up)
    # An explicit churn with no explicit upsell label means no upsell.
    upsold[(explicit_churn == 1) & np.isnan(explicit_up)] = 0.0
    return churned, upsold


def label_summary(labels: pd.DataFrame) -> dict[str, int]:
    """Counts a person can check: how many rows are known, and how many positives."""
    return {
        "rows": len(labels),
        "churn_known": int(labels["churned"].notna().sum()),
        "churned": int((labels["churned"] == 1).sum()),
        "upsell_known": int(labels["upsold"].notna().sum()),
        "upsold": int((labels["upsold"] == 1).sum()),
    }
