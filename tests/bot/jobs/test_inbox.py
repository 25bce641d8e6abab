"""The watched inbox: good files ingested and moved to processed/, bad ones to rejected/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.inbox import process_inbox
from storage.demo_book import DemoSpec, generate, write_csv
from storage.store import Store
from tests.bot.jobs.conftest import ADMIN_CHANNEL, Clock, make_settings


def test_inbox_moves_good_and_bad_files_and_tells_admins(tmp_path, fake, client):
    inbox = tmp_path / "inbox"
    good = write_csv(generate(DemoSpec(accounts=25, owners=3, months=2)), inbox)
    (inbox / "broken.csv").write_text("name,arr\nAcme,-5\n", encoding="utf-8")
    (inbox / "notes.txt").write_text("not a snapshot file", encoding="utf-8")
    settings = make_settings(tmp_path, fake.api_url, inbox={"path": str(inbox)})
    later = Clock(datetime.now(UTC) + timedelta(minutes=5))
    scored = []
    with Store(settings.db_path) as store:
        run = process_inbox(store, settings, client, clock=later,
                            scorer=lambda s, cfg: scored.append(s.counts()))
        assert sorted(r.name for r in run.named("processed")) == sorted(p.name for p in good)
        assert [r.name for r in run.named("rejected")] == ["broken.csv"]
        assert store.counts()["accounts"] == 25 and len(scored) == 1
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(p.name for p in good)
    assert sorted(p.name for p in (inbox / "rejected").iterdir()) == ["broken.csv",
                                                                      "broken.csv.error.txt"]
    error = (inbox / "rejected" / "broken.csv.error.txt").read_text()
    assert "account_id" in error and "nothing from this file was stored" in error
    assert (inbox / "notes.txt").exists()
    (report,) = fake.posted_to(ADMIN_CHANNEL)
    assert "broken.csv" in report["text"] and "2 files ingested, 1 rejected" in report["text"]
    assert "Rescored" in report["text"]


def test_files_still_being_written_wait_for_the_next_run(tmp_path, fake, client):
    inbox = tmp_path / "inbox"
    write_csv(generate(DemoSpec(accounts=10, owners=2, months=1)), inbox)
    settings = make_settings(tmp_path, fake.api_url, inbox={"path": str(inbox)})
    with Store(settings.db_path) as store:
        run = process_inbox(store, settings, client, clock=Clock(datetime.now(UTC)),
                            scorer=lambda s, cfg: None)
        assert run.results == [] and len(run.waiting) == 1
        assert fake.posted == []
        run = process_inbox(store, settings, client,
                            clock=Clock(datetime.now(UTC) + timedelta(minutes=2)),
                            scorer=lambda s, cfg: None)
        assert len(run.named("processed")) == 1
