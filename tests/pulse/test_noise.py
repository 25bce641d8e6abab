"""The pulse respects attention: no DM when nothing of the owner's moved (by default),
at most pulse.max_items movements, snoozed accounts left out."""

from __future__ import annotations

from bot.config import load_settings
from bot.pulse.send import plan_pulses, send_pulses
from bot.slack_client import make_client
from storage.store import Store
from tests.pulse.conftest import dms, scored_book, write_config

NO_SLEEP = lambda seconds: None  # noqa: E731


def default_settings(tmp_path, fake, **overrides):
    """The shipped defaults (no pulse overrides), the fake's URL and the test channels."""
    config = write_config(tmp_path, **overrides)
    text = config.read_text().replace("pulse:\n  send_when_steady: true\n", "")
    config.write_text(text)
    return load_settings(config, tmp_path / "outcomes.db",
                         env={"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url})


def test_by_default_a_steady_owner_gets_no_dm(tmp_path, fake, clock):
    settings = default_settings(tmp_path, fake)
    assert settings.pulse.send_when_steady is False and settings.pulse.max_items == 10
    with Store(settings.db_path) as store:
        scored_book(store, settings)
        assert "ben@example.com" not in {p.pulse.owner for p in plan_pulses(store, settings)}
        run = send_pulses(store, settings, make_client(settings), clock=clock, sleep=NO_SLEEP)
    assert "DBEN" not in dms(fake) and sorted(dms(fake)) == ["DANA", "DCY"]
    assert run.steady_not_sent == 1
