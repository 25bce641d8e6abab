"""What a new user saw wrong on the card: a churned account, lines run together, the chart."""

from __future__ import annotations

import json

from bot.services import accounts as acc
from messages import account as account_msg
from messages.text import message_to_text
from storage.store import Store
from tests.bot.book import BOOK, DATES, Acct, seed_book


def test_a_churned_account_says_churned(store: Store, settings) -> None:
    store.conn.execute("UPDATE accounts SET status = 'churned' WHERE account_id = 'ACC-000003'")
    message = account_msg.card_message(acc.card(store, settings, "ACC-000003"), settings.for_messages)
    text = message_to_text(message)
    first = text.splitlines()[2]
    assert first.startswith("⚫ Churned (in the data of 2026-11-01)"), text
    assert "Renewal Index" not in text.split("Health score")[0]
    assert message.text.startswith("Globex Health: Churned")
    # The last prediction is still there, labelled as what it was.
    assert "Last prediction (2026-11-01): 🔴 Likely to Churn" in text


def test_an_active_account_still_shows_its_index(store: Store, settings) -> None:
    text = message_to_text(account_msg.card_message(acc.card(store, settings, "ACC-000003"), settings.for_messages))
    assert "Renewal Index 🔴 Likely to Churn" in text and "Churned" not in text


def test_last_scored_note_is_its_own_line(settings) -> None:
    """Scored on the first two dates only: "unchanged", the confidence and the note that it
    is not in the latest snapshot are lines of their own."""
    gone = Acct("ACC-9", "Faded Co", "ana@example.com", None, 10_000, [60, 61, None],
                ["Not likely to upsell"] * 3)
    with Store() as store:
        seed_book(store, [*BOOK, gone], DATES)
        store.conn.execute("UPDATE accounts SET last_as_of = ? WHERE account_id = 'ACC-9'", (DATES[1],))
        message = account_msg.card_message(acc.card(store, settings, "ACC-9"), settings.for_messages)
    status = message.blocks[1]["text"]["text"]
    assert ("unchanged\n:warning: *Confidence low*: no data since 2026-10-01\n"
            ":information_source: Not in the latest snapshot (2026-11-01)") in status, status
    assert "unchanged:warning:" not in json.dumps(message.blocks)


def test_health_chart_month_labels_do_not_overlap(settings) -> None:
    months = [f"{2025 + (m // 12)}-{m % 12 + 1:02d}-01" for m in range(24)]
    long = Acct("ACC-L", "Long History", "ana@example.com", None, 5_000,
                [50 + (i % 5) * 5 for i in range(24)], ["Not likely to upsell"] * 24)
    with Store() as store:
        seed_book(store, [long], months)
        card = acc.card(store, settings, "ACC-L")
    fig = account_msg.health_chart(card, settings.for_messages)
    fig.canvas.draw()
    labels = [t for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert 2 <= len(labels) <= account_msg.MAX_DATE_LABELS
    assert labels[0].get_text() == "Jan 2025"
    boxes = [t.get_window_extent() for t in labels]
    for left, right in zip(boxes, boxes[1:]):
        assert not left.overlaps(right), (left, right)
