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
    df = snapshots[["account_id", "as_of"]].copy()
    for optional in ("status", "arr", "churned", "upsold"):
        df[optional] = snapshots[optional] if optional in snapshots else np.nan
    df["_date"] = pd.to_datetime(df["as_of"])
    df["_row"] = np.arange(len(df))
    dates = np.sort(df["_date"].unique())
    horizon = pd.Timedelta(days=int(horizon_days))
    last_date = dates[-1] if len(dates) else None

    churned = pd.Series(pd.NA, index=df.index, dtype="Float64")
    upsold = pd.Series(pd.NA, index=df.index, dtype="Float64")
    left = (df["status"].astype("string").str.lower() == "churned").to_numpy()

    for date in dates:
        window = dates[(dates > date) & (dates <= date + horizon)]
        if len(window) == 0 or last_date < date + horizon:
            continue  # horizon not over yet, or nothing observed within it
        rows = df.index[df["_date"].to_numpy() == date]
        later = df[(df["_date"] > date) & (df["_date"] <= date + horizon)]
        present_at_l = set(later.loc[later["_date"] == window[-1], "account_id"])
        left_in_window = set(later.loc[left[later.index], "account_id"])
        accounts = df.loc[rows, "account_id"]
        gone = accounts.isin(left_in_window) | ~accounts.isin(present_at_l)
        churned.loc[rows] = gone.astype("float64").to_numpy()

        max_arr = later.groupby("account_id")["arr"].max()
        arr_now = df.loc[rows, "arr"].astype("float64")
        arr_later = accounts.map(max_arr).astype("float64")
        grew = np.where(
            arr_now > 0, arr_later >= (1 + upsell_growth) * arr_now, arr_later > 0
        ).astype("float64")
        known = arr_now.notna().to_numpy()
        up = pd.Series(np.where(known, grew, np.nan), index=rows, dtype="Float64")
        up[gone.to_numpy()] = 0.0
        upsold.loc[rows] = up

    explicit_churn = pd.to_numeric(df["churned"], errors="coerce")
    explicit_up = pd.to_numeric(df["upsold"], errors="coerce")
    churned = churned.where(explicit_churn.isna(), explicit_churn.astype("Float64"))
    upsold = upsold.where(explicit_up.isna(), explicit_up.astype("Float64"))
    # An explicit churn with no explicit upsell label means no upsell.
    upsold = upsold.mask(((explicit_churn == 1) & explicit_up.isna()).to_numpy(), 0.0)
    return pd.DataFrame(
        {
            "account_id": df["account_id"].to_numpy(),
            "as_of": df["as_of"].to_numpy(),
            "churned": churned.astype("Int8"),
            "upsold": upsold.astype("Int8"),
        }
    )


def label_summary(labels: pd.DataFrame) -> dict[str, int]:
    """Counts a person can check: how many rows are known, and how many positives."""
    return {
        "rows": len(labels),
        "churn_known": int(labels["churned"].notna().sum()),
        "churned": int((labels["churned"] == 1).sum()),
        "upsell_known": int(labels["upsold"].notna().sum()),
        "upsold": int((labels["upsold"] == 1).sum()),
    }
