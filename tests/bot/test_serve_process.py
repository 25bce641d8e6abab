"""`outcomes serve` itself, as a separate process: what the judge and production run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from messages.render import check_blocks
from storage.store import Store
from tests.bot.book import seed_book
from tests.fakes.slack_api import FakeSlack

pytestmark = pytest.mark.slow
SECRET = "serve-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_outcomes_serve_answers_signed_commands(tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    with Store(db) as store:
        seed_book(store)
    port = free_port()
    with FakeSlack() as fake:
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-serve", "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": fake.api_url, "OUTCOMES_CONFIG": "", "OUTCOMES_DB": str(db)}
        exe = Path(sys.executable).with_name("outcomes")
        proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            assert health.json()["scored_as_of"] == "2026-11-01"
            body = urlencode({"team_id": "T0FAKE", "channel_id": "C1", "user_id": "U1",
                              "command": "/outcome", "text": "northwind",
                              "response_url": fake.response_url("serve"), "trigger_id": "t"})
            ts = str(int(time.time()))
            sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
            headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                       "Content-Type": "application/x-www-form-urlencoded"}
            t = time.monotonic()
            resp = httpx.post(base + "/slack/events", content=body, headers=headers, timeout=5)
            assert resp.status_code == 200 and time.monotonic() - t < 3
            card = resp.json()   # the card is the ack's body, nothing goes to the response_url
            assert card["response_type"] == "ephemeral" and "Northwind Energy" in card["text"]
            check_blocks(card["blocks"])
            time.sleep(0.3)
            assert fake.responses == []
            bad = httpx.post(base + "/slack/events", content=body,
                             headers={**headers, "X-Slack-Signature": "v0=" + "0" * 64}, timeout=5)
            assert bad.status_code == 401
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        assert b"xoxb-serve" not in proc.stderr.read()
