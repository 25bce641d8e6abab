"""`outcomes ingest --sql/--source/--preview` and `outcomes push` as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.crm.push import push_after_scoring
from storage.demo_book import DemoSpec, generate
from storage.store import Store
from tests.bot.crm_book import account_id, score_book
from tests.fakes.crm_api import FakeHubSpot, FakeSalesforce

HUB_TOKEN = "pat-na1-test"


def run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


@pytest.fixture()
def lake(tmp_path: Path) -> Path:
    """The demo book exported into a DuckDB file, as docs/sources.md does."""
    import duckdb

    path = tmp_path / "lake.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("book", generate(DemoSpec(accounts=30, owners=2, months=3)))
        con.execute("CREATE TABLE account_snapshots AS SELECT * EXCLUDE (account_id, as_of),"
                    " account_id AS customer_id, CAST(as_of AS DATE) AS snapshot_date FROM book")
    return path


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return str(path)


def test_ad_hoc_query_preview_ingest_and_rerun(tmp_path: Path, lake: Path) -> None:
    cfg = config(tmp_path, "columns: {customer_id: account_id, snapshot_date: as_of}\n")
    db = tmp_path / "o.db"
    base = ["--config", cfg, "--db", str(db), "ingest", "--sql", "SELECT * FROM account_snapshots",
            "--url", f"duckdb:///{lake}"]
    preview = run(*base, "--preview", "--rows", "4")
    assert preview.exit_code == 0, preview.output
    assert "the first 4 of the query's rows" in preview.output
    assert "customer_id           -> account_id" in preview.output
    assert "plan                  -> metric 'plan' (category)" in preview.output
    assert "These rows follow the data contract." in preview.output
    assert not db.exists()   # a preview stores nothing, not even an empty store

    first = run(*base)
    assert first.exit_code == 0, first.output
    assert "stored" in first.output and "Next: `outcomes score`" in first.output
    again = run(*base)
    assert again.exit_code == 0 and "already ingested, nothing changed" in again.output


def test_a_bad_result_exits_1_naming_column_and_rows(tmp_path: Path, lake: Path) -> None:
    cfg = config(tmp_path, "columns: {customer_id: account_id, snapshot_date: as_of}\n")
    result = run("--config", cfg, "--db", str(tmp_path / "o.db"), "ingest", "--sql",
                 "SELECT customer_id, snapshot_date, -arr AS arr FROM account_snapshots"
                 " ORDER BY customer_id, snapshot_date", "--url", f"duckdb:///{lake}")
    assert result.exit_code == 1
    assert "rejected, nothing from this query result was stored" in result.output
    assert "column 'arr': is negative" in result.output and "at rows 1, 2, 3" in result.output
    with Store(tmp_path / "o.db") as store:
        assert store.counts()["snapshots"] == 0


def test_named_sources_from_app_yaml(tmp_path: Path, lake: Path) -> None:
    cfg = config(tmp_path, f"""
columns: {{customer_id: account_id, snapshot_date: as_of}}
sources:
  lake:
    url: duckdb:///{lake}
    query: SELECT * FROM account_snapshots WHERE snapshot_date >= DATE '2026-10-01'
  warehouse:
    url: postgresql+psycopg://reader@127.0.0.1:9/analytics
    password_env: TEST_WAREHOUSE_PASSWORD
    query: SELECT * FROM cs.snapshots WHERE updated_at > :last_sync
    schedule: {{hour: 5, minute: 30}}
