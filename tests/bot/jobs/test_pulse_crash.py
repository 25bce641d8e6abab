"""A process killed in the middle of a run: the rerun sends the rest and nothing twice."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.pulse.send import send_pulses
from storage import deliveries as ledger
from tests.bot.jobs.conftest import ADMIN_CHANNEL, P2, dms, scored_book

NO_SLEEP = lambda seconds: None


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even `except Exception`)."""


class DyingClient(WebClient):
    """Dies after `after` DMs: before posting the next one, or right after Slack took it."""

    def __init__(self, *args, after: int, when: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.after, self.when, self.posted = after, when, 0

    def chat_postMessage(self, **kwargs):
        if not str(kwargs.get("channel", "")).startswith("D"):
            return super().chat_postMessage(**kwargs)
        if self.posted == self.after and self.when == "before":
            raise Killed()
        resp = super().chat_postMessage(**kwargs)
        self.posted += 1
        if self.posted == self.after and self.when == "after":
            raise Killed()
        return resp


@pytest.mark.parametrize("when", ["before", "after"])
def test_rerun_after_a_kill_sends_each_owner_exactly_one(store, settings, client, fake, clock, when):
    scored_book(store, settings)
    dying = DyingClient(token="xoxb-test", base_url=fake.api_url, after=1, when=when)
    with pytest.raises(Killed):
        send_pulses(store, settings, dying, clock=clock, sleep=NO_SLEEP)
    assert sum(len(m) for m in dms(fake).values()) == 1
    assert "sending" in {r["status"] for r in store.query("SELECT status FROM deliveries")} \
        or when == "before"

    clock.advance(seconds=30)
    run = send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    statuses = {r["key"]: r["status"] for r in store.query("SELECT key, status FROM deliveries")}
    assert statuses[f"pulse:ana@example.com:{P2}"] == "sent"
    assert run.count("unknown") == 0


def test_unreadable_history_never_resends_and_tells_the_admins(store, settings, client, fake, clock):
    scored_book(store, settings)
    fake.history_scope = False   # the app lacks im:history
    dying = DyingClient(token="xoxb-test", base_url=fake.api_url, after=1, when="after")
    with pytest.raises(Killed):
        send_pulses(store, settings, dying, clock=clock, sleep=NO_SLEEP)
    clock.advance(minutes=1)
    run = send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    (doubt,) = [o for o in run.deliveries if o.status == "unknown"]
    row = ledger.get(store, doubt.key)
    assert row.status == "sending" and "--release" in row.last_error
    assert any(doubt.recipient in m["text"] for m in fake.posted_to(ADMIN_CHANNEL))

    # An admin checked: it did arrive (so nothing to do), or it did not: --release.
    ledger.release_unsent(store, doubt.key, "released by an admin", now=clock())
    fake.history_scope = True
    send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert sum(len(m) for m in dms(fake).values()) == 4   # the admin said it had not arrived


def test_a_dead_holders_lock_is_taken_over(store, settings, client, fake, clock):
    import socket
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{proc.stdout.strip()}:deadbeef"
    from datetime import timedelta
    ledger.acquire_lock(store, "job:pulse", dead, ttl=timedelta(minutes=10), now=clock())
    scored_book(store, settings)
    send_pulses(store, settings, client, clock=clock, sleep=NO_SLEEP)
    assert len(dms(fake)) == 3


def test_two_app_processes_firing_together_send_each_pulse_once(store, settings, fake, clock):
    """Two schedulers (own Store connections, own clients) fire the pulse at the same moment."""
    import threading

    from bot.scheduler import run_job
    from bot.slack_client import make_client
    from storage.store import Store

    scored_book(store, settings)
    fake.fail("chat.postMessage", status=200, delay=0.2, times=100)   # a slow Slack
    start = threading.Barrier(2)

    def app_process() -> None:
        with Store(settings.db_path) as own:
            start.wait()
            run_job("pulse", settings, own, make_client(settings), clock)

    threads = [threading.Thread(target=app_process) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert {c: len(m) for c, m in dms(fake).items()} == {"DANA": 1, "DBEN": 1, "DCY": 1}
    assert len(fake.posted_to(ADMIN_CHANNEL)) == 1     # Dee reported once, not twice
