"""The pulse respects attention: no DM when nothing of the owner's moved (by default),
at most pulse.max_items movements, snoozed accounts left out."""

from __future__ import annotations

from bot.config import load_settings
from bot.pulse.send import plan_pulses, send_pulses
from bot.slack_client import make_client
from storage.store import Store
from tests.bot.jobs.conftest import PERIOD1, PERIOD2, dms, scored_book, write_config

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
        # Ben's accounts keep both their categories (an Upsell Index move is a movement).
        scored_book(store, settings, (PERIOD1, {**PERIOD2, "B2": ("Watch", False)}))
        assert "ben@example.com" not in {p.pulse.owner for p in plan_pulses(store, settings)}
        run = send_pulses(store, settings, make_client(settings), clock=clock, sleep=NO_SLEEP)
    assert "DBEN" not in dms(fake) and sorted(dms(fake)) == ["DANA", "DCY"]
    assert run.steady_not_sent == 1


def ana_movements(store, settings) -> list[str]:
    from bot.pulse.build import build_pulses

    (ana,) = [p for p in build_pulses(store, settings) if p.owner == "ana@example.com"]
    return [m.name for m in ana.movements]


def test_a_snoozed_account_leaves_the_pulse_and_the_summary_until_it_expires(store, settings):
    from datetime import date, timedelta

    from bot.services import snooze as sz
    from bot.services.summary import summary

    scored_book(store, settings)
    assert ana_movements(store, settings) == ["Acme", "Apex", "Atlas"]
    done = sz.snooze(store, settings, "A1", 14, "UANA")
    assert done.days == 14 and done.until == (sz.today() + timedelta(days=14)).isoformat()
    assert ana_movements(store, settings) == ["Apex", "Atlas"]
    data = summary(store, settings)
    assert "Acme" not in [m.name for m in data.worsened] and data.worsened
    # Stored: a new connection to the same file sees it, with the category it had.
    with Store(settings.db_path) as other:
        (row,) = other.query("SELECT * FROM snoozes")
    assert row["account_id"] == "A1" and row["renewal_index"] == "Likely to Churn"
    assert row["snoozed_by"] == "UANA"
    # It expires on its own: on its last day it is still in force, the day after it is gone.
    until = date.fromisoformat(done.until)
    assert "A1" in sz.active(store, settings, on=until - timedelta(days=1))
    assert sz.active(store, settings, on=until) == {}
    assert store.scalar("SELECT count(*) FROM snoozes") == 0


def test_default_days_and_unsnooze(store, settings):
    from bot.services import snooze as sz

    scored_book(store, settings)
    assert sz.snooze(store, settings, "A1").days == settings.pulse.snooze_days == 30
    assert sz.unsnooze(store, "A1") is True and sz.unsnooze(store, "A1") is False
    assert ana_movements(store, settings) == ["Acme", "Apex", "Atlas"]


def test_moving_two_categories_wakes_a_snoozed_account(store, settings):
    from storage import snoozes as table
    from bot.services import snooze as sz

    scored_book(store, settings)
    # Snoozed while Watch (as in the first period); now Likely to Churn: two categories worse.
    table.add(store, "A1", sz.today().replace(year=sz.today().year + 1), renewal_index="Watch",
              snoozed_by="UANA")
    # C1 was Watch and is At Risk now: one category, still snoozed.
    table.add(store, "C1", sz.today().replace(year=sz.today().year + 1), renewal_index="Watch",
              snoozed_by="UCY")
    assert ana_movements(store, settings) == ["Acme", "Apex", "Atlas"]
    assert store.query("SELECT account_id FROM snoozes") == [{"account_id": "C1"}]


def test_bad_snooze_input_is_refused_and_nothing_stored(store, settings):
    import pytest

    from bot.services import snooze as sz
    from bot.services.errors import AccountNotFound, BadArguments

    scored_book(store, settings)
    for days in (0, -3, 366):
        with pytest.raises(BadArguments, match="Snooze for 1 to 365 days"):
            sz.snooze(store, settings, "A1", days)
    with pytest.raises(AccountNotFound):
        sz.snooze(store, settings, "NOPE", 3)
    assert store.scalar("SELECT count(*) FROM snoozes") == 0
