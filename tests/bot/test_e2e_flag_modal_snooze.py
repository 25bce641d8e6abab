"""Through real HTTP, signed: the flag modal (views.open, view_submission) and snoozing,
against the running app and the fake Slack."""

from __future__ import annotations

import json

import pytest
from slack_sdk.models.views import View

from messages.actions import FLAG_ACCOUNT, FLAG_MODAL, SNOOZE_ACCOUNT
from storage import feedback as fb
from tests.bot.slack_harness import running_app

pytestmark = pytest.mark.slow


@pytest.fixture()
def live(tmp_path):
    with running_app(tmp_path) as running:
        yield running


def values(renewal: str | None = None, upsell: str | None = None, note: str | None = None) -> dict:
    def chosen(index: str | None) -> dict:
        option = None if index is None else {"value": index, "text": {"type": "plain_text", "text": "x"}}
        return {"type": "static_select", "selected_option": option}

    return {"expected_renewal": {"choice": chosen(renewal)},
            "expected_upsell": {"choice": chosen(upsell)},
            "note": {"text": {"type": "plain_text_input", "value": note}}}


def opened_modal(live) -> dict:
    call = live.wait_for(lambda: live.fake.calls_to("views.open"))[0]
    assert call.params["trigger_id"] == "123.456.abc"      # the click's own trigger
    view = call.params["view"]
    View(**view).validate_json()
    assert view["callback_id"] == FLAG_MODAL
    return view


def test_flag_button_opens_the_modal_and_the_submission_is_stored(live) -> None:
    """A card only the user saw (the /outcome reply): acknowledged to them, not in a thread."""
    assert live.action(FLAG_ACCOUNT, "ACC-000003", ephemeral=True, response="flag").status_code == 200
    view = opened_modal(live)
    assert "Globex Health" in json.dumps(view) and fb.flags(live.store) == []   # nothing yet
    resp = live.view_submission(view, values("0", None, "They just signed a 3-year deal"))
    assert resp.status_code == 200 and resp.content in (b"", b"{}")       # the modal closes
    (flag,) = live.wait_for(lambda: [f for f in fb.flags(live.store) if f.answered_at])
    assert (flag.account_id, flag.user_id, flag.reaction) == ("ACC-000003", "UMARIA", "button")
    assert flag.expected_renewal_index == "Likely to Renew" and flag.expected_upsell_index is None
    assert flag.predicted_renewal_index == "Likely to Churn"
    assert flag.note == "They just signed a 3-year deal"
    ack = live.wait_response("flag")
    assert ack["response_type"] == "ephemeral" and ack["replace_original"] is False
    assert ack["text"] == "Flag recorded for Globex Health"
    assert "flagged the prediction for *Globex Health*: expected *Likely to Renew*" in json.dumps(
        ack["blocks"])
    assert "They just signed a 3-year deal" in json.dumps(ack["blocks"])
    assert not [p for p in live.fake.posted if p.get("thread_ts")]
    # `outcomes feedback` lists it with the note (the same table as reactions).
    (row,) = fb.flag_rows(live.store)
    assert row["note"] == "They just signed a 3-year deal"


def test_flag_on_a_shared_card_is_acknowledged_in_its_thread(live) -> None:
    live.ask("share globex health", channel="C0TEAM", response="share")
    ts = live.fake.posted[-1]["ts"]
    live.action(FLAG_ACCOUNT, "ACC-000003", user="UJAMES", channel="C0TEAM", message_ts=ts,
                response="flag2")
    view = opened_modal(live)
    live.view_submission(view, values(None, "0"), user="UJAMES")
    thread = live.wait_for(lambda: [p for p in live.fake.posted if p.get("thread_ts") == ts])
    assert thread[0]["channel"] == "C0TEAM" and "Likely to upsell" in thread[0]["text"] + json.dumps(
        thread[0]["blocks"])
    # The thread's ts is stored just after the post: wait for it, not only for the post.
    (flag,) = live.wait_for(lambda: [f for f in fb.flags(live.store) if f.thread_ts])
    assert (flag.channel, flag.message_ts, flag.user_id) == ("C0TEAM", ts, "UJAMES")
    assert flag.expected_upsell_index == "Likely to upsell" and flag.thread_ts == thread[0]["ts"]


def test_a_submission_without_an_outcome_is_refused_in_the_modal(live) -> None:
    live.action(FLAG_ACCOUNT, "ACC-000001", ephemeral=True, response="flag3")
    view = opened_modal(live)
    resp = live.view_submission(view, values(None, None, "just a note"))
    assert resp.status_code == 200
    assert resp.json() == {"response_action": "errors", "errors": {
        "expected_renewal": "Choose the Renewal Index or the Upsell Index you expect."}}
    forged = {**view, "private_metadata": "not json"}
    assert live.view_submission(forged, values("1")).json()["response_action"] == "errors"
    assert fb.flags(live.store) == [] and live.store.scalar("SELECT count(*) FROM feedback") == 0


def test_when_the_modal_cannot_open_the_flag_is_asked_in_a_reply(live) -> None:
    live.fake.fail("views.open", status=200, error="expired_trigger_id")
    live.action(FLAG_ACCOUNT, "ACC-000001", ephemeral=True, response="flag4")
    prompt = live.wait_response("flag4")
    assert "What outcome do you expect?" in json.dumps(prompt["blocks"])
    assert len(fb.flags(live.store)) == 1


def test_snooze_button_and_commands(live) -> None:
    live.action(SNOOZE_ACCOUNT, "ACC-000001", ephemeral=True, response="zz")
    assert "Acme Analytics* is snoozed for 30 days" in live.wait_response("zz")["text"] + \
        json.dumps(live.responses("zz")[0]["blocks"])
    (row,) = live.store.query("SELECT account_id, snoozed_by FROM snoozes")
    assert row == {"account_id": "ACC-000001", "snoozed_by": "UMARIA"}
    assert "snoozed for 7 days" in json.dumps(live.ask("snooze globex health 7", response="c1")["blocks"])
    listed = json.dumps(live.ask("snoozed", response="c2")["blocks"])
    assert "2 snoozed accounts" in listed and listed.index("Globex") < listed.index("Acme")
    assert "no longer snoozed" in live.ask("unsnooze acme analytics", response="c3")["text"]
    assert "Snooze for 1 to 365 days" in live.ask("snooze acme analytics 400", response="c4")["text"]
    assert [r["account_id"] for r in live.store.query("SELECT account_id FROM snoozes")] == ["ACC-000003"]
