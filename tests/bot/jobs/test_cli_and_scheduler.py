"""`outcomes pulse|summary --dry-run|--now`, `outcomes jobs`, and the scheduler."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from click.testing import CliRunner

from bot.cli import main
from bot.scheduler import build_scheduler, job_specs, next_run, run_job, start_scheduler
from storage import deliveries as ledger
from storage.deliveries import JobLock
from storage.store import Store
from tests.bot.jobs.conftest import SUMMARY_CHANNEL, dms, make_settings, scored_book, write_config


def cli(tmp_path, fake, *args):
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url}
    return CliRunner().invoke(main, ["--config", str(tmp_path / "app.yaml"),
                                     "--db", str(tmp_path / "outcomes.db"), *args], env=env)


def test_dry_run_prints_to_whom_and_text_and_sends_nothing(tmp_path, store, settings, fake):
    scored_book(store, settings)
    result = cli(tmp_path, fake, "pulse", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "--- To ana@example.com" in result.output and "--- To cy@example.com / UCY" in result.output
    # As the owner reads it in Slack: emoji, emphasis without its asterisks.
    assert "Watch → 🔴 Likely to Churn  Acme" in result.output
    assert ":red_circle:" not in result.output and "*" not in result.output
    assert fake.calls == [] and store.scalar("SELECT count(*) FROM deliveries") == 0

    result = cli(tmp_path, fake, "summary", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"--- To channel {SUMMARY_CHANNEL}" in result.output and fake.calls == []
    assert re.search(r"🔴 Likely to Churn: \d+ accounts?, ", result.output), result.output
    assert not re.search(r":[a-z_]+:", result.output) and "*" not in result.output


def test_now_sends_then_nothing_new_and_jobs_lists_the_runs(tmp_path, store, settings, fake):
    scored_book(store, settings)
    result = cli(tmp_path, fake, "pulse", "--now")
    assert result.exit_code == 0, result.output
    assert "3 sent, 1 failed" in result.output and "dee@example.com" in result.output
    assert len(dms(fake)) == 3
    result = cli(tmp_path, fake, "pulse", "--now")
    assert "0 sent" in result.output and sum(len(m) for m in dms(fake).values()) == 3

    result = cli(tmp_path, fake, "summary", "--now")
    assert result.exit_code == 0, result.output
    assert len(fake.posted_to(SUMMARY_CHANNEL)) == 1

    result = cli(tmp_path, fake, "jobs")
    assert result.exit_code == 0, result.output
    assert "pulse    mon 09:00 UTC" in result.output and "partial" in result.output
    assert "inbox" in result.output and "off (set inbox.path)" in result.output
    assert "pulse:dee@example.com:2026-11-01 failed" in result.output


def test_usage_errors(tmp_path, store, settings, fake):
    assert cli(tmp_path, fake, "pulse").exit_code == 2
    result = cli(tmp_path, fake, "pulse", "--now")          # nothing scored
    assert result.exit_code == 1 and "nothing is scored yet" in result.output
    result = cli(tmp_path, fake, "pulse", "--release", "pulse:x:2026-01-01")
    assert result.exit_code == 1 and "nothing to release" in result.output


def test_schedule_follows_app_yaml_and_time_zone(tmp_path, fake):
    settings = make_settings(tmp_path, fake.api_url, schedule={
        "timezone": "Europe/Paris", "pulse": {"day_of_week": "tue", "hour": 8, "minute": 15}},
        inbox={"path": str(tmp_path)})
    specs = {s.name: s for s in job_specs(settings)}
    monday_noon_utc = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    nxt = next_run(specs["pulse"], monday_noon_utc)
    assert nxt.isoformat() == "2026-11-24T08:15:00+01:00"
    assert next_run(specs["inbox"], monday_noon_utc).isoformat() == "2026-11-24T06:00:00+01:00"
    with Store(settings.db_path) as store:
        scheduler = build_scheduler(settings, store, None)
        assert sorted(j.id for j in scheduler.get_jobs()) == ["inbox", "pulse", "summary"]


def test_scheduler_runs_the_pulse_and_a_locked_job_is_skipped(store, settings, client, fake):
    scored_book(store, settings)
    with JobLock(store, "job:pulse", holder="other-instance"):
        assert run_job("pulse", settings, store, client) is None     # logged, not raised
    assert fake.posted == []
    scheduler = start_scheduler(settings, store, client)
    try:
        scheduler.get_job("pulse").modify(next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 15
        while len(dms(fake)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    assert ledger.last_runs(store)["pulse"]["status"] == "partial"


def test_write_config_helper_keeps_slack_channels(tmp_path):
    assert "CSUMMARY" in write_config(tmp_path).read_text()


def test_a_run_missed_while_the_app_was_down_happens_at_start(store, settings):
    from tests.bot.jobs.conftest import Clock

    monday_0905 = Clock(datetime(2026, 11, 23, 9, 5, tzinfo=UTC))
    scheduler = build_scheduler(settings, store, None, clock=monday_0905)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    # Not started: APScheduler keeps the asked next_run_time as is.
    assert jobs["pulse"].next_run_time == monday_0905()
    assert getattr(jobs["summary"], "next_run_time", None) is None   # 09:30 is still to come
    run_id = ledger.start_run(store, "pulse", now=monday_0905())
    ledger.finish_run(store, run_id, "ok", None, now=monday_0905())
    again = build_scheduler(settings, store, None, clock=monday_0905)
    assert getattr(again.get_job("pulse"), "next_run_time", None) is None   # it did run