""")
    db = str(tmp_path / "o.db")
    result = run("--config", cfg, "--db", db, "ingest", "--source", "lake")
    assert result.exit_code == 0, result.output
    assert "source 'lake': the query returned" in result.output
    missing = run("--config", cfg, "--db", db, "ingest", "--source", "warehouse", env={})
    assert missing.exit_code == 1 and "set the environment variable TEST_WAREHOUSE_PASSWORD" in missing.output
    unknown = run("--config", cfg, "--db", db, "ingest", "--source", "nope")
    assert unknown.exit_code == 2 and "no source 'nope'" in unknown.output
    both = run("--config", cfg, "--db", db, "ingest", "x.csv", "--source", "lake")
    assert both.exit_code == 2
    settings = load_settings(cfg, db, env={})
    assert settings.sources["warehouse"].source("warehouse").incremental
    assert settings.sources["warehouse"].schedule is not None


def test_source_config_is_checked(tmp_path: Path) -> None:
    cfg = config(tmp_path, "sources:\n  Bad Name:\n    url: duckdb:///x\n    query: SELECT 1\n")
    with pytest.raises(ConfigError, match="source name 'Bad Name'"):
        load_settings(cfg, env={})
    cfg = config(tmp_path, "sources:\n  s:\n    url: duckdb:///x\n    querry: SELECT 1\n")
    with pytest.raises(ConfigError, match="querry"):
        load_settings(cfg, env={})
    cfg = config(tmp_path, "crm:\n  hubspot:\n    fields: {health_score: hs_health}\n")
    fields = load_settings(cfg, env={}).crm.hubspot.fields.mapping()
    assert fields == {"health_score": "hs_health"}   # the fields map is replaced whole


def test_push_dry_run_then_push_then_nothing_changed(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    with Store(db) as store:
        score_book(store, 120)
    with FakeHubSpot(companies={account_id(i): {} for i in range(119)}) as fake:
        env = {"HUBSPOT_ACCESS_TOKEN": HUB_TOKEN, "HUBSPOT_API_URL": fake.base_url}
        dry = run("--db", str(db), "push", "--to", "hubspot", "--dry-run", "--show", "2", env={})
        assert dry.exit_code == 0, dry.output
        assert "hubspot (dry run): 120 of 120 accounts would change (480 fields" in dry.output
        assert ('ACC-00000 (Company 0): outcomes_health_score (never pushed) -> 37;'
                ' outcomes_renewal_index (never pushed) -> "At Risk"') in dry.output
        assert "... and 118 more" in dry.output and "Nothing was sent." in dry.output
        assert fake.calls == []

        no_token = run("--db", str(db), "push", "--to", "hubspot", env={"HUBSPOT_ACCESS_TOKEN": ""})
        assert no_token.exit_code == 1 and "set HUBSPOT_ACCESS_TOKEN" in no_token.output

        pushed = run("--db", str(db), "push", "--to", "hubspot", env=env)
        assert pushed.exit_code == 1   # one company is not in the portal
        assert "119 of 120 changed accounts written (476 fields, 2 requests)" in pushed.output
        assert "ACC-00119: OBJECT_NOT_FOUND" in pushed.output

        fake.companies[account_id(119)] = {}
        retry = run("--db", str(db), "push", "--to", "hubspot", env=env)
        assert retry.exit_code == 0 and "1 of 1 changed accounts written" in retry.output
        steady = run("--db", str(db), "push", "--to", "hubspot", env=env)
        assert steady.exit_code == 0 and "nothing changed since the last push" in steady.output
        dry = run("--db", str(db), "push", "--to", "hubspot", "--dry-run", env={})
        assert "nothing changed since the last push (120 accounts" in dry.output
        fake.companies[account_id(3)]["outcomes_health_score"] = "1"   # edited by hand in HubSpot
        again = run("--db", str(db), "push", "--to", "hubspot", "--all", env=env)
        assert again.exit_code == 0 and "120 of 120 changed accounts written" in again.output
        assert fake.companies[account_id(3)]["outcomes_health_score"] == "58"

    with Store(db) as store:
        runs = store.query("SELECT job, status, detail FROM job_runs ORDER BY id")
    assert [(r["job"], r["status"]) for r in runs] == [("push:hubspot", "partial")] + [
        ("push:hubspot", "ok")] * 3
    assert json.loads(runs[0]["detail"])["failed"] == 1


def test_push_after_scoring_goes_to_each_configured_crm(tmp_path: Path) -> None:
    with FakeHubSpot(companies={account_id(i): {} for i in range(5)}) as hub, \
            FakeSalesforce(accounts={account_id(i): {"Name": "x"} for i in range(5)}) as sf:
        cfg = config(tmp_path, "crm:\n  push_after_scoring: [hubspot, salesforce]\n")
        settings = load_settings(cfg, tmp_path / "o.db", env={
            "HUBSPOT_ACCESS_TOKEN": HUB_TOKEN, "HUBSPOT_API_URL": hub.base_url,
            "SALESFORCE_ACCESS_TOKEN": sf.token, "SALESFORCE_INSTANCE_URL": sf.base_url})
        with Store(settings.db_path) as store:
            score_book(store, 5)
            lines = push_after_scoring(store, settings)
        assert lines[0].startswith("hubspot: 5 of 5 changed accounts written")
        assert lines[1].startswith("salesforce: 5 of 5 changed accounts written")
        assert len(hub.applied) == len(sf.applied) == 5
        settings = settings.model_copy(update={"crm_secrets": load_settings(cfg, env={}).crm_secrets})
        with Store(settings.db_path) as store:
            score_book(store, 5, shift={0: 5})
            lines = push_after_scoring(store, settings)   # no tokens now: said, not raised
        assert lines == ["hubspot: not pushed: set HUBSPOT_ACCESS_TOKEN to a HubSpot private app"
                         " token (scope crm.objects.companies.write)",
                         "salesforce: not pushed: set SALESFORCE_ACCESS_TOKEN and"
                         " SALESFORCE_INSTANCE_URL (an OAuth access token and your org's instance"
                         " URL, e.g. https://acme.my.salesforce.com)"]
