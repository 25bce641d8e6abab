from __future__ import annotations

import json

from bot import services
from messages.render import check_blocks
from messages.summary import summary_message


def test_summary_counts_and_movements(store, settings) -> None:
    data = services.summary(store, settings)
    assert data.as_of == "2026-11-01" and data.previous_as_of == "2026-10-01"
    by_cat = {line.category: line for line in data.renewal}
    assert by_cat["At Risk"].accounts == 1 and by_cat["Likely to Churn"].accounts == 1
    assert by_cat["Likely to Renew"].change == 0  # Initech + Acme Logistics now, Initech + Northwind before
    assert [m.name for m in data.worsened] == ["Northwind Energy", "Acme Analytics", "Globex Health"]
    assert [m.name for m in data.improved] == ["Acme Logistics"]
    assert data.total_accounts == 6


def test_summary_for_one_owner(store, settings) -> None:
    data = services.summary(store, settings, owner_email="Maria.Lopez@example.com")
    assert data.total_accounts == 3
    data = services.summary(store, settings, owner_slack_id="UMARIA")
    assert data.total_accounts == 3


def test_summary_message_validates_and_escapes(store, settings) -> None:
    msg = summary_message(services.summary(store, settings), settings.for_messages)
    check_blocks(msg.blocks)
    dumped = json.dumps(msg.blocks)
    assert "Northwind Energy" in dumped and "Likely to Churn" in dumped
    assert "Book summary" in msg.text
    assert msg.blocks[0]["type"] == "header"


def test_summary_without_previous_period(empty_store, settings) -> None:
    from tests.bot.book import seed_book

    seed_book(empty_store, dates=["2026-11-01"])
    data = services.summary(empty_store, settings)
    assert data.previous_as_of is None and not data.worsened
    msg = summary_message(data, settings.for_messages)
    assert "No previous period" in json.dumps(msg.blocks)
