"""Every view: valid Block Kit within Slack's limits, the right words, account data escaped."""

from __future__ import annotations

import json

import pytest

from bot import dispatch
from bot.console import ConsoleBackend
from bot.services import accounts as acc
from bot.services import catalog, home
from bot.services import feedback as fbs
from bot.services.core import Requester
from bot.services.errors import AccountNotFound, UnknownCommand
from bot.services.summary import summary
from messages import account as account_msg
from messages import catalog as catalog_msg
from messages import feedback as feedback_msg
from messages import lists as list_msg
from messages.actions import FLAG_ACCOUNT, HEALTH_GRAPH, OPEN_ACCOUNT, SHARE_ACCOUNT, SNOOZE_ACCOUNT
from messages.errors import bug_message, error_message
from messages.help import help_message
from messages.home import home_message, home_view
from messages.render import check_blocks
from messages.summary import summary_message
from messages.text import message_to_text
from storage import feedback as fb
from tests.bot.book import Acct, seed_book


def dump(message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def action_ids(message) -> list[str]:
    ids = []
    for b in message.blocks:
        ids += [e["action_id"] for e in b.get("elements", []) if "action_id" in e]
        if b.get("accessory"):
            ids.append(b["accessory"]["action_id"])
    return ids


def test_card_status_first_then_facts_and_buttons(store, settings) -> None:
    msg = account_msg.card_message(acc.card(store, settings, "ACC-000001"), settings.for_messages)
    check_blocks(msg.blocks)
    assert msg.blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Acme Analytics",
                                                        "emoji": True}}
    status = msg.blocks[1]["text"]["text"]
    assert ":large_orange_circle: *At Risk*" in status and ":arrow_lower_right:" in status
    assert "Not likely to upsell" in status and "*Previous Period* (2026-10-01)" in status
    facts = dump(msg)
    for words in ("42/100 (was 71)", "Mid-market growth", "<@UMARIA>", "$240k", "2027-03-01",
                  "Low for its segment", "History"):
        assert words in facts
    assert action_ids(msg) == [HEALTH_GRAPH, SHARE_ACCOUNT, FLAG_ACCOUNT, SNOOZE_ACCOUNT]
    assert msg.text.startswith("Acme Analytics: At Risk")


def test_shared_card_has_no_share_button_and_says_who(store, settings) -> None:
    msg = account_msg.card_message(acc.card(store, settings, "ACC-000001"), settings.for_messages, shared_by="UJ")
    assert SHARE_ACCOUNT not in action_ids(msg) and "Shared by <@UJ>" in dump(msg)
    assert SNOOZE_ACCOUNT not in action_ids(msg)


def test_account_data_is_escaped(store, settings) -> None:
    msg = account_msg.card_message(acc.card(store, settings, "ACC-000005"), settings.for_messages)
    assert msg.blocks[0]["text"]["text"] == "Tyrell & <Sons>"  # a header is plain text: no escaping
    lst = list_msg.list_message(acc.list_accounts(store, settings, acc.ListQuery("Watch", "renewal")),
                                settings.for_messages)
    assert "Tyrell &amp; &lt;Sons&gt;" in dump(lst) and "<Sons>" not in dump(lst)


def test_lists_mark_accounts_scored_with_data_missing(store, settings) -> None:
    store.conn.execute("UPDATE scores SET data_gaps = ? WHERE account_id = 'ACC-000005'"
                       " AND as_of = '2026-11-01'",
                       (json.dumps({"confidence": "low", "gaps": [{"component": "Product usage",
                                                                   "since": "2026-10-01"}]}),))
    lst = list_msg.list_message(acc.list_accounts(store, settings, acc.ListQuery("Watch", "renewal")),
                                settings.for_messages)
    rows = [b["text"]["text"] for b in lst.blocks if b["type"] == "section"][1:]
    assert [":warning: data missing" in r for r in rows] == ["Tyrell" in r for r in rows]
    assert any("Tyrell" in r for r in rows)


def test_provisional_scores_are_said(empty_store, settings) -> None:
    seed_book(empty_store, provisional=True)
    msg = account_msg.card_message(acc.card(empty_store, settings, "ACC-000001"), settings.for_messages)
    assert "provisional" in dump(msg)
    assert "provisional" in dump(summary_message(summary(empty_store, settings), settings.for_messages))


def test_sparkline() -> None:
    assert account_msg.sparkline([0, 50, 99.9, 100, None]) == "▁▅██ "


def test_health_chart_is_a_png(store, settings) -> None:
    png = account_msg.health_chart_png(acc.card(store, settings, "ACC-000002"), settings.for_messages)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_choices_truncate_with_and_more(empty_store, settings) -> None:
    book = [Acct(f"A{i:03d}", f"Hooli {i:03d}", None, None, 1000.0 + i, [60, 60, 60],
                 ["Not likely to upsell"] * 3) for i in range(30)]
    seed_book(empty_store, book)
    msg = account_msg.choices_message(acc.find_account(empty_store, "hooli"), settings.for_messages)
    check_blocks(msg.blocks)
    assert "30 accounts match" in dump(msg) and "…and 20 more" in dump(msg)
    assert action_ids(msg).count(OPEN_ACCOUNT) == 10
    assert "Hooli 029" in dump(msg)  # largest ARR first


