"""Through real HTTP: signed requests to `outcomes serve`'s app, replies landing on FakeSlack."""

from __future__ import annotations

import json
import time

import pytest

from messages.actions import FLAG_EXPECT_RENEWAL, FLAG_EXPECT_UPSELL, OPEN_ACCOUNT, SHARE_ACCOUNT
from messages.render import check_blocks
from storage import feedback as fb
from tests.bot.slack_harness import ack_reply, running_app

pytestmark = pytest.mark.slow


@pytest.fixture()
def live(tmp_path):
    with running_app(tmp_path) as running:
        yield running


def texts(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_lookup_answers_with_the_card_in_the_ack(live) -> None:
    started = time.monotonic()
    resp = live.command("acme analytics")
    acked = time.monotonic() - started
    assert resp.status_code == 200 and acked < 3.0
    reply = ack_reply(resp)
    assert reply is not None, "the card should be the ack's body"
    assert reply["response_type"] == "ephemeral"
    check_blocks(reply["blocks"])
    assert "Acme Analytics" in reply["text"] and "At Risk" in reply["text"]
    assert "At Risk" in texts(reply["blocks"]) and "Previous Period" in texts(reply["blocks"])
    time.sleep(0.3)  # give a wrongly duplicated reply the time to show up
    assert live.fake.responses == []


def test_unknown_account_says_did_you_mean_in_the_ack(live) -> None:
    reply = live.ask("globe heal", response="nf")
    assert reply["via"] == "ack" and reply["response_type"] == "ephemeral"
    check_blocks(reply["blocks"])
    assert "Did you mean" in reply["text"] and "Globex Health" in reply["text"]
    assert any(b.get("accessory", {}).get("action_id") == OPEN_ACCOUNT for b in reply["blocks"])


def test_typo_in_a_command_suggests_the_command(live) -> None:
    assert "/outcome summary" in live.ask("sumary", response="typo")["text"]


def test_list_filter_names_the_category(live) -> None:
    reply = live.ask("list likely to churn", response="l1")
    check_blocks(reply["blocks"])
    body = texts(reply["blocks"])
    assert "Likely to Churn" in body and "Globex Health" in body and "Acme Analytics" not in body


def test_list_mine_uses_the_requesting_user(live) -> None:
    body = texts(live.ask("list watch mine", user="UMARIA", response="mine")["blocks"])
    assert "Tyrell &amp; &lt;Sons&gt;" in body and "Northwind" not in body


def test_share_posts_in_channel_and_records_the_message(live) -> None:
    confirmation = live.ask("share globex", channel="C0TEAM", response="sh")
    assert "Shared" in confirmation["text"]
    (post,) = live.fake.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0TEAM"
    check_blocks(post.params["blocks"])
    ts = live.fake.posted[0]["ts"]
    posted = fb.posted_message(live.store, "C0TEAM", ts)
    assert posted and posted["account_ids"] == ["ACC-000003"]


def _share(live, channel: str = "C0TEAM") -> str:
    live.ask("share globex health", channel=channel, response="share")
    return live.fake.posted[-1]["ts"]


def test_reaction_flags_once_even_when_slack_retries(live) -> None:
    ts = _share(live)
    event = {"type": "reaction_added", "user": "UJAMES", "reaction": "x", "item_user": "UBOT",
             "item": {"type": "message", "channel": "C0TEAM", "ts": ts}, "event_ts": "1.2"}
    assert live.event(event, event_id="EvR1").status_code == 200
    assert live.event(event, event_id="EvR1", retry=1).status_code == 200
    assert live.event(event, event_id="EvR2").status_code == 200  # the same user again
    prompt = live.wait_for(lambda: [c for c in live.fake.calls_to("chat.postMessage")
                                    if c.params.get("thread_ts") == ts])
    time.sleep(0.2)  # give a wrongly duplicated prompt the time to show up
    prompts = [c for c in live.fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == ts]
    assert len(prompts) == 1
    check_blocks(prompt[0].params["blocks"])
    ids = [e["action_id"] for b in prompt[0].params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert sum(i.startswith(FLAG_EXPECT_RENEWAL) for i in ids) == 4
    assert sum(i.startswith(FLAG_EXPECT_UPSELL) for i in ids) == 2
    flags = fb.flags(live.store)
    assert len(flags) == 1
    flag = flags[0]
    assert (flag.account_id, flag.user_id, flag.predicted_renewal_index) == (
        "ACC-000003", "UJAMES", "Likely to Churn")
    assert flag.model_version and flag.created_at


def test_other_reactions_and_other_messages_are_ignored(live) -> None:
    ts = _share(live)
    live.event({"type": "reaction_added", "user": "U1", "reaction": "tada",
                "item": {"type": "message", "channel": "C0TEAM", "ts": ts}}, event_id="EvT")
    live.event({"type": "reaction_added", "user": "U1", "reaction": "x",
                "item": {"type": "message", "channel": "C0TEAM", "ts": "1.000001"}}, event_id="EvU")
    time.sleep(0.2)
    assert fb.flags(live.store) == []


def test_button_click_stores_the_expected_outcome(live) -> None:
    ts = _share(live)
    live.event({"type": "reaction_added", "user": "UJAMES", "reaction": "-1",
                "item": {"type": "message", "channel": "C0TEAM", "ts": ts}}, event_id="EvB")
    flag = live.wait_for(lambda: fb.flags(live.store))[0]
    resp = live.action(f"{FLAG_EXPECT_RENEWAL}:0", f"{flag.id}:0", user="UJAMES", channel="C0TEAM",
                       message_ts=ts, response="click")
    assert resp.status_code == 200
    reply = live.wait_response("click")
    assert reply["replace_original"] is True and "Likely to Renew" in reply["text"]
    stored = fb.get_flag(live.store, flag.id)
    assert stored.expected_renewal_index == "Likely to Renew" and stored.answered_at
    live.action(f"{FLAG_EXPECT_UPSELL}:1", f"{flag.id}:0", user="UJAMES", response="click2")
    live.wait_response("click2")
    assert fb.get_flag(live.store, flag.id).expected_upsell_index == "Likely to upsell"


def test_someone_else_cannot_answer_a_flag(live) -> None:
    ts = _share(live)
    live.event({"type": "reaction_added", "user": "UJAMES", "reaction": "x",
                "item": {"type": "message", "channel": "C0TEAM", "ts": ts}}, event_id="EvO")
    flag = live.wait_for(lambda: fb.flags(live.store))[0]
    live.action(f"{FLAG_EXPECT_RENEWAL}:2", f"{flag.id}:2", user="UOTHER", response="other")
    assert "This question is for" in live.wait_response("other")["text"]
    assert fb.get_flag(live.store, flag.id).expected_renewal_index is None


def test_message_about_several_accounts_asks_which_first(live) -> None:
    fb.record_post(live.store, "C0PULSE", "1700000999.000100", "pulse", ["ACC-000001", "ACC-000003"])
    live.event({"type": "reaction_added", "user": "UMARIA", "reaction": "x",
                "item": {"type": "message", "channel": "C0PULSE", "ts": "1700000999.000100"}},
               event_id="EvM")
    prompt = live.wait_for(lambda: live.fake.calls_to("chat.postMessage"))[0]
    assert "Which account" in prompt.params["text"]
    flag = fb.flags(live.store)[0]
    assert flag.account_id is None
    live.action("flag_choose_account:1", f"{flag.id}:ACC-000003", channel="C0PULSE", response="ch")
    reply = live.wait_response("ch")
    assert "Globex Health" in texts(reply["blocks"])
    assert fb.get_flag(live.store, flag.id).account_id == "ACC-000003"


def test_bad_signature_is_refused(live) -> None:
    assert live.command("acme", signature="v0=" + "0" * 64).status_code == 401
    old = int(time.time()) - 600
    assert live.command("acme", timestamp=old).status_code == 401
    time.sleep(0.1)
    assert live.fake.responses == []


def test_rate_limit_and_server_error_on_post_are_retried(live) -> None:
    live.fake.fail("chat.postMessage", status=429, retry_after=1)
    live.fake.fail("chat.postMessage", status=500)
    reply = live.ask("share acme analytics", response="retry", timeout=10)
    assert "Shared" in reply["text"]
    assert len(live.fake.calls_to("chat.postMessage")) == 3
    assert len(live.fake.posted) == 1


def test_card_buttons_open_share_and_graph(live) -> None:
    live.action(OPEN_ACCOUNT, "ACC-000002", ephemeral=True, response="open")
    card = live.wait_response("open")
    assert card["replace_original"] is True and "Acme Logistics" in card["text"]
    live.action(SHARE_ACCOUNT, "ACC-000002", response="share-btn", channel="C0TEAM")
    live.wait_response("share-btn")
    assert live.fake.posted[-1]["channel"] == "C0TEAM"
    live.action("health_graph", "ACC-000002", response="graph", channel="C0TEAM")
    live.wait_response("graph")
    (png,) = live.fake.uploads.values()
    assert png.startswith(b"\x89PNG")


def test_healthz(live) -> None:
    resp = live.http.get(live.url + "/healthz")
    assert resp.status_code == 200 and resp.json() == {"ok": True, "scored_as_of": "2026-11-01"}


def test_app_home_shows_the_users_accounts(live) -> None:
    live.event({"type": "app_home_opened", "user": "UMARIA", "tab": "home"}, event_id="EvH")
    call = live.wait_for(lambda: live.fake.calls_to("views.publish"))[0]
    view = call.params["view"]
    check_blocks(view["blocks"], surface="home")
    body = texts(view["blocks"])
    assert "Globex Health" in body and "Northwind" not in body


def test_concurrent_commands_all_answered(live) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        acks = list(pool.map(lambda i: live.command("initech", response=f"c{i}"), range(16)))
    assert [a.status_code for a in acks] == [200] * 16
    for i, ack in enumerate(acks):
        assert "Initech Labs" in live.reply_to(ack, f"c{i}")["text"]


def test_click_without_response_url_still_answers(live) -> None:
    """Some payloads carry no response_url: the answer goes through the Web API instead."""
    import json as _json
    from urllib.parse import urlencode

    payload = {"type": "block_actions", "team": {"id": "T0FAKE"}, "user": {"id": "UMARIA"},
               "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0X",
                             "is_ephemeral": True},
               "channel": {"id": "C0X"},
               "actions": [{"action_id": OPEN_ACCOUNT, "value": "ACC-000004", "type": "button"}]}
    assert live.post(urlencode({"payload": _json.dumps(payload)}),
                     "application/x-www-form-urlencoded").status_code == 200
    call = live.wait_for(lambda: live.fake.calls_to("chat.postEphemeral"))[0]
    assert call.params["user"] == "UMARIA" and "Initech Labs" in call.params["text"]


def test_reaction_on_a_pulse_from_the_delivery_ledger(live) -> None:
    """A pulse DM that was not recorded in posted_messages is traced through deliveries."""
    with live.store.transaction() as conn:
        conn.execute(
            "INSERT INTO deliveries (key, kind, recipient, period, status, attempts, channel, ts,"
            " created_at, updated_at) VALUES ('pulse:m:2026-11-01', 'pulse', 'maria.lopez@example.com',"
            " '2026-11-01', 'sent', 1, 'DMARIA', '1700000555.000100', 'now', 'now')")
    live.event({"type": "reaction_added", "user": "UMARIA", "reaction": "x",
                "item": {"type": "message", "channel": "DMARIA", "ts": "1700000555.000100"}},
               event_id="EvP")
    prompt = live.wait_for(lambda: live.fake.calls_to("chat.postMessage"))[0]
    assert prompt.params["thread_ts"] == "1700000555.000100" and "Which account" in prompt.params["text"]
    names = texts(prompt.params["blocks"])
    assert "Acme Analytics" in names and "Globex Health" in names and "Northwind" not in names


def test_url_verification_and_auth_test_in_the_background(live) -> None:
    resp = live.post(json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}),
                     "application/json")
    assert resp.status_code == 200 and "c-123" in resp.text
    live.ask("initech", response="auth")
    assert live.wait_for(lambda: live.fake.calls_to("auth.test"))


