from __future__ import annotations

import pytest

from bot import dispatch, router
from bot.services.errors import BadArguments


@pytest.mark.parametrize(("text", "name"), [
    ("", "help"), ("help", "help"), ("HELP", "help"), ("summary", "summary"),
    ("segments", "segments"), ("indicators", "indicators"), ("ingredients", "indicators"),
    ("features", "features"), ("accuracy", "accuracy"), ("acme", "account"),
    ("Acme Analytics", "account"), ("summary of acme", "account"), ("rescore", "rescore"),
])
def test_parse_command_names(settings, text, name) -> None:
    assert router.parse(settings, text).name == name


def test_segment_needs_a_number(settings) -> None:
    assert router.parse(settings, "segment 3").args == {"segment_id": 3}
    assert router.parse(settings, "segment #2").args == {"segment_id": 2}
    with pytest.raises(BadArguments, match="needs a number"):
        router.parse(settings, "segment two")


@pytest.mark.parametrize(("words", "category"), [
    ("at risk", "At Risk"), ("AT RISK", "At Risk"), ("risk", "At Risk"), ("watch", "Watch"),
    ("likely to churn", "Likely to Churn"), ("churn", "Likely to Churn"),
    ("likely to renew", "Likely to Renew"), ("renew", "Likely to Renew"),
    ("likely to upsell", "Likely to upsell"), ("upsell", "Likely to upsell"),
    ("not likely to upsell", "Not likely to upsell"), ("wach", "Watch"), ("at_risk", "At Risk"),
])
def test_categories_are_forgiving(settings, words, category) -> None:
    assert router.parse_category(settings, words)[0] == category


def test_unknown_category_lists_the_choices(settings) -> None:
    with pytest.raises(BadArguments, match="Use one of"):
        router.parse_category(settings, "banana")


def test_list_options(settings) -> None:
    q = router.parse(settings, "list at risk mine segment 2 page 3").args["query"]
    assert (q.category, q.kind, q.mine, q.segment_id, q.page) == ("At Risk", "renewal", True, 2, 3)
    q = router.parse(settings, "list likely to upsell owner <@U123ABC|maria>").args["query"]
    assert (q.category, q.kind, q.owner_slack_id) == ("Likely to upsell", "upsell", "U123ABC")
    q = router.parse(settings, "list watch owner maria.lopez@example.com").args["query"]
    assert q.owner_email == "maria.lopez@example.com"
    q = router.parse(settings, "list watch <@U9>").args["query"]
    assert q.owner_slack_id == "U9"


def test_typo_of_a_command_is_remembered(settings) -> None:
    cmd = router.parse(settings, "sumary")
    assert cmd.name == "account" and cmd.maybe == "summary"


def test_share_needs_an_account(settings) -> None:
    with pytest.raises(BadArguments):
        router.parse(settings, "share")
    assert router.parse(settings, "share acme").args == {"query": "acme"}


def test_summary_mine(settings, store) -> None:
    from bot.services.core import Requester

    cmd = router.parse(settings, "summary mine")
    assert cmd.name == "summary" and cmd.args == {"mine": True} and router.needs_owner(cmd)
    msg = dispatch.reply(store, settings, cmd, Requester(user_id="UMARIA"))
    assert "Your accounts" in msg.text and "Northwind" not in str(msg.blocks)
