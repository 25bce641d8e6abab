"""Files in the inbox -> ingested and scored by the real pipeline -> one pulse DM per owner."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.inbox import process_inbox
from bot.pulse.send import send_pulses
from bot.services.core import movement_direction
from storage import queries
from storage.demo_book import DemoSpec, generate, owner_directory, write_csv
from storage.store import Store
from tests.bot.jobs.conftest import ADMIN_CHANNEL, Clock, make_settings


@pytest.mark.slow
def test_inbox_scoring_and_pulse_end_to_end(tmp_path, fake):
    spec = DemoSpec(accounts=300, owners=12, months=8)
    inbox = tmp_path / "inbox"
    write_csv(generate(spec), inbox)
    directory = {o["email"]: f"U{i:03d}" for i, o in enumerate(owner_directory(spec))}
    fake.users.update(directory)
    settings = make_settings(tmp_path, fake.api_url, inbox={"path": str(inbox)})
    clock = Clock(datetime.now(UTC) + timedelta(minutes=5))
    from bot.slack_client import make_client
    client = make_client(settings)
    with Store(settings.db_path) as store:
        run = process_inbox(store, settings, client, clock=clock)
        assert len(run.named("processed")) == 8 and "Rescored" in (run.scoring or "")
        latest = queries.latest_as_of(store)
        previous = queries.previous_as_of(store, latest)
        expected: dict[str, set[str]] = {}
        items: dict[str, int] = {}   # movement lines: renewal and upsell moves
        for row in queries.movements(store, previous, latest):
            moves = [movement_direction(settings, row["from_renewal_index"],
                                        row["to_renewal_index"]),
                     movement_direction(settings, row["from_upsell_index"],
                                        row["to_upsell_index"], "upsell")]
            if any(moves):
                expected.setdefault(row["owner_email"], set()).add(row["name"])
                items[row["owner_email"]] = items.get(row["owner_email"], 0) + sum(map(bool, moves))
        assert expected, "the demo book should move some accounts between two periods"

        send_pulses(store, settings, client, clock=clock)
        second = send_pulses(store, settings, client, clock=clock)
        assert second.count("sent") == 0

    by_user = {m["channel"]: m for m in fake.posted if m["channel"].startswith("D")}
    assert len([m for m in fake.posted if m["channel"].startswith("D")]) == len(directory)
    assert sorted(by_user) == sorted("D" + uid.lstrip("U") for uid in directory.values())
    names = {row for names in expected.values() for row in names}
    for email, uid in directory.items():
        text = by_user["D" + uid.lstrip("U")]["text"]
        mine = expected.get(email, set())
        mentioned = {n for n in names if re.search(rf"\*{re.escape(n)}\*", text)}
        shown = settings.pulse.max_items
        if items.get(email, 0) <= shown:
            assert mentioned == mine, email
        else:
            assert mentioned <= mine and 0 < len(mentioned) <= shown   # an account may move twice
        if not mine:
            assert text.startswith("All steady")
    assert fake.posted_to(ADMIN_CHANNEL)   # the inbox report
