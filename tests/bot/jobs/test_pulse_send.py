"""Customer Owner Pulse against the local fake Slack: exactly one DM per owner and period."""

from __future__ import annotations

import json

import time
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.pulse.build import build_pulses
from bot.pulse.send import send_pulses
from messages.actions import OPEN_ACCOUNT
from messages.render import checked
from storage import deliveries as ledger
from storage.deliveries import JobLock, LockHeld
from tests.bot.jobs.conftest import ADMIN_CHANNEL, P2, P3, PERIOD2, dms, insert_scores, scored_book

NO_SLEEP = lambda seconds: None


def fast_client(fake, timeout: int = 10) -> WebClient:
    """Like make_client, without the waits between 5xx retries."""
    quick = FixedValueRetryIntervalCalculator(0.0)
    return WebClient(token="xoxb-test", base_url=fake.api_url, timeout=timeout, retry_handlers=[
        ConnectionErrorRetryHandler(max_retry_count=3, interval_calculator=quick),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=3, interval_calculator=quick)])


def text_of(message) -> str:
    return message["text"] + "\n" + "\n".join(
        str(b.get("text", {}).get("text", "")) for b in message["blocks"] or [])


def test_one_dm_per_owner_with_exactly_their_movements(store, settings, client, fake, clock):
    scored_book(store, settings)
    run = send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)

    by_channel = dms(fake)
    assert sorted(by_channel) == ["DANA", "DBEN", "DCY"]
    assert all(len(msgs) == 1 for msgs in by_channel.values())
    ana, ben, cy = (by_channel[c][0] for c in ("DANA", "DBEN", "DCY"))
    for msg in (ana, ben, cy):     # every message is what checked() lets through
        checked(msg["text"], msg["blocks"])
    ana_text = text_of(ana)
    assert "Watch → :red_circle: Likely to Churn  *Acme*" in ana_text
    assert "At Risk → :large_yellow_circle: Watch  *Atlas*" in ana_text
    assert ana_text.index("Acme") < ana_text.index("Atlas")          # worsened first
    assert "$120k" in ana_text and "Apex ($50k, new)" in ana_text
    assert not any(name in ana_text for name in ("Cedar", "Delta", "Beacon"))
    (actions,) = [b for b in ana["blocks"] if b["type"] == "actions"]
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in actions["elements"]] == [
        ("Open Acme", f"{OPEN_ACCOUNT}:0", "A1"), ("Open Apex", f"{OPEN_ACCOUNT}:1", "A2"),
        ("Open Atlas", f"{OPEN_ACCOUNT}:2", "A3")]
    assert ana["metadata"]["event_payload"]["key"] == f"pulse:ana@example.com:{P2}"
    # Ben's Birch became likely to upsell: an Upsell Index move, so no "all steady".
    assert not ben["text"].startswith("All steady") and "Birch" in text_of(ben)
    assert "Cedar" in text_of(cy) and "Acme" not in text_of(cy)

    opened = sorted(c.params["users"] for c in fake.calls_to("conversations.open"))
    assert opened == ["UANA", "UBEN", "UCY"]
    looked_up = sorted(c.params["email"] for c in fake.calls_to("users.lookupByEmail"))
    assert looked_up == ["ana@example.com", "ben@example.com", "dee@example.com"]
    # Dee is not in Slack: reported to the admins, recorded as failed, no crash.
    (admin,) = fake.posted_to(ADMIN_CHANNEL)
    assert "dee@example.com" in admin["text"] and "not found" in admin["text"]
    assert run.count("sent") == 3 and run.count("failed") == 1
    assert ledger.get(store, f"pulse:dee@example.com:{P2}").status == "failed"
    # Each DM with movements is recorded with its accounts, so reactions trace exactly.
    posts = {r["channel"]: json.loads(r["account_ids"])
             for r in store.query("SELECT channel, account_ids FROM posted_messages")}
    assert posts["DANA"] == ["A1", "A2", "A3"] and posts["DBEN"] == ["B2"]


def test_second_run_sends_nothing_new(store, settings, client, fake, clock):
    scored_book(store, settings)
    send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    before = len(fake.posted)
    fake.reset()
    clock.advance(hours=1)
    run = send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert fake.posted == [] and len(fake.calls) == 0 and before == 4
    assert run.count("sent") == 0 and run.count("failed") == 1   # Dee, asked again tomorrow


def test_next_period_compares_with_the_last_pulse_received(store, settings, client, fake, clock):
    scored_book(store, settings)
    send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    insert_scores(store, settings, P3, {**PERIOD2, "A2": ("Watch", True), "D1": ("Watch", False)})
    fake.users["dee@example.com"] = "UDEE"   # Dee joined Slack
    fake.reset()
    clock.advance(days=7)
    send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    by_channel = dms(fake)
    assert sorted(by_channel) == ["DANA", "DBEN", "DCY", "DDEE"]
    assert "Likely to Renew → :large_yellow_circle: Watch  *Apex*" in text_of(by_channel["DANA"][0])
    assert f"since {P2}" in text_of(by_channel["DANA"][0])
    # Dee never received the P2 pulse: hers covers everything since P1.
    dee = text_of(by_channel["DDEE"][0])
    assert "At Risk → :large_yellow_circle: Watch  *Delta*" in dee and "since 2026-10-01" in dee
    assert fake.calls_to("conversations.open") == [fake.calls_to("conversations.open")[0]]  # DM ids reused


