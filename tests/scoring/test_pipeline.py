"""score_book end to end on a small demo book: the table contract, reruns, reproducibility."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from scoring import parallel, persist, pipeline
from scoring.errors import ModelError
from scoring.indexes import movements, score_history
from scoring.persist import pipeline_from_bytes
from scoring.pipeline import score_book
from storage.store import Store
from tests.scoring.conftest import settings_for

pytestmark = pytest.mark.slow   # trains on the demo book (scored_db)


DRIVER_TEXT = re.compile(
    r"^[^:]+: ((Low|Medium|High) for its segment - \S+ vs \S+ typical(, (up|down) \d+% in 3 months)?"
    r"|no data \(\S+ typical for its segment\)|.+ \(.+ is typical for its segment\))$"
)


def test_every_current_row_is_scored_with_a_series(scored_db):
    db, report = scored_db
    with Store(db) as store:
        wanted = store.scalar(
            "SELECT count(*) FROM snapshots WHERE status IS NULL OR status != 'churned'")
        assert store.scalar("SELECT count(*) FROM scores") == wanted == report.rows_scored
        assert store.scalar("SELECT count(*) FROM scores s JOIN snapshots p USING (account_id,"
                            " as_of) WHERE p.status = 'churned'") == 0
        dates = store.scalar("SELECT count(DISTINCT as_of) FROM scores")
        assert dates == store.scalar("SELECT count(DISTINCT as_of) FROM snapshots")
        row = store.query("SELECT * FROM scores LIMIT 1")[0]
        assert 0 <= row["health_score"] <= 100
        settings = settings_for(db)
        # Health is the standing within the date: a higher churn probability, a lower health.
        latest = store.frame("SELECT health_score, churn_probability FROM scores"
                             " WHERE as_of = (SELECT max(as_of) FROM scores)"
                             " ORDER BY churn_probability")
        assert latest["health_score"].is_monotonic_decreasing
        assert latest["health_score"].max() > 95 and latest["health_score"].min() < 5
        assert row["renewal_index"] == settings.renewal_category(row["health_score"])
        # Every stored category is the plain band, or the previous period's kept by the
        # dead band (health within renewal_hysteresis of that band): indexes doc.
        edges = {b.name: (b.min, up.min if up else 100.0) for b, up in
                 zip(settings.renewal_bands, (None, *settings.renewal_bands[:-1]))}
        m = settings.renewal_hysteresis
        for r in store.query("SELECT health_score h, renewal_index c, previous_renewal_index p"
                             " FROM scores"):
            if r["c"] != settings.renewal_category(r["h"]):
                low, high = edges[r["c"]]
                assert r["c"] == r["p"] and (low == 0 or r["h"] >= low - m) and r["h"] < high + m
        assert row["upsell_index"] in settings.upsell_categories
        history = score_history(store)
        assert history["previous_renewal_index"].notna().mean() > 0.8


def test_rerun_with_no_new_data_does_not_retrain(scored_db):
    db, _ = scored_db
    with Store(db) as store:
        before = store.query("SELECT version, trained_at FROM models ORDER BY version")
        scored_at = store.scalar("SELECT max(scored_at) FROM scores")
        again = score_book(store, settings_for(db))
        assert again.up_to_date and not again.trained and again.rows_scored == 0
        assert store.query("SELECT version, trained_at FROM models ORDER BY version") == before
        assert store.scalar("SELECT max(scored_at) FROM scores") == scored_at
        assert "up to date" in again.summary()


def test_two_runs_on_the_same_data_give_identical_output(scored_db, fresh_db, monkeypatch):
    # The second run does one thing after the other (one core: models, predictions,
    # features), the first side by side wherever the machine has two cores (CI's has): the
    # same output either way.
    db, _ = scored_db
    other = fresh_db()
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    stages = []
    with Store(other) as store:
        report = score_book(store, settings_for(other), progress=lambda s, i, n: stages.append(s))
    assert stages == list(pipeline.STAGES)
    assert set(report.timings) == set(pipeline.STAGES)
    with Store(db) as a, Store(other) as b:
        for sql in SAME_OUTPUT:
            assert a.query(sql) == b.query(sql), sql


def _fork_allowed(monkeypatch) -> list[int]:
    """Let `parallel.in_child` fork as in `outcomes score` on two cores; returns the list
    the children's pids go to. The process must have no other thread, as there: a fake
    that leaves one running (and a fork would then copy its half-held state) fails here."""
    import threading

    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(parallel, "_memory_for_a_copy", lambda: True)
    forked: list[int] = []
    start = parallel.Pending._start
    monkeypatch.setattr(parallel.Pending, "_start",
                        lambda self: start(self) or forked.append(self._pid))
    return forked


def test_upsell_model_and_drivers_in_child_processes_give_the_same_output(scored_db, fresh_db,
                                                                          monkeypatch):
    # The upsell model is trained and scored in a forked child beside the churn model, the
    # drivers in another while this process writes the history rows.
    forked = _fork_allowed(monkeypatch)
    db, _ = scored_db
    other = fresh_db()
    with Store(other) as store:
        score_book(store, settings_for(other))
    assert len(forked) == 2 and all(pid > 0 for pid in forked)
    with Store(db) as a, Store(other) as b:
        for sql in SAME_OUTPUT:
            assert a.query(sql) == b.query(sql), sql


def test_an_upsell_model_that_fails_in_its_child_is_reported_as_in_one_process(fresh_db,
                                                                              monkeypatch):
    # The child's error is not lost: the work runs again here, raises here, and the run
    # goes on without an Upsell Index, as when it trains on a thread.
    forked = _fork_allowed(monkeypatch)
    trained = pipeline._trained_entry

    def no_upsell(kind, *args):
        if kind == "upsell":
            raise ModelError("upsell: no account has a known positive outcome")
        return trained(kind, *args)

    monkeypatch.setattr(pipeline, "_trained_entry", no_upsell)
    db = fresh_db()
    with Store(db) as store:
        report = score_book(store, settings_for(db))
        assert store.query("SELECT kind FROM models WHERE active = 1") == [{"kind": "churn"}]
        assert store.scalar("SELECT count(*) FROM scores WHERE upsell_index IS NOT NULL") == 0
        assert store.scalar("SELECT count(*) FROM scores") == report.rows_scored > 0
    assert len(forked) == 2   # the upsell child (which failed) and the drivers'
    assert report.upsell_model is None
    assert "no Upsell Index: upsell: no account has a known positive outcome" in report.warnings


def test_the_book_read_in_parts_by_helper_processes_equals_one_read(fresh_db, monkeypatch):
    import pandas as pd

    from scoring import features

    db = fresh_db()
    with Store(db) as store:
        plan = features.metric_plan(store)
        alone = features.load_book(store, plan)
        monkeypatch.setattr(features, "SPLIT_READ_ROWS", 0)
        monkeypatch.setattr(parallel, "cores", lambda: 3)
        spawned, read_here = [], []
        real_start, real_fetch = features.split_read._start, features.split_read._fetch
        monkeypatch.setattr(features.split_read, "_start",
                            lambda uri, count: spawned.append(count) or real_start(uri, count))
        monkeypatch.setattr(features.split_read, "_fetch", lambda conn, part, out:
                            read_here.append(part.rows) or real_fetch(conn, part, out))
        split = features.load_book(store, plan)
    assert spawned == [2]
    assert len(read_here) == 1 and 0 < read_here[0] < len(alone)   # the rest by the helpers
    pd.testing.assert_frame_equal(split, alone)


SAME_OUTPUT = [
    ("SELECT account_id, as_of, health_score, churn_probability, renewal_index,"
     " upsell_probability, upsell_index, segment_id, drivers, levels, churn_model,"
     " upsell_model, previous_as_of, previous_health_score, previous_renewal_index,"
     " previous_upsell_index, movement, data_gaps FROM scores ORDER BY account_id, as_of"),
    "SELECT * FROM indicators ORDER BY model_version, component",
    "SELECT * FROM segments ORDER BY run, segment_id",
    "SELECT kind, version, features, metrics, provisional FROM models ORDER BY kind",
    ("SELECT account_id, as_of, churn_model, churn_probability, health_score, renewal_index,"
     " upsell_probability, upsell_index FROM prediction_ledger ORDER BY account_id, as_of"),
]


def test_rows_left_unscored_are_scored_by_the_stored_models_as_before(scored_db, fresh_db):
    db, _ = scored_db
    copy = fresh_db()
    shutil.copy(db, copy)
    stages = []
    with Store(copy) as store:
        latest = store.scalar("SELECT max(as_of) FROM scores")
        gone = store.conn.execute("DELETE FROM scores WHERE as_of = ?", (latest,)).rowcount
        report = score_book(store, settings_for(copy), progress=lambda s, i, n: stages.append(s))
    assert not report.trained and report.rows_scored == gone > 0
    assert "Training models" not in stages and stages[-4:] == ["Scoring", "Segments", "Drivers",
                                                               "Saving"]
    with Store(db) as a, Store(copy) as b:
        for sql in SAME_OUTPUT:
            assert a.query(sql) == b.query(sql), sql


def test_models_are_stored_whole_with_their_metadata(scored_db):
    db, report = scored_db
    with Store(db) as store:
        rows = store.query("SELECT * FROM models WHERE active = 1 ORDER BY kind")
        assert [r["kind"] for r in rows] == ["churn", "upsell"]
        for row in rows:
            metrics = json.loads(row["metrics"])
            for key in ("roc_auc", "pr_auc", "n_refit", "n_positive", "family", "validation",
                        "calibration", "backtest"):
                assert key in metrics
            assert metrics["validation"] == "walk-forward"
            assert len(metrics["backtest"]["cutoffs"]) >= 4
            assert metrics["backtest"]["test_from"] >= metrics["backtest"]["cutoffs"][1]
            assert metrics["roc_auc"] == metrics["backtest"]["roc_auc"]
            assert row["version"].startswith(f"{row['kind']}-{row['train_end']}-")
            assert json.loads(row["lib_versions"])["scikit-learn"]
            pipe = pipeline_from_bytes(row["blob"])
            assert hasattr(pipe, "named_steps") and "prep" in pipe.named_steps
            assert len(json.loads(row["features"])) > 10
        upsell = json.loads(rows[1]["metrics"])
        assert 0 < upsell["threshold"] < 1
        assert upsell["threshold_precision"] is not None and upsell["threshold_recall"] is not None
        assert report.model_metrics["churn"]["roc_auc"] > 0.75


def test_leading_indicators_sum_to_one_and_find_product_usage(scored_db):
    db, _ = scored_db
    with Store(db) as store:
        for kind in ("churn", "upsell"):
            version = store.scalar("SELECT version FROM models WHERE kind = ? AND active = 1",
                                   (kind,))
            rows = store.query("SELECT * FROM indicators WHERE model_version = ?"
                               " ORDER BY weight DESC", (version,))
            assert sum(r["weight"] for r in rows) == pytest.approx(1.0, abs=1e-6)
            assert all(r["direction"] for r in rows)
            detail = json.loads(rows[0]["detail"])
            assert sum(detail.values()) == pytest.approx(rows[0]["weight"], abs=0.01)
            if kind == "churn":
                assert rows[0]["component"] == "Product usage"
                assert "churn risk" in rows[0]["direction"]


def test_drivers_follow_the_contract(scored_db):
    db, _ = scored_db
    with Store(db) as store:
        current = persist.export_frame(store)
        latest = store.query(
            "SELECT s.account_id, s.drivers, s.levels FROM scores s JOIN (SELECT account_id,"
            " max(as_of) m FROM scores GROUP BY account_id) l ON l.account_id = s.account_id"
            " AND l.m = s.as_of")
        latest = [r for r in latest if r["account_id"] in set(current["account_id"])]
        assert len(latest) == len(current) > 100
        assert all(r["drivers"] is not None and r["levels"] for r in latest)
        book = json.loads(store.scalar("SELECT metrics FROM models WHERE kind = 'churn'"
                                       " AND active = 1"))["directions"]
        seen = 0
        order = {"down": 0, "up": 1, "unclear": 2}
        for row in latest:
            drivers = json.loads(row["drivers"])
            directions = [d["direction"] for d in drivers]
            assert directions == sorted(directions, key=order.__getitem__)
            assert all(directions.count(k) <= 3 for k in order)
            for d in drivers:
                assert set(d) == {"direction", "component", "metric", "label", "unit", "value",
                                  "typical", "level", "sense", "points", "change_3m_pct"}
                # Never a metric with no data or at its segment's typical level.
                assert d["value"] is not None
                assert d["level"] in ("Low", "High") or isinstance(d["value"], str)
                assert d["value"] != d["typical"]
                assert abs(d["points"]) >= 0.5
                seen += 1
                if d["direction"] == "unclear":
                    assert d["sense"] == "unclear"
                    continue
                assert (d["points"] < 0) == (d["direction"] == "down") == (d["sense"] == "bad")
                if d["level"] in ("Low", "High"):
                    # The churn model's own book-wide direction says the same: High on a
                    # metric where more is healthier holds the score up, Low pulls it down.
                    healthier = -book[d["metric"]]
                    side = 1 if d["level"] == "High" else -1
                    assert healthier * side == (1 if d["direction"] == "up" else -1), d
            assert set(json.loads(row["levels"]).values()) <= {"Low", "Medium", "High"}
        assert seen > len(latest)


def test_segments_have_profiles_and_benchmarks(scored_db):
    db, _report = scored_db
    with Store(db) as store:
        run = store.scalar("SELECT version FROM models WHERE kind = 'churn' AND active = 1")
        rows = persist.segments_frame(store, run).to_dict("records")
        assert 2 <= len(rows) <= 6
        assert len({r["name"] for r in rows}) == len(rows)
        for r in rows:
            bench = json.loads(r["benchmarks"])
            assert "logins_30d" in bench
            for b in bench.values():
                assert b["low"] <= b["median"] <= b["high"]
            assert 0 <= r["churn_rate"] <= 1 and 0 <= r["upsell_rate"] <= 1
            assert json.loads(r["top_products"])
        arr = [r["avg_arr"] for r in rows]
        assert arr == sorted(arr, reverse=True)


def test_components_show_what_is_connected(scored_db):
    db, _ = scored_db
    with Store(db) as store:
        rows = {r["component"]: r for r in store.query("SELECT * FROM components")}
        assert rows["Product usage"]["connected"] == 1
        assert rows["Product usage"]["coverage"] == 1.0
        assert rows["Marketing engagement"]["connected"] == 0
        assert json.loads(rows["Marketing engagement"]["present"]) == []
        assert 0 < rows["Sentiment"]["coverage"] < 1


def test_movements_are_queryable(scored_db):
    db, _ = scored_db
    with Store(db) as store:
        moved = movements(store, settings_for(db))
        assert len(moved)
        assert set(moved["renewal_move"].dropna()) <= {"better", "worse"}
        worse = moved[moved["renewal_move"] == "worse"].iloc[0]
        settings = settings_for(db)
        order = settings.renewal_categories
        assert order.index(worse["renewal_index"]) > order.index(worse["previous_renewal_index"])
        dated = movements(store, settings, as_of=moved["as_of"].iloc[0])
        assert (dated["as_of"] == moved["as_of"].iloc[0]).all()


def test_indicator_directions_follow_the_documented_causes(scored_db):
    """storage/demo_book.py: falling usage, late payments and sev-1 tickets raise churn.
    Directions are read off the final model's attributions; none may be reversed."""
    from bot.config import load_settings
    from scoring import explain
    from scoring.pipeline import _prepare, _recent_rows

    db, _ = scored_db
    settings = load_settings().for_scoring
    with Store(db) as store:
        fs = _prepare(store, settings).features
        row = store.query("SELECT version, features FROM models WHERE kind = 'churn'"
                          " AND active = 1")[0]
        feats = json.loads(row["features"])
        pipe = persist.load_pipeline(store, row["version"])
        X = fs.frame.iloc[_recent_rows(fs.keys["as_of"].to_numpy())][feats]
        signs = explain.indicator_basis(pipe, feats, X.reset_index(drop=True), fs.base_of,
                                        settings.component_of, set(fs.categorical)).signs
        texts = {r["component"]: r["direction"] for r in store.query(
            "SELECT component, direction FROM indicators WHERE model_version = ?",
            (row["version"],))}
    usage = [signs[m] for m in ("logins_30d", "seats_used", "active_users", "feature_adoption_pct")]
    assert 1 not in usage and usage.count(-1) >= 2, usage   # more usage, lower churn risk
    assert signs["days_since_last_login"] >= 0
    assert signs["sev1_tickets_90d"] == 1
    assert signs["payment_late_days"] >= 0         # never "more late days, lower risk"
    assert re.search(r"lower( churn risk)? with [^;]*more seats used", texts["Product usage"])
    assert "higher churn risk with" in texts["Support"] and "sev1 tickets" in texts["Support"]
    assert "more payment late days, lower churn risk" not in texts["Billing"]
