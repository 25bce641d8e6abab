"""`outcomes run` (Socket Mode) as a separate process, against a local Socket Mode endpoint.

The app opens its connection through `apps.connections.open` on the fake Web API, gets
hello over a real WebSocket, receives a `slash_commands` envelope and acks it with the
envelope id within Slack's 3 seconds, the answer in the ack's payload (nothing goes to
the response_url).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from messages.render import check_blocks
from storage.store import Store
from tests.bot.book import seed_book
from tests.fakes.slack_api import FakeSlack
from tests.fakes.socket_mode import SocketModeServer

pytestmark = pytest.mark.slow
APP_TOKEN = "xapp-1-A0OUTCOMES-socket"


def slash(fake: FakeSlack, text: str, response: str) -> dict[str, str]:
    """A slash command's payload as Socket Mode delivers it (the HTTP form's fields)."""
    return {"token": "legacy", "team_id": "T0FAKE", "team_domain": "acme", "channel_id": "C0SALES",
            "channel_name": "sales", "user_id": "UMARIA", "user_name": "maria",
            "command": "/outcome", "text": text, "api_app_id": "A0OUTCOMES",
            "is_enterprise_install": "false", "response_url": fake.response_url(response),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0"}


def test_outcomes_run_answers_a_slash_command_over_socket_mode(tmp_path: Path) -> None:
    db = tmp_path / "socket.db"
    with Store(db) as store:
        seed_book(store)
    with SocketModeServer() as ws, FakeSlack(socket_mode=ws) as fake:
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-socket", "SLACK_APP_TOKEN": APP_TOKEN,
               "SLACK_API_URL": fake.api_url, "OUTCOMES_CONFIG": "", "OUTCOMES_DB": str(db)}
        env.pop("SLACK_SIGNING_SECRET", None)   # Socket Mode needs no signing secret
        exe = Path(sys.executable).with_name("outcomes")
        proc = subprocess.Popen([str(exe), "run"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not ws.connections:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "outcomes run did not connect"
                time.sleep(0.05)
            opened = fake.calls_to("apps.connections.open")
            assert len(opened) == 1
            assert opened[0].headers["authorization"] == f"Bearer {APP_TOKEN}"

            t = time.monotonic()
            envelope = ws.send_envelope("slash_commands", slash(fake, "northwind", "socket"))
            ack = ws.wait_ack(envelope, timeout=3)
            assert time.monotonic() - t < 3
            assert ack["envelope_id"] == envelope
            answer = ack.get("payload") or {}
            assert answer.get("response_type") == "ephemeral", ack
            assert "Northwind Energy" in answer["text"]
            assert any("Northwind Energy" in str(b) for b in answer.get("blocks", []))
            check_blocks(answer["blocks"])

            # A second command over the same connection: one ack each, matched by envelope id.
            second = ws.send_envelope("slash_commands", slash(fake, "list at risk", "socket2"))
            ack2 = ws.wait_ack(second, timeout=3)
            assert ack2["envelope_id"] == second and "At Risk" in ack2["payload"]["text"]
            check_blocks(ack2["payload"]["blocks"])
            time.sleep(0.3)  # give a wrongly duplicated reply the time to show up
            assert fake.responses == []
            assert len(ws.connections) == 1 and proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        err = proc.stderr.read()
        assert APP_TOKEN.encode() not in err and b"xoxb-socket" not in err