def test_requests_do_not_wait_for_a_slow_auth_test(tmp_path) -> None:
    from tests.bot.slack_harness import ack_reply, running_app as fresh

    with fresh(tmp_path) as app:
        app.fake.fail("auth.test", status=200, delay=4)
        started = time.monotonic()
        resp = app.command("initech", response="slow-auth")
        assert resp.status_code == 200 and time.monotonic() - started < 1
        assert "Initech Labs" in app.reply_to(resp, "slow-auth")["text"]


def test_unhandled_events_and_old_buttons_get_200(live) -> None:
    assert live.event({"type": "reaction_removed", "user": "U1", "reaction": "x",
                       "item": {"type": "message", "channel": "C1", "ts": "1.1"}},
                      event_id="EvGone").status_code == 200
    assert live.action("some_retired_button", "v", response="old").status_code == 200


def test_reaction_racing_the_record_of_the_post_still_flags(live) -> None:
    live.event({"type": "reaction_added", "user": "UJAMES", "reaction": "x",
                "item": {"type": "message", "channel": "C0RACE", "ts": "1700000777.000100"}},
               event_id="EvRace")
    time.sleep(0.3)  # the poster records its message a moment after Slack delivered the reaction
    fb.record_post(live.store, "C0RACE", "1700000777.000100", "card", ["ACC-000004"])
    flag = live.wait_for(lambda: fb.flags(live.store))[0]
    assert flag.account_id == "ACC-000004"
    assert live.wait_for(lambda: live.fake.calls_to("chat.postMessage"))


def test_shared_list_then_flag_asks_which_account(live) -> None:
    assert "Shared the list" in live.ask("share list watch", channel="C0LIST", response="sl")["text"]
    post = live.fake.posted[-1]
    check_blocks(post["blocks"])
    posted = fb.posted_message(live.store, "C0LIST", post["ts"])
    assert posted["kind"] == "list" and posted["account_ids"] == ["ACC-000006", "ACC-000005"]
    live.event({"type": "reaction_added", "user": "UJAMES", "reaction": "x",
                "item": {"type": "message", "channel": "C0LIST", "ts": post["ts"]}}, event_id="EvL")
    prompt = live.wait_for(lambda: [c for c in live.fake.calls_to("chat.postMessage")
                                    if c.params.get("thread_ts") == post["ts"]])[0]
    assert "Which account" in prompt.params["text"]
