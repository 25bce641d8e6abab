"""Hostile data never reaches a person: every message the app sends, from a book whose names,
owners, products, segment, metric and component names are attacks, carries no mention or
link that came from data; CSV downloads cannot run formulas; charts draw names literally.

The book is written to a real SQLite file and the Slack answers go through `outcomes ask
--json` (the same dispatcher as Slack), the pulse and summary through their dry runs.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.services import catalog, home
from bot.services import feedback as fbs
from bot import services
from bot.services.core import Requester
from messages import feedback as feedback_msg
from messages.account import health_chart_png
from messages.email import summary_email
from messages.home import home_message
from messages.pulse import admin_report_message, inbox_report_message
from messages.render import check_blocks
from messages.spreadsheet import safe_cell, write_csv
from storage import feedback as fb
from storage.store import Store
from tests.bot.book import BOOK, Acct, seed_book

LINK = "<https://evil.example|login>"
HOSTILE_NAMES = [
    f"<!channel> Acme {LINK}",
    '=HYPERLINK("https://evil.example","Open")',
    "Bobby'); DROP TABLE accounts;--",
    "<@U0EVIL> & <#C0EVIL> <!here> <!subteam^S0EVIL>",
    r"Cost $x^2$ and $\frac{ Ltd",
    "\u202eevil\u202c Corp\u200b 🚀👩‍👩‍👧 <!everyone>",
    "L" * 500 + " <!channel>",
]
HOSTILE_PRODUCTS = f"<!channel>;{LINK};=cmd|' /C calc'!A0"
HOSTILE_METRIC = "<!here>_logins"
OWNER = "UMARIA"          # the one real Slack id in the book: its mention is built on purpose
ASKER = "UASKER"
ALLOWED_MENTIONS = {f"<@{OWNER}>", f"<@{ASKER}>"}
# What a Slack client would parse as a mention, a channel, a broadcast or a link.
PARSED = re.compile(r"<[@#!]|<https?:|<mailto:", re.I)


def hostile_book() -> list[Acct]:
    book = []
    for i, name in enumerate(HOSTILE_NAMES):
        base = BOOK[i % len(BOOK)]
        book.append(replace(base, account_id=f"ACC-EVIL{i}", name=name, products=HOSTILE_PRODUCTS,
                            owner_email=f"eve{i}+<!channel>@evil.example",
                            owner_slack_id=OWNER if i % 2 else None))
    return book


def poison_catalogue(store: Store) -> None:
    """Segment, indicator, component and driver texts from data, all hostile."""
    with store.transaction() as conn:
        conn.execute("UPDATE segments SET name = ?, top_products = ?",
                     (f"<!channel> segment {LINK}", json.dumps([HOSTILE_PRODUCTS])))
        conn.execute("UPDATE segments SET benchmarks = ?",
                     (json.dumps({HOSTILE_METRIC: {"low": 1, "median": 2, "high": 3}}),))
        conn.execute("UPDATE indicators SET component = '<!channel> ' || component,"
                     " direction = ? ", (f"more {LINK}, less churn",))
        conn.execute("UPDATE components SET component = '<!here> ' || component, columns = ?,"
                     " present = ?", (json.dumps([HOSTILE_METRIC]), json.dumps([HOSTILE_METRIC])))
        drivers = [{"direction": "down", "component": "<!channel> usage", "metric": HOSTILE_METRIC,
                    "label": f"Logins {LINK}", "value": 1, "typical": 2, "level": "Low",
                    "text": f"Logins {LINK}: Low <!channel>"},
                   {"direction": "unclear", "component": "<!channel> usage", "metric": HOSTILE_METRIC,
                    "label": f"Seats {LINK}", "unit": None, "value": 5, "typical": 2, "level": "High",
                    "sense": "unclear", "points": -1.5}]
        conn.execute("UPDATE scores SET drivers = ? WHERE drivers IS NOT NULL", (json.dumps(drivers),))


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "hostile.db"
    with Store(str(path)) as store:
        seed_book(store, hostile_book())
        poison_catalogue(store)
    return path


def texts_of(payload: Any) -> list[str]:
    """Every string Slack reads as mrkdwn (and the top-level text) in a message or view."""
    out: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" and isinstance(payload.get("text"), str):
            out.append(payload["text"])
        for key, value in payload.items():
            if key == "text" and isinstance(value, str) and "type" not in payload:
                out.append(value)  # the message's own `text`
            elif isinstance(value, (dict, list)):
                out += texts_of(value)
    elif isinstance(payload, list):
        for item in payload:
            out += texts_of(item)
    return out


def assert_nothing_parsed_from_data(text: str, where: str) -> None:
    for m in PARSED.finditer(text):
        token = text[m.start(): text.find(">", m.start()) + 1]
        assert token in ALLOWED_MENTIONS, f"{where}: {token!r} came from data in {text[:300]!r}"
    assert "\u202e" not in text, f"{where}: a right-to-left override reached Slack"


def ask(db, text: str, user: str = ASKER) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["--db", str(db), "ask", "--json", "--user", user, text])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


COMMANDS = ["help", "summary", "segments", "segment 1", "segment 2", "indicators", "features",
            "accuracy", "list at risk", "list watch", "list likely to renew", "list likely to churn",
            "list likely to upsell", "list not likely to upsell", "acme", "evil", "bobby", "cost",
            "LLLLLLLLLLLLLLLLLLLL", "<!channel> no such account", "list <!channel>",
            "segment <!here>", "<@U0EVIL>"]


@pytest.mark.parametrize("command", COMMANDS)
def test_slash_command_answers_escape_data(db, command) -> None:
    payload = ask(db, f"/outcome {command}")
    check_blocks(payload["blocks"])
    assert payload["text"].strip()
    for text in texts_of(payload):
        assert_nothing_parsed_from_data(text, command)


def test_every_account_card_escapes_data(db) -> None:
    for i, name in enumerate(HOSTILE_NAMES):
        payload = ask(db, f"/outcome {name[:40]}")
        check_blocks(payload["blocks"])
        for text in texts_of(payload):
            assert_nothing_parsed_from_data(text, f"card {i}")
        assert len(payload["text"]) <= 40_000


def test_mine_answers_keep_the_real_mention(db) -> None:
    payload = ask(db, "/outcome summary mine", user=OWNER)
    check_blocks(payload["blocks"])
    for text in texts_of(payload):
        assert_nothing_parsed_from_data(text, "summary mine")
    card = ask(db, "/outcome bobby")
    assert any(f"<@{OWNER}>" in t for t in texts_of(card)) or any(
        "eve" in t and "&lt;!channel&gt;" in t for t in texts_of(card))


def test_pulse_dms_and_channel_summary_escape_data(db, settings) -> None:
    from bot.pulse.send import plan_pulses
    from bot.summary_job import plan_summary

    with Store(str(db)) as store:
        planned = plan_pulses(store, settings)
        summary = plan_summary(store, settings).message
    assert planned, "the hostile book has owners with movements"
    for message in [p.message for p in planned] + [summary]:
        check_blocks(message.blocks)
        for text in texts_of(message.payload()):
            assert_nothing_parsed_from_data(text, message.text[:40])


def test_feedback_home_and_reports_escape_data(db, settings) -> None:
    with Store(str(db)) as store:
        ids = [a.account_id for a in hostile_book()]
        fb.record_post(store, "C1", "1.1", "pulse", ids[:2])
        fb.record_post(store, "C1", "2.2", "card", ids[2:3])
        several = fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id=ASKER, reaction="x")
        one = fbs.flag_reaction(store, settings, channel="C1", ts="2.2", user_id=ASKER, reaction="x")
        prediction = fbs.prediction(store, ids[2])
        messages = [
            feedback_msg.flag_choose_account(several.flag, several.accounts, settings.for_messages),
            feedback_msg.flag_prompt(one.flag, one.accounts[0], prediction, settings.for_messages),
            feedback_msg.flag_thanks(one.flag, one.accounts[0]["name"], settings.for_messages),
            home_message(home.home(store, settings, Requester(user_id=OWNER)), settings.for_messages),
            admin_report_message("pulse", "2026-11-01", 3, [
                {"recipient": HOSTILE_NAMES[0], "status": "failed", "error": HOSTILE_NAMES[3]}]),
            inbox_report_message("<!channel>/inbox", [type("F", (), {"name": HOSTILE_NAMES[0],
                                                                    "detail": HOSTILE_NAMES[3]})()],
                                 [], HOSTILE_NAMES[1]),
        ]
        for message in messages:
            check_blocks(message.blocks, surface=message.surface)
            for text in texts_of(message.payload()):
                assert_nothing_parsed_from_data(text, message.text[:40])


def test_summary_email_html_is_escaped(db, settings) -> None:
    with Store(str(db)) as store:
        email = summary_email(services.summary(store, settings), settings.for_messages)
    assert "<!channel>" not in email.html and "&lt;!channel&gt;" in email.html
    assert "<https://evil.example" not in email.html


def test_segment_csv_cannot_run_formulas(db, settings) -> None:
    with Store(str(db)) as store:
        _, content = catalog.segment_csv(store, settings, 1)
    cells = [c for row in csv.reader(io.StringIO(content.decode("utf-8"))) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"https://evil.example\",\"Open\")" in cells


def test_safe_cell_follows_the_owasp_rule() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}1+1") == f"'{start}1+1"
    assert safe_cell("Acme") == "Acme" and safe_cell(-5) == -5 and safe_cell(None) is None
    out = io.StringIO()
    write_csv(out, ["=name", "arr"], [{"=name": "@SUM(A1)", "arr": 3.5}])
    assert out.getvalue() == "'=name,arr\n'@SUM(A1),3.5\n"


def test_health_chart_draws_any_name(db, settings) -> None:
    from bot.services import accounts as acc

    with Store(str(db)) as store:
        for i in range(len(HOSTILE_NAMES)):
            png = health_chart_png(acc.card(store, settings, f"ACC-EVIL{i}"), settings.for_messages)
            assert png.startswith(b"\x89PNG")