def test_rate_limits_and_server_errors_still_exactly_one_each(store, settings, fake, clock):
    scored_book(store, settings)
    fake.fail("users.lookupByEmail", status=429, retry_after=1)
    fake.fail("conversations.open", status=500)
    fake.fail("chat.postMessage", status=429, retry_after=1)
    fake.fail("chat.postMessage", status=500, times=2)
    run = send_pulses(store, settings, fast_client(fake), clock=clock, sleep=NO_SLEEP)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    posts = fake.calls_to("chat.postMessage")
    assert posts[1].at - posts[0].at >= 1.0          # waited Retry-After
    assert run.count("sent") == 3


def test_server_errors_beyond_the_retries_are_resolved_from_history(store, settings, fake, clock):
    """A 5xx after the client's retries: check the DM history, then retry with backoff."""
    scored_book(store, settings)
    fake.fail("chat.postMessage", status=500, times=5)  # 4 by the client, 1 more: our retry
    sleeps: list[float] = []
    run = send_pulses(store, settings, fast_client(fake), clock=clock, sleep=sleeps.append)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    assert sleeps == [2.0] and run.count("sent") == 3
    assert fake.calls_to("conversations.history")


def test_timeout_after_slack_posted_is_not_sent_twice(store, settings, fake, clock):
    scored_book(store, settings)
    fake.fail("chat.postMessage", status=200, delay=1.5)   # Slack posts it, we time out
    run = send_pulses(store, settings, fast_client(fake, timeout=1), clock=clock, sleep=NO_SLEEP)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    assert run.count("sent") == 3


def test_dm_that_keeps_failing_is_recorded_and_retried_next_run(store, settings, fake, clock):
    scored_book(store, settings)
    fake.fail("chat.postMessage", status=500, times=1000)
    client = fast_client(fake)
    run = send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert run.count("failed") == 4 and dms(fake) == {}
    row = ledger.get(store, f"pulse:ana@example.com:{P2}")
    assert row.status == "failed" and row.attempts == 3 and "500" in row.last_error
    assert fake.posted_to(ADMIN_CHANNEL) == []   # Slack is down for the admins too: logged
    fake.reset()
    clock.advance(days=2)
    run = send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    assert ledger.get(store, f"pulse:ana@example.com:{P2}").status == "sent"


def test_a_second_instance_does_not_send(store, settings, client, fake, clock):
    scored_book(store, settings)
    with JobLock(store, "job:pulse", clock=clock, holder="other-process"), pytest.raises(LockHeld):
        send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert fake.posted == []
    # A holder that died leaves the lock to expire.
    ledger.acquire_lock(store, "job:pulse", "dead-process", ttl=timedelta(minutes=10), now=clock())
    clock.advance(minutes=11)
    send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert len(dms(fake)) == 3


def test_owners_steady_get_nothing_when_configured(tmp_path, fake, clock):
    from bot.slack_client import make_client
    from storage.store import Store
    from tests.bot.jobs.conftest import make_settings

    from tests.bot.jobs.conftest import PERIOD1, PERIOD2

    settings = make_settings(tmp_path, fake.api_url, pulse={"send_when_steady": False})
    with Store(settings.db_path) as store:
        # Ben's accounts keep both categories this time (no Upsell Index move either).
        scored_book(store, settings, (PERIOD1, {**PERIOD2, "B2": ("Watch", False)}))
        run = send_pulses(store, settings, make_client(settings), clock=clock, sleep=NO_SLEEP)
        assert sorted(dms(fake)) == ["DANA", "DCY"] and run.steady_not_sent == 1


def test_build_pulses_only_counts_each_owners_accounts(store, settings):
    scored_book(store, settings)
    pulses = {p.owner: p for p in build_pulses(store, settings)}
    ana = pulses["ana@example.com"]
    assert ana.accounts == 3 and ana.arr == 180_000 and ana.arr_at_risk == 120_000
    assert [(c.name, c.count) for c in ana.categories] == [
        ("Likely to Renew", 1), ("Watch", 1), ("At Risk", 0), ("Likely to Churn", 1)]
    assert [(m.account_id, m.worsened) for m in ana.movements] == [("A1", True), ("A2", False), ("A3", False)]
    assert pulses["cy@example.com"].owner_slack_id == "UCY"


def test_an_account_with_only_the_slack_id_joins_its_email_owner(store, settings):
    from tests.bot.jobs.conftest import insert_accounts
    scored_book(store, settings)
    insert_accounts(store, [{"account_id": "C2", "name": "Cobalt", "owner_slack_id": "UCY",
                             "arr": 1000}])
    insert_scores(store, settings, "2026-10-01", {"C2": ("Watch", False)})
    insert_scores(store, settings, P2, {"C2": ("At Risk", False)})
    pulses = {p.owner: p for p in build_pulses(store, settings)}
    assert "UCY" not in pulses
    assert [m.account_id for m in pulses["cy@example.com"].movements] == ["C1", "C2"]


def test_timeout_with_unreadable_history_is_left_in_doubt_not_resent(store, settings, fake, clock):
    scored_book(store, settings)
    fake.history_scope = False
    fake.fail("chat.postMessage", status=200, delay=1.5)   # posted, but we time out
    run = send_pulses(store, settings, fast_client(fake, timeout=1), clock=clock, sleep=NO_SLEEP)
    time.sleep(0.6)                                          # the slow post lands at Slack
    assert sum(len(m) for m in dms(fake).values()) == 3       # nothing posted twice
    (doubt,) = [o for o in run.deliveries if o.status == "unknown"]
    assert ledger.get(store, doubt.key).status == "sending"
    assert "--release" in doubt.error


def test_server_errors_with_unreadable_history_are_retried(store, settings, fake, clock):
    scored_book(store, settings)
    fake.history_scope = False
    fake.fail("chat.postMessage", status=500, times=5)
    run = send_pulses(store, settings, fast_client(fake), clock=clock, sleep=NO_SLEEP)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    assert run.count("sent") == 3
