"""Workspace allow-list, admin-only commands, and what users hear when things go wrong."""

from __future__ import annotations

import json
import logging
import sqlite3
import time

import pytest

from bot.app import RedactTokens
from bot.listeners import common
from bot.listeners.common import ACK_REPLY_BUDGET_SECONDS
from bot.services import accounts as acc
from messages.errors import bug_message
from messages.render import check_blocks
from tests.bot.slack_harness import ack_reply, running_app

pytestmark = pytest.mark.slow


def test_other_workspaces_are_refused(tmp_path) -> None:
    with running_app(tmp_path, allowed_team_ids=["T0FAKE"]) as live:
        resp = live.command("acme", team="T0OTHER", response="other")
        assert resp.status_code == 200 and "not enabled" in resp.text
        assert "Initech Labs" in live.ask("initech", response="ok")["text"]
        assert live.responses("other") == []


def test_admin_only_commands(tmp_path) -> None:
    with running_app(tmp_path, admins=["UADMIN"]) as live:
        reply = live.ask("rescore", user="UMARIA", response="no")
        assert "Only the Outcomes admins" in reply["text"] and reply["via"] == "ack"


def test_a_bug_gets_a_short_honest_reply_and_a_traceback_in_the_log(tmp_path, monkeypatch, caplog) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(acc, "card", boom)
    with running_app(tmp_path) as live, caplog.at_level(logging.ERROR):
        reply = live.ask("initech", response="bug")
        assert reply["via"] == "ack" and reply["response_type"] == "ephemeral"
        check_blocks(reply["blocks"])
        assert reply["text"] == bug_message().text and "kaboom" not in json.dumps(reply)
        bugs = [r for r in caplog.records if r.exc_info and "kaboom" in str(r.exc_info[1])]
        assert len(bugs) == 1 and "bug while answering" in bugs[0].getMessage()
        time.sleep(0.3)  # give a wrongly duplicated reply the time to show up
        assert live.fake.responses == []


def test_a_locked_database_says_rescoring(tmp_path, monkeypatch) -> None:
    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(acc, "card", locked)
    with running_app(tmp_path) as live:
        assert "being rescored" in live.ask("initech", response="locked")["text"]


def test_list_mine_resolves_the_user_by_email(tmp_path) -> None:
    with running_app(tmp_path) as live:
        reply = live.ask("list renew mine", user="UJAMES", response="mine")
        assert "Initech Labs" in reply["text"] or "Initech Labs" in str(reply["blocks"])
        assert live.fake.calls_to("users.info")


def test_tokens_never_reach_the_log() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", ("xoxb-123-456-abc",), None)
    RedactTokens().filter(record)
    assert "xoxb-123" not in record.getMessage()


def test_an_answer_slower_than_slack_waits_follows_an_empty_ack(tmp_path, monkeypatch) -> None:
    real = acc.card

    def slow(*args, **kwargs):
        time.sleep(3.5)  # slower than Slack waits for an ack
        return real(*args, **kwargs)

    monkeypatch.setattr(acc, "card", slow)
    with running_app(tmp_path) as live:
        started = time.monotonic()
        resp = live.command("initech", response="slow")
        acked = time.monotonic() - started
        assert resp.status_code == 200 and ack_reply(resp) is None
        assert ACK_REPLY_BUDGET_SECONDS <= acked < 3.0
        reply = live.wait_response("slow", timeout=10)
        assert "Initech Labs" in reply["text"] and time.monotonic() - started >= 3.5
        check_blocks(reply["blocks"])
        time.sleep(0.3)  # give a wrongly duplicated reply the time to show up
        assert len(live.fake.responses) == 1


def test_past_the_budget_the_reply_goes_to_the_response_url_once(tmp_path, monkeypatch) -> None:
    """A tiny budget: the ack goes out empty and the card arrives once, at response_url."""
    real = acc.card

    def slowish(*args, **kwargs):
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(common, "ACK_REPLY_BUDGET_SECONDS", 0.01)
    monkeypatch.setattr(acc, "card", slowish)
    with running_app(tmp_path) as live:
        resp = live.command("initech", response="late")
        assert resp.status_code == 200 and ack_reply(resp) is None
        reply = live.reply_to(resp, "late")
        assert reply["via"] == "response_url" and reply["response_type"] == "ephemeral"
        check_blocks(reply["blocks"])
        assert "Initech Labs" in reply["text"]
        time.sleep(0.3)
        assert len(live.responses("late")) == 1 and len(live.fake.responses) == 1


def test_list_owner_mention_matches_accounts_filed_by_email(tmp_path) -> None:
    with running_app(tmp_path) as live:
        body = str(live.ask("list renew owner <@UJAMES|james>", user="UMARIA", response="owner")["blocks"])
        assert "Initech Labs" in body and "Acme Logistics" in body
