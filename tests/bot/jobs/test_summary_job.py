"""Channel summary and summary email, once per period each; email against a local SMTP server."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from bot.config import Settings
from bot.slack_client import make_client
from bot.summary_job import send_summary
from messages.render import checked
from storage import deliveries as ledger
from storage.store import Store
from tests.bot.jobs.conftest import P2, SUMMARY_CHANNEL, make_settings, scored_book

NO_SLEEP = lambda seconds: None


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def email_settings(tmp_path: Path, api_url: str, port: int) -> Settings:
    return make_settings(tmp_path, api_url, smtp={
        "host": "127.0.0.1", "port": port, "starttls": False, "sender": "outcomes@example.com",
        "recipients": ["cs-leads@example.com", "vp@example.com"]})


def test_summary_posted_and_emailed_once_per_period(tmp_path, fake, clock, smtp):
    inbox, port = smtp
    settings = email_settings(tmp_path, fake.api_url, port)
    with Store(settings.db_path) as store:
        scored_book(store, settings)
        client = make_client(settings)
        run = send_summary(store, settings, client, clock=clock, sleep=NO_SLEEP)
        assert run.count("sent") == 2

        (post,) = fake.posted_to(SUMMARY_CHANNEL)
        checked(post["text"], post["blocks"])
        assert post["metadata"]["event_payload"]["key"] == f"summary:{SUMMARY_CHANNEL}:{P2}"
        body = " ".join(str(b.get("text", {}).get("text", "")) for b in post["blocks"])
        assert "Acme" in body          # the biggest ARR mover

        (msg,) = inbox.messages
        assert sorted(inbox.envelopes[0].rcpt_tos) == ["cs-leads@example.com", "vp@example.com"]
        assert msg["From"] == "outcomes@example.com" and P2 in msg["Subject"]
        assert msg.get_content_type() == "multipart/alternative"
        plain = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Likely to Churn" in plain and "Acme: Watch -> Likely to Churn" in plain
        assert "<table" in html and "Birch &lt;&amp;&gt; Co" in html and "Birch <&> Co" not in html

        clock.advance(hours=1)
        again = send_summary(store, settings, client, clock=clock, sleep=NO_SLEEP)
        assert again.count("sent") == 0 and len(inbox.messages) == 1
        assert len(fake.posted_to(SUMMARY_CHANNEL)) == 1


def test_email_server_down_is_recorded_and_retried(tmp_path, fake, clock, smtp):
    inbox, port = smtp
    settings = email_settings(tmp_path, fake.api_url, free_port())   # nobody listens there
    with Store(settings.db_path) as store:
        scored_book(store, settings)
        run = send_summary(store, settings, make_client(settings), clock=clock, sleep=NO_SLEEP)
        row = ledger.get(store, f"email:{P2}")
        assert row.status == "failed" and "SMTP" in row.last_error
        assert run.count("failed") == 1
        assert any("email" in m["text"] or "cs-leads" in m["text"]
                   for m in fake.posted_to("CADMIN"))
    fixed = email_settings(tmp_path, fake.api_url, port)
    with Store(fixed.db_path) as store:
        send_summary(store, fixed, make_client(fixed), clock=clock, sleep=NO_SLEEP)
        assert len(inbox.messages) == 1 and ledger.get(store, f"email:{P2}").status == "sent"


def test_email_interrupted_mid_send_is_not_resent(tmp_path, fake, clock, smtp):
    inbox, port = smtp
    settings = email_settings(tmp_path, fake.api_url, port)
    with Store(settings.db_path) as store:
        scored_book(store, settings)
        ledger.claim(store, f"email:{P2}", kind="email", recipient="x", period=P2, channel=None,
                     now=clock())   # a run that died inside SMTP
        clock.advance(minutes=5)
        run = send_summary(store, settings, make_client(settings), clock=clock, sleep=NO_SLEEP)
        assert inbox.messages == [] and run.count("unknown") == 1
        assert "--release email:" in ledger.get(store, f"email:{P2}").last_error
