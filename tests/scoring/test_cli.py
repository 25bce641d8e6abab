"""The scoring commands through click, on the scored demo database."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.commands.scoring import EXPORT_COLUMNS

REQUIRED = ["account_id", "name", "owner_email", "as_of", "health_score", "renewal_index",
            "upsell_probability", "upsell_index", "previous_renewal_index",
            "previous_upsell_index", "segment"]


def _run(db, *args):
    result = CliRunner().invoke(main, ["--db", str(db), *args], catch_exceptions=False)
    return result


@pytest.mark.slow
def test_export_csv_has_the_writeback_columns(scored_db, tmp_path):
    db, _report = scored_db
    result = _run(db, "export", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[: len(REQUIRED)] == REQUIRED
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert len({r["account_id"] for r in rows}) == len(rows) > 100
    assert all(r["segment"] for r in rows)
    assert sum(1 for r in rows if r["previous_renewal_index"]) > 0.8 * len(rows)
    latest = max(r["as_of"] for r in rows)
    assert sum(r["as_of"] == latest for r in rows) > 0.8 * len(rows)


@pytest.mark.slow
def test_export_json_to_a_file(scored_db, tmp_path):
    db, _ = scored_db
    out = tmp_path / "scores.json"
    result = _run(db, "export", "--format", "json", "--out", str(out))
    assert result.exit_code == 0
    records = json.loads(out.read_text())
    assert set(REQUIRED) <= set(records[0])
    assert 0 <= records[0]["health_score"] <= 100


@pytest.mark.slow
def test_evaluate_json_reports_ordered_rates(scored_db, tmp_path):
    db, _ = scored_db
    copy = tmp_path / "eval.db"
    shutil.copy(db, copy)
    result = _run(copy, "evaluate", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    churn = figures["churn"]
    assert churn["scheme"] == "walk-forward" and len(churn["cutoffs"]) >= 4
    for key in ("roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc", "calibration_ratio",
                "calibration_ratio_low", "calibration_ratio_high",
                "top_decile_lift"):
        assert churn[key] is not None
    assert churn["baseline"]["roc_auc"] is not None
    assert churn["roc_auc"] > 0.7
    assert [c["category"] for c in churn["categories"]] == [
        "Likely to Renew", "Watch", "At Risk", "Likely to Churn"]
    deciles = figures["upsell"]["deciles"]
    assert deciles[0]["realised_rate"] > deciles[-1]["realised_rate"]
    # The same figures as the model that scores (stored at training time).
    from scoring import persist
    from storage.store import Store

    with Store(copy) as store:
        stored = persist.active_models(store)["churn"]["metrics"]["backtest"]
    assert stored["roc_auc"] == churn["roc_auc"] and stored["categories"] == churn["categories"]
    # Leading Indicators with a bootstrap interval, the same weights as the stored ones.
    with Store(copy) as store:
        version = persist.active_models(store)["churn"]["version"]
        weights = {r["component"]: r["weight"] for r in persist.indicator_rows(store, version)}
    shown = churn["indicators"]
    assert {i["component"]: i["weight"] for i in shown} == weights
    for i in shown:
        assert i["weight_low"] <= i["weight_high"] and 0 <= i["weight_low"] <= 1
    assert any(i["weight_high"] > i["weight_low"] for i in shown)


@pytest.mark.slow
def test_evaluate_beats_the_baseline_with_ordered_churn_rates(tmp_path):
    from storage.demo_book import DemoSpec, generate
    from storage.store import Store
    from tests.scoring.conftest import ingest_frame

    db = tmp_path / "eval1k.db"
    with Store(db) as store:
        ingest_frame(store, generate(DemoSpec(accounts=1500, months=16, seed=7)), tmp_path / "csv")
    result = _run(db, "evaluate", "--json")
    assert result.exit_code == 0, result.output
    churn = json.loads(result.stdout)["churn"]
    assert churn["roc_auc"] >= churn["baseline"]["roc_auc"]
    assert churn["monotonic"] is True
    rates = [c["realised_rate"] for c in churn["categories"] if c["rows"] >= 30]
    assert rates == sorted(rates) and len(rates) >= 2
    text = _run(db, "evaluate").stdout
    assert "plain gradient boosting" in text and "Likely to Churn" in text


@pytest.mark.slow
def test_segments_export_writes_one_csv_per_segment(scored_db, tmp_path):
    db, _ = scored_db
    result = _run(db, "segments", "--export", str(tmp_path / "segs"))
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "segs").glob("segment-*.csv"))
    listed = [line for line in result.stdout.splitlines() if line[:1].isdigit()]
    assert len(files) == len(listed) >= 2
    with files[0].open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and "logins_30d_level" in rows[0]
    assert {r["logins_30d_level"] for r in rows} <= {"Low", "Medium", "High", ""}


def test_commands_explain_themselves_and_fail_cleanly(tmp_path):
    for command in ("score", "export", "evaluate", "segments"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and len(result.output) > 100
    empty = tmp_path / "empty.db"
    result = CliRunner().invoke(main, ["--db", str(empty), "export"])
    assert result.exit_code == 1
    assert "outcomes score" in result.output
    result = CliRunner().invoke(main, ["--db", str(empty), "score"])
    assert result.exit_code == 1 and "outcomes ingest" in result.output