def test_list_pages_and_more(empty_store, settings) -> None:
    book = [Acct(f"A{i:03d}", f"Initrode {i:03d}", None, None, 1000.0 + i, [10, 10, 10],
                 ["Not likely to upsell"] * 3) for i in range(25)]
    seed_book(empty_store, book)
    lst = acc.list_accounts(empty_store, settings, acc.ListQuery("Likely to Churn", "renewal"))
    msg = list_msg.list_message(lst, settings.for_messages)
    check_blocks(msg.blocks)
    text = dump(msg)
    assert "page 1 of 3" in text and "…and 15 more" in text and "Next ▶" in text
    assert "Previous" not in text


def test_summary_many_movements_stay_within_limits(empty_store, settings) -> None:
    book = [Acct(f"A{i:04d}", f"Company {i} " + "x" * 60, "o@example.com", None, 1000.0 * i,
                 [90, 90, 20], ["Likely to upsell", "Likely to upsell", "Not likely to upsell"])
            for i in range(400)]
    seed_book(empty_store, book)
    msg = summary_message(summary(empty_store, settings), settings.for_messages)
    check_blocks(msg.blocks)
    assert "more" in dump(msg) and "400 worse" in dump(msg)


def test_catalog_views(store, settings) -> None:
    for msg, words in (
        (catalog_msg.segments_message(catalog.segments(store, settings), settings.for_messages), "Enterprise steady"),
        (catalog_msg.segment_message(catalog.segment(store, settings, 1), settings.for_messages), "Members as CSV"),
        (catalog_msg.indicators_message(catalog.indicators(store, settings), settings.for_messages), "45%"),
        (catalog_msg.features_message(catalog.features(store, settings), settings.for_messages), "❌ *Sentiment*"),
    ):
        check_blocks(msg.blocks)
        assert words in dump(msg)


def test_help_lists_every_command(settings) -> None:
    msg = help_message(settings.for_messages)
    check_blocks(msg.blocks)
    for word in ("list at risk", "summary", "segments", "indicators", "ingredients", "features",
                 "share", "accuracy", "mine", "owner @"):
        assert word in dump(msg)


def test_errors(settings) -> None:
    nf = error_message(AccountNotFound("globe", [{"account_id": "A1", "name": "Globex <Health>",
                                                  "arr": 10.0}]))
    check_blocks(nf.blocks)
    assert "Did you mean" in nf.text and action_ids(nf) == [OPEN_ACCOUNT]
    assert "Globex &lt;Health&gt;" in dump(nf)
    typo = error_message(UnknownCommand("sumary", "summary"))
    assert "`/outcome summary`" in typo.text
    check_blocks(bug_message().blocks)


def test_feedback_prompts(store, settings) -> None:
    fb.record_post(store, "C1", "1.1", "pulse", ["ACC-000001", "ACC-000003"])
    r = fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id="U1", reaction="x")
    choose = feedback_msg.flag_choose_account(r.flag, r.accounts, settings.for_messages)
    check_blocks(choose.blocks)
    assert action_ids(choose) == ["flag_choose_account:0", "flag_choose_account:1"]
    prompt = feedback_msg.flag_prompt(r.flag, r.accounts[0], fbs.prediction(store, "ACC-000001"), settings.for_messages)
    check_blocks(prompt.blocks)
    assert action_ids(prompt) == [f"flag_expect_renewal:{i}" for i in range(4)] + [
        "flag_expect_upsell:0", "flag_expect_upsell:1"]
    many = [{"account_id": f"A{i}", "name": f"N{i}"} for i in range(150)]
    select = feedback_msg.flag_choose_account(r.flag, many, settings.for_messages)
    check_blocks(select.blocks)
    assert "…and 50 more" in dump(select)


def test_accuracy_view(store, settings) -> None:
    msg = feedback_msg.accuracy_message(fbs.accuracy(store, settings), settings.for_messages)
    check_blocks(msg.blocks)
    assert "Live predictions" in dump(msg) and "backtest ROC AUC 0.81" in dump(msg)


def test_home_view(store, settings) -> None:
    data = home.home(store, settings, Requester(user_id="UMARIA", owner_email="maria.lopez@example.com"))
    msg = home_message(data, settings.for_messages)
    check_blocks(msg.blocks, surface="home")
    assert "Globex Health" in dump(msg) and "Recent movements" in dump(msg)
    assert home_view(data, settings.for_messages)["type"] == "home"
    stranger = home.home(store, settings, Requester(user_id="UNOBODY"))
    assert "No accounts of yours" in dump(home_message(stranger, settings.for_messages))


@pytest.mark.parametrize("text", ["", "acme", "acme analytics", "list at risk", "summary", "segments",
                                  "segment 2", "indicators", "features", "accuracy", "share acme logistics"])
def test_every_reply_renders_as_text(store, settings, text) -> None:
    msg = dispatch.answer(store, settings, dispatch.Request(text, user_id="UMARIA"),
                          ConsoleBackend("UMARIA"))
    check_blocks(msg.blocks)
    assert message_to_text(msg).strip()


def test_user_input_in_errors_is_escaped(store, settings) -> None:
    with pytest.raises(AccountNotFound) as err:
        acc.find_account(store, "<!channel> & co")
    msg = error_message(err.value)
    check_blocks(msg.blocks)
    assert "<!channel>" not in dump(msg) and "&lt;!channel&gt; &amp; co" in dump(msg)
