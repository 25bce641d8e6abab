"""The data contract's worked example for derived outcome labels."""

from __future__ import annotations

import pandas as pd

from scoring.labels import derive_labels


def book(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "as_of", "status", "arr", "churned", "upsold"])


def labels_of(df: pd.DataFrame) -> dict[tuple[str, str], tuple]:
    out = derive_labels(df, horizon_days=90, upsell_growth=0.10)
    return {(r.account_id, r.as_of): (r.churned, r.upsold) for r in out.itertuples()}


def test_contract_example_monthly_snapshots() -> None:
    dates = ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01"]
    rows = []
    for d in dates:
        rows.append(("stays", d, "active", 100.0, None, None))
        if d <= "2025-02-01":
            rows.append(("leaves", d, "active", 100.0, None, None))  # present 02-01, gone 04-01
        rows.append(("grows", d, "active", 100.0 if d < "2025-03-01" else 110.0, None, None))
        rows.append(("marked", d, "churned" if d == "2025-03-01" else "active", 50.0, None, None))
    labels = labels_of(book(rows))
    assert labels[("stays", "2025-01-01")] == (0, 0)
    assert labels[("leaves", "2025-01-01")] == (1, 0)
    assert labels[("grows", "2025-01-01")] == (0, 1)          # +10% is an upsell
    assert labels[("marked", "2025-01-01")] == (1, 0)          # status churned within the horizon
    # 2025-02-01 + 90 days = 2025-05-02: no snapshot on or after it, so unknown.
    assert labels[("stays", "2025-02-01")] == (pd.NA, pd.NA) or pd.isna(labels[("stays", "2025-02-01")][0])


def test_explicit_labels_win_and_single_snapshot_works() -> None:
    labels = labels_of(book([
        ("a", "2025-01-01", "active", 10.0, 1.0, None),
        ("b", "2025-01-01", "active", 10.0, 0.0, 1.0),
        ("c", "2025-01-01", "active", 10.0, None, None),
    ]))
    assert labels[("a", "2025-01-01")] == (1, 0)
    assert labels[("b", "2025-01-01")] == (0, 1)
    assert all(pd.isna(v) for v in labels[("c", "2025-01-01")])


def test_upsell_unknown_without_arr_and_from_zero_any_growth_counts() -> None:
    dates = ["2025-01-01", "2025-02-01", "2025-04-01"]
    rows = [("n", d, "active", None if d == "2025-01-01" else 5.0, None, None) for d in dates]
    rows += [("z", d, "active", 0.0 if d == "2025-01-01" else 5.0, None, None) for d in dates]
    labels = labels_of(book(rows))
    assert labels[("n", "2025-01-01")][0] == 0 and pd.isna(labels[("n", "2025-01-01")][1])
    assert labels[("z", "2025-01-01")] == (0, 1)
