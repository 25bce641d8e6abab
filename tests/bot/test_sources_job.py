"""Scheduled SQL sources: a job per source in the scheduler, `outcomes jobs`, admins told."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from slack_sdk import WebClient

from bot.cli import main
from bot.config import load_settings
from bot.scheduler import build_scheduler, job_specs, run_job
from bot.sources_job import sync_scheduled_source
from storage.demo_book import DemoSpec, generate
from storage.sources import last_sync
from storage.store import Store
from tests.fakes.postgres import READER_PASSWORD, PostgresServer, postgres  # noqa: F401
from tests.fakes.slack_api import FakeSlack

ADMINS = "CADMINS"


def write_config(tmp_path: Path, url: str, query: str, extra: str = "") -> str:
    path = tmp_path / "app.yaml"
    path.write_text(f"""
slack: {{admin_channel: {ADMINS}}}
sources:
  warehouse:
    url: {url}
    password_env: TEST_PG_PASSWORD
    query: "{query}"
    schedule: {{hour: 5, minute: 30}}
{extra}""")
    return str(path)


@pytest.fixture(scope="module")
def warehouse(postgres: PostgresServer) -> str:  # noqa: F811
    book = generate(DemoSpec(accounts=25, owners=2, months=3))
    engine = sa.create_engine(postgres.url)
    book.to_sql("cs_snapshots", engine, index=False, if_exists="replace")
    engine.dispose()
    # Changed an hour ago: a sync reads back to its start time rounded down to the second.
    postgres.psql("ALTER TABLE cs_snapshots ADD COLUMN updated_at timestamptz NOT NULL"
                  " DEFAULT now() - interval '1 hour';"
                  "CREATE VIEW bad_snapshots AS SELECT account_id, as_of, 'n/a' AS arr FROM cs_snapshots;")
    return postgres.create_reader("cs_snapshots", "bad_snapshots")


def test_a_scheduled_source_is_a_job_listed_by_outcomes_jobs(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "duckdb:///x.duckdb", "SELECT 1")
    settings = load_settings(cfg, tmp_path / "o.db", env={})
    spec = next(s for s in job_specs(settings) if s.name == "source:warehouse")
    assert spec.enabled and (spec.cron.hour, spec.cron.minute) == (5, 30)
    with Store(settings.db_path) as store:
        assert "source:warehouse" in {j.id for j in build_scheduler(settings, store, None).get_jobs()}
    listed = CliRunner().invoke(main, ["--config", cfg, "--db", settings.db_path, "jobs"])
    assert listed.exit_code == 0, listed.output
    assert "source:warehouse daily 05:30 UTC" in listed.output


@pytest.mark.slow
def test_scheduled_sync_stores_rescores_and_then_only_reads_what_changed(
        tmp_path: Path, warehouse: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PG_PASSWORD", READER_PASSWORD)
    cfg = write_config(tmp_path, warehouse,
                       "SELECT * FROM cs_snapshots WHERE updated_at > :last_sync")
    settings = load_settings(cfg, tmp_path / "o.db", env={})
    rescored: list[int] = []
    with FakeSlack() as slack, Store(settings.db_path) as store:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        first = sync_scheduled_source(store, settings, "warehouse", client,
                                      rescore=lambda s, _: rescored.append(s.counts()["snapshots"]) or "rescored")
        assert first.stored and first.rows == store.counts()["snapshots"] == rescored[0]
        assert ":white_check_mark: *SQL source* `warehouse`" in slack.posted_to(ADMINS)[0]["text"]

        second = sync_scheduled_source(store, settings, "warehouse", client,
                                       rescore=lambda s, _: rescored.append(-1) or "rescored")
        assert (second.rows, second.stored, second.text) == (0, False, "no new rows")
        assert len(rescored) == 1 and len(slack.posted_to(ADMINS)) == 1   # quiet: nothing new

        runs = store.query("SELECT job, status, detail FROM job_runs ORDER BY id")
        assert [(r["job"], r["status"]) for r in runs] == [("source:warehouse", "ok")] * 2
        assert json.loads(runs[0]["detail"])["scoring"] == "rescored"


@pytest.mark.slow
def test_a_rejected_scheduled_sync_tells_the_admins_and_keeps_its_window(
        tmp_path: Path, warehouse: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PG_PASSWORD", READER_PASSWORD)
    cfg = write_config(tmp_path, warehouse, "SELECT * FROM bad_snapshots ORDER BY 1, 2")
    settings = load_settings(cfg, tmp_path / "o.db", env={})
    with FakeSlack() as slack, Store(settings.db_path) as store:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        assert run_job("source:warehouse", settings, store, client) is not None
        text = slack.posted_to(ADMINS)[0]["text"]
        assert ":x: *SQL source* `warehouse`: nothing stored" in text
        assert "column 'arr': is not a number at rows 1, 2, 3" in text
        assert store.counts()["snapshots"] == 0 and last_sync(store, "warehouse") is None
        assert store.query("SELECT status FROM job_runs") == [{"status": "rejected"}]


@pytest.mark.slow
def test_outcomes_ingest_source_reads_postgres_with_the_password_from_the_environment(
        tmp_path: Path, warehouse: str) -> None:
    cfg = write_config(tmp_path, warehouse, "SELECT * FROM cs_snapshots")
    db = str(tmp_path / "o.db")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", cfg, "--db", db, "ingest", "--source", "warehouse"],
                           env={"TEST_PG_PASSWORD": READER_PASSWORD})
    assert result.exit_code == 0, result.output
    assert "source 'warehouse': the query returned" in result.output and "stored" in result.output
    wrong = runner.invoke(main, ["--config", cfg, "--db", db, "ingest", "--source", "warehouse"],
                          env={"TEST_PG_PASSWORD": "not-it"})
    assert wrong.exit_code == 1 and "the database said" in wrong.output and "not-it" not in wrong.output
    with Store(db) as store:
        rows = pd.DataFrame(store.query("SELECT account_id FROM snapshots"))
    assert len(rows) > 0


def test_the_inbox_job_pushes_after_rescoring_when_configured(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.inbox import process_inbox
    from tests.bot.crm_book import score_book
    from tests.fakes.crm_api import FakeHubSpot

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "book.csv").write_text("account_id,as_of\nACC-00000,2026-11-01\nACC-00001,2026-11-01\n")
    cfg = tmp_path / "app.yaml"
    cfg.write_text(f"slack: {{admin_channel: {ADMINS}}}\ninbox: {{path: {inbox}}}\n"
                   "crm: {push_after_scoring: [hubspot]}\n")
    with FakeHubSpot(companies={"ACC-00000": {}, "ACC-00001": {}}) as hub, FakeSlack() as slack:
        settings = load_settings(str(cfg), tmp_path / "o.db", env={
            "HUBSPOT_ACCESS_TOKEN": hub.token, "HUBSPOT_API_URL": hub.base_url})
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        with Store(settings.db_path) as store:
            process_inbox(store, settings, client, clock=lambda: datetime.now(UTC) + timedelta(minutes=5),
                          scorer=lambda s, _: score_book(s, 2))
        assert sorted(hub.applied) == ["ACC-00000", "ACC-00001"]
        assert "hubspot: 2 of 2 changed accounts written" in slack.posted_to(ADMINS)[0]["text"]
