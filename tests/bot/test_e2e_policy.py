"""Workspace allow-list, admin-only commands, and what users hear when things go wrong."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from bot.app import RedactTokens
from bot.services import accounts as acc
from messages.render import check_blocks
from tests.bot.slack_harness import running_app

pytestmark = pytest.mark.slow


def test_other_workspaces_are_refused(tmp_path) -> None:
    with running_app(tmp_path, allowed_team_ids=["T0FAKE"]) as live:
        resp = live.command("acme", team="T0OTHER", response="other")
        assert resp.status_code == 200 and "not enabled" in resp.text
        live.command("initech", response="ok")
        assert "Initech Labs" in live.wait_response("ok")["text"]
        assert live.responses("other") == []


def test_admin_only_commands(tmp_path) -> None:
    with running_app(tmp_path, admins=["UADMIN"]) as live:
        live.command("rescore", user="UMARIA", response="no")
        assert "Only the Outcomes admins" in live.wait_response("no")["text"]


def test_a_bug_gets_a_short_honest_reply_and_a_traceback_in_the_log(tmp_path, monkeypatch, caplog) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(acc, "card", boom)
    with running_app(tmp_path) as live, caplog.at_level(logging.ERROR):
        live.command("initech", response="bug")
        reply = live.wait_response("bug")
        check_blocks(reply["blocks"])
        assert "something went wrong on my side" in reply["text"] and "kaboom" not in reply["text"]
        live.wait_for(lambda: any("kaboom" in (r.exc_text or "") or r.exc_info for r in caplog.records))


def test_a_locked_database_says_rescoring(tmp_path, monkeypatch) -> None:
    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(acc, "card", locked)
    with running_app(tmp_path) as live:
        live.command("initech", response="locked")
        assert "being rescored" in live.wait_response("locked")["text"]


def test_list_mine_resolves_the_user_by_email(tmp_path) -> None:
    with running_app(tmp_path) as live:
        live.command("list renew mine", user="UJAMES", response="mine")
        reply = live.wait_response("mine")
        assert "Initech Labs" in reply["text"] or "Initech Labs" in str(reply["blocks"])
        assert live.fake.calls_to("users.info")


def test_tokens_never_reach_the_log() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", ("xoxb-123-456-abc",), None)
    RedactTokens().filter(record)
    assert "xoxb-123" not in record.getMessage()


def test_ack_is_immediate_even_when_the_answer_is_slow(tmp_path, monkeypatch) -> None:
    import time

    real = acc.card

    def slow(*args, **kwargs):
        time.sleep(3.5)  # slower than Slack waits for an ack
        return real(*args, **kwargs)

    monkeypatch.setattr(acc, "card", slow)
    with running_app(tmp_path) as live:
        started = time.monotonic()
        assert live.command("initech", response="slow").status_code == 200
        assert time.monotonic() - started < 0.5
        reply = live.wait_response("slow", timeout=10)
        assert "Initech Labs" in reply["text"] and time.monotonic() - started >= 3.5


def test_list_owner_mention_matches_accounts_filed_by_email(tmp_path) -> None:
    with running_app(tmp_path) as live:
        live.command("list renew owner <@UJAMES|james>", user="UMARIA", response="owner")
        body = str(live.wait_response("owner")["blocks"])
        assert "Initech Labs" in body and "Acme Logistics" in body
