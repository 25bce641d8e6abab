"""Books that are not a long clean history: one snapshot with explicit labels, few
labels, few components, nothing known yet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring.errors import ScoringError
from scoring.labels import derive_labels
from scoring.pipeline import score_book
from storage.demo_book import DemoSpec, generate
from storage.store import Store
from tests.scoring.conftest import ingest_frame, settings_for


def _one_snapshot_with_labels(book: pd.DataFrame) -> pd.DataFrame:
    """The demo's 2026-05-01 snapshot with its real outcomes as explicit labels."""
    labels = derive_labels(book, 90, 0.10)
    book = book.assign(churned=labels["churned"].to_numpy(), upsold=labels["upsold"].to_numpy())
    snap = book[(book["as_of"] == "2026-05-01") & (book["status"] == "active")].copy()
    snap["churned"] = snap["churned"].map({1: "yes", 0: "no"})
    snap["upsold"] = snap["upsold"].map({1: "true", 0: "false"})
    return snap


@pytest.mark.slow
def test_single_snapshot_with_explicit_labels(tmp_path):
    book = generate(DemoSpec(accounts=900, months=14))
    snap = _one_snapshot_with_labels(book)
    assert snap["churned"].eq("yes").sum() >= 30
    db = tmp_path / "one.db"
    with Store(db) as store:
        ingest_frame(store, snap, tmp_path / "csv")
        report = score_book(store, settings_for(db))
        assert report.rows_scored == len(snap)
        assert report.model_metrics["churn"]["validation"] == "grouped"
        assert report.model_metrics["churn"]["roc_auc"] > 0.6
        assert store.scalar("SELECT count(DISTINCT as_of) FROM scores") == 1
        # No history: no trend features were used.
        features = json.loads(store.scalar("SELECT features FROM models WHERE kind = 'churn'"))
        assert not [f for f in features if f.endswith("__d3")]
        assert store.scalar("SELECT count(*) FROM scores WHERE drivers IS NULL") == 0


@pytest.mark.slow
def test_few_labels_warn_and_mark_scores_provisional(tmp_path):
    book = generate(DemoSpec(accounts=900, months=14))
    snap = _one_snapshot_with_labels(book).head(150)
    positives = int(snap["churned"].eq("yes").sum())
    assert 2 <= positives < 30
    db = tmp_path / "few.db"
    with Store(db) as store:
        ingest_frame(store, snap, tmp_path / "csv")
        report = score_book(store, settings_for(db))
        assert report.provisional["churn"] is True
        assert any("provisional" in w for w in report.warnings)
        assert "PROVISIONAL" in report.summary()
        assert store.scalar("SELECT provisional FROM models WHERE kind = 'churn' AND active = 1") == 1
        assert store.scalar("SELECT count(*) FROM scores") == len(snap)


@pytest.mark.slow
def test_min_positive_labels_comes_from_settings(fresh_db):
    db = fresh_db()
    with Store(db) as store:
        report = score_book(store, settings_for(db, min_positive_labels=100_000))
        assert report.is_provisional
        assert store.scalar("SELECT count(*) FROM models WHERE provisional = 1") == 2


@pytest.mark.slow
@pytest.mark.parametrize("keep", [["support_tickets_30d", "sev1_tickets_90d", "csat"],
                                  ["logins_30d", "plan"]])
def test_any_subset_of_components(tmp_path, demo_book, keep):
    base = ["account_id", "as_of", "name", "owner_email", "arr", "renewal_date", "products",
            "status"]
    db = tmp_path / "subset.db"
    with Store(db) as store:
        ingest_frame(store, demo_book[base + keep], tmp_path / "csv")
        report = score_book(store, settings_for(db))
        connected = {c.component for c in report.components if c.connected}
        assert connected == {store_settings_component(db, m) for m in keep}
        rows = store.query("SELECT * FROM indicators WHERE model_version = ?",
                           (report.churn_model,))
        assert {r["component"] for r in rows} <= connected
        assert sum(r["weight"] for r in rows) == pytest.approx(1.0)
        assert store.scalar("SELECT count(*) FROM scores") == report.rows_scored > 0


def store_settings_component(db, metric: str) -> str:
    return settings_for(db).component_of(metric)


def test_no_known_outcome_is_a_clear_user_error(tmp_path, demo_book):
    snap = demo_book[demo_book["as_of"] == demo_book["as_of"].max()]
    db = tmp_path / "latest.db"
    with Store(db) as store:
        ingest_frame(store, snap, tmp_path / "csv")
        with pytest.raises(ScoringError, match="cannot score yet"):
            score_book(store, settings_for(db))
        assert store.scalar("SELECT count(*) FROM scores") == 0


@pytest.mark.slow
def test_new_month_scores_only_the_new_date_and_keeps_history(tmp_path, demo_book):
    db = tmp_path / "grow.db"
    last = demo_book["as_of"].max()
    with Store(db) as store:
        ingest_frame(store, demo_book[demo_book["as_of"] < last], tmp_path / "csv1")
        first = score_book(store, settings_for(db))
        old = store.query("SELECT account_id, as_of, health_score FROM scores ORDER BY 1, 2")
        ingest_frame(store, demo_book[demo_book["as_of"] == last], tmp_path / "csv2")
        second = score_book(store, settings_for(db))
        assert second.trained and second.dates_scored == [last]
        assert second.churn_model != first.churn_model
        assert store.scalar("SELECT count(*) FROM models WHERE active = 1") == 2
        kept = store.query("SELECT account_id, as_of, health_score FROM scores"
                           " WHERE as_of < ? ORDER BY 1, 2", (last,))
        assert kept == old
        assert np.isfinite(store.scalar("SELECT avg(health_score) FROM scores WHERE as_of = ?",
                                        (last,)))


@pytest.mark.slow
def test_metrics_named_like_internal_columns(tmp_path, demo_book):
    book = demo_book[["account_id", "as_of", "arr", "renewal_date", "products", "status",
                      "logins_30d", "nps"]].copy()
    book["days_to_renewal"] = 42.0
    book["day"] = np.arange(len(book)) % 7
    book["n_products"] = 5.0
    db = tmp_path / "names.db"
    with Store(db) as store:
        ingest_frame(store, book, tmp_path / "csv")
        report = score_book(store, settings_for(db))
        features = json.loads(store.scalar("SELECT features FROM models WHERE kind = 'churn'"))
        assert "day" in features and "ctx__days_to_renewal" in features
        assert report.rows_scored == int((book["status"] != "churned").sum())


def test_tenure_counts_from_customer_since_when_given(tmp_path) -> None:
    from scoring.features import build_features, load_book, metric_plan
    from storage.ingest import ingest_file
    from storage.store import Store

    csv = tmp_path / "book.csv"
    csv.write_text("account_id,as_of,customer_since,logins\n"
                   "old,2026-01-01,2016-01-01,3\nold,2026-02-01,2016-01-01,3\n"
                   "new,2026-01-01,,4\nnew,2026-02-01,,4\n")
    with Store(tmp_path / "t.db") as store:
        ingest_file(store, csv)
        book = load_book(store, metric_plan(store))
        frame = build_features(book, metric_plan(store)).frame
    tenure = dict(zip(zip(book["account_id"], book["as_of"]), frame["ctx__tenure_days"]))
    assert tenure[("old", "2026-01-01")] == 3653          # ten years, from customer_since
    assert tenure[("new", "2026-01-01")] == 0             # no customer_since: the first snapshot
    assert tenure[("new", "2026-02-01")] == 31
