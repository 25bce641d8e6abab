"""persist.write_scores on a real SQLite file: rows that are explained and rows that are
not, written with different column lists, read back as one table."""

from __future__ import annotations

import numpy as np
import pytest

from scoring import persist
from storage.store import Store


def _columns(accounts: list[str], as_of: str, explained: list[bool]) -> dict[str, object]:
    n = len(accounts)
    pick = np.array(explained)
    text = lambda value: np.where(pick, value, None).astype(object)  # noqa: E731
    return {
        "account_id": np.array(accounts, dtype=object), "as_of": np.array([as_of] * n, dtype=object),
        "health_score": np.linspace(10, 90, n), "churn_probability": np.linspace(0.9, 0.1, n),
        "renewal_index": np.array(["At Risk"] * n, dtype=object),
        "upsell_probability": np.array([np.nan] + [0.5] * (n - 1)),
        "upsell_index": np.array([None] + ["Likely"] * (n - 1), dtype=object),
        "segment_id": np.arange(n) % 3 + 1, "drivers": text('["Seats: Low"]'),
        "levels": text('{"seats":"Low"}'), "churn_model": "churn-v1", "upsell_model": None,
        "scored_at": "2026-12-02T00:00:00", "previous_as_of": text("2026-10-31"),
        "previous_health_score": np.where(pick, 55.0, np.nan),
        "previous_renewal_index": text("Watch"), "previous_upsell_index": text("Likely"),
        "movement": text("down"), "data_gaps": text("[]"),
    }


@pytest.mark.parametrize("bulk", [False, True], ids=["row by row", "indexes rebuilt"])
def test_explained_and_plain_rows_read_back_as_written(tmp_path, monkeypatch, bulk):
    if bulk:
        monkeypatch.setattr(persist, "BULK_ROWS", 1)
    accounts = [f"A{i}" for i in range(7)]
    explained = [i % 3 == 0 for i in range(7)]
    with Store(tmp_path / "o.db") as store:
        indexes = store.query("SELECT name FROM sqlite_master WHERE tbl_name = 'scores'"
                              " AND type = 'index' ORDER BY name")
        with store.transaction() as conn:
            assert persist.write_scores(conn, _columns(accounts, "2026-11-30", explained)) == 7
        rows = {r["account_id"]: r for r in store.query("SELECT * FROM scores")}
        assert len(rows) == 7
        for i, account in enumerate(accounts):
            row = rows[account]
            assert row["churn_model"] == "churn-v1" and row["upsell_model"] is None
            assert row["segment_id"] == i % 3 + 1
            assert row["health_score"] == pytest.approx(10 + 80 * i / 6)
            assert (row["upsell_index"], row["upsell_probability"]) == (
                (None, None) if i == 0 else ("Likely", 0.5))
            got = {c: row[c] for c in persist.EXPLAIN_ONLY}
            if explained[i]:
                assert got == {"drivers": '["Seats: Low"]', "levels": '{"seats":"Low"}',
                               "previous_as_of": "2026-10-31", "previous_health_score": 55.0,
                               "previous_renewal_index": "Watch",
                               "previous_upsell_index": "Likely", "movement": "down",
                               "data_gaps": "[]"}
            else:
                assert set(got.values()) == {None}
        # A row written again unexplained keeps none of its earlier explanation.
        with store.transaction() as conn:
            persist.write_scores(conn, _columns(["A0"], "2026-11-30", [False]))
        again = store.query("SELECT * FROM scores WHERE account_id = 'A0'")[0]
        assert {again[c] for c in persist.EXPLAIN_ONLY} == {None}
        assert store.scalar("SELECT count(*) FROM scores") == 7
        assert store.query("SELECT name FROM sqlite_master WHERE tbl_name = 'scores'"
                           " AND type = 'index' ORDER BY name") == indexes
