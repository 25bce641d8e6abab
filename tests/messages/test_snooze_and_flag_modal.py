"""The flag modal and the snooze replies: valid for Slack (slack_sdk.models), data escaped."""

from __future__ import annotations

import json

import pytest
from slack_sdk.models.views import View

from bot.services import accounts as acc
from bot.services import feedback as fbs
from messages import feedback as feedback_msg
from messages import snooze as snooze_msg
from messages.actions import FLAG_MODAL
from messages.text import message_to_text
from storage.snoozes import Snooze


def test_flag_modal_is_a_valid_view_with_the_prediction(store, settings) -> None:
    account = acc.find_account(store, "Tyrell").account
    view = feedback_msg.flag_modal(account, fbs.prediction(store, account["account_id"]),
                                   settings.for_messages, json.dumps({"account_id": "ACC-000005"}))
    View(**view).validate_json()
    assert view["type"] == "modal" and view["callback_id"] == FLAG_MODAL
    assert json.loads(view["private_metadata"]) == {"account_id": "ACC-000005"}
    dumped = json.dumps(view, ensure_ascii=False)
    assert "Tyrell &amp; &lt;Sons&gt;" in dumped and "<Sons>" not in dumped
    assert "is predicted :large_yellow_circle: *Watch*" in dumped
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == ["expected_renewal", "expected_upsell", "note"]
    renewal = [o["text"]["text"] for o in inputs[0]["element"]["options"]]
    assert renewal == [":large_green_circle: Likely to Renew", ":large_yellow_circle: Watch",
                       ":large_orange_circle: At Risk", ":red_circle: Likely to Churn"]
    assert all(b["optional"] for b in inputs)


def submitted(renewal: str | None, upsell: str | None, note: str | None) -> dict:
    def chosen(v):
        return {"type": "static_select", "selected_option": None if v is None else {"value": v}}

    return {"state": {"values": {"expected_renewal": {"choice": chosen(renewal)},
                                 "expected_upsell": {"choice": chosen(upsell)},
                                 "note": {"text": {"type": "plain_text_input", "value": note}}}}}


@pytest.mark.parametrize(("values", "expected"), [
    (("3", None, "  Champion left\n in May "), ("Likely to Churn", None, "Champion left in May")),
    ((None, "0", ""), (None, "Likely to upsell", None)),
    (("9", "x", None), (None, None, None)),      # out of date or forged values are ignored
])
def test_flag_modal_values(settings, values, expected) -> None:
    assert feedback_msg.flag_modal_values(submitted(*values), settings.for_messages) == expected


def test_snooze_replies(settings) -> None:
    d = settings.for_messages
    msg = snooze_msg.snoozed_message("Tyrell & <Sons>", "2026-12-31", 30, d)
    assert "Tyrell &amp; &lt;Sons&gt;" in msg.blocks[0]["text"]["text"]
    assert "`/outcome unsnooze Tyrell &amp; &lt;Sons&gt;` ends it" in msg.blocks[0]["text"]["text"]
    assert "no longer snoozed" in snooze_msg.unsnoozed_message("Acme", True).text
    assert "was not snoozed" in snooze_msg.unsnoozed_message("Acme", False).text
    rows = [Snooze("A1", "Acme", "2026-12-01", "Watch", "UANA", "2026-11-01T00:00:00+00:00")]
    listed = message_to_text(snooze_msg.snoozed_list_message(rows, d))
    assert "💤 1 snoozed account" in listed and "Acme until 2026-12-01" in listed
    assert "snoozed at 🟡 Watch · by @UANA" in listed and "[Open]" in listed
    empty = snooze_msg.snoozed_list_message([], d)
    assert "0 snoozed accounts. `/outcome snooze ACCOUNT [DAYS]` snoozes one." in message_to_text(empty)
