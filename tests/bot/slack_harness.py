"""End-to-end harness: the real app behind Starlette + uvicorn on 127.0.0.1, a real SQLite
file, the Web API client pointed at FakeSlack, and requests signed as Slack signs them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from slack_sdk.signature import SignatureVerifier

from bot.app import asgi_app, create_app
from bot.config import Settings, load_settings
from bot.slack_client import make_client
from storage.store import Store
from tests.bot.book import seed_book
from tests.fakes.slack_api import FakeSlack

SECRET = "e2e-signing-secret"
TEAM = "T0FAKE"


@dataclass
class Running:
    url: str
    fake: FakeSlack
    store: Store
    settings: Settings
    http: httpx.Client

    # -- signing -------------------------------------------------------------------------

    def post(self, body: str, content_type: str, *, timestamp: int | None = None,
             signature: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
        hdrs = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                "Content-Type": content_type, **(headers or {})}
        return self.http.post(self.url + "/slack/events", content=body.encode(), headers=hdrs)

    def command(self, text: str, *, user: str = "UMARIA", channel: str = "C0SALES",
                response: str = "r1", team: str = TEAM, **kw: Any) -> httpx.Response:
        body = urlencode({
            "token": "legacy", "team_id": team, "team_domain": "acme", "channel_id": channel,
            "channel_name": "sales", "user_id": user, "user_name": user.lower(),
            "command": self.settings.slack.command, "text": text,
            "response_url": self.fake.response_url(response), "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "api_app_id": "A0OUTCOMES",
        })
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def event(self, event: dict[str, Any], *, event_id: str = "Ev001", retry: int | None = None,
              team: str = TEAM) -> httpx.Response:
        body = json.dumps({"token": "legacy", "team_id": team, "api_app_id": "A0OUTCOMES",
                           "type": "event_callback", "event_id": event_id,
                           "event_time": int(time.time()), "event": event,
                           "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}]})
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return self.post(body, "application/json", headers=headers)

    def action(self, action_id: str, value: str, *, user: str = "UMARIA", channel: str = "C0SALES",
               message_ts: str = "1700000000.000100", ephemeral: bool = False,
               response: str = "a1", selected: bool = False) -> httpx.Response:
        action: dict[str, Any] = {"action_id": action_id, "block_id": "b1", "type": "button",
                                  "value": value, "action_ts": str(time.time())}
        if selected:
            action = {"action_id": action_id, "block_id": "b1", "type": "static_select",
                      "selected_option": {"value": value, "text": {"type": "plain_text", "text": "x"}}}
        payload = {
            "type": "block_actions", "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0OUTCOMES", "token": "legacy",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                          "is_ephemeral": ephemeral},
            "trigger_id": "123.456.abc", "channel": {"id": channel, "name": "sales"},
            "response_url": self.fake.response_url(response), "actions": [action],
        }
        if not ephemeral:
            payload["message"] = {"type": "message", "ts": message_ts, "text": "x", "user": "UBOT"}
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], *,
                        user: str = "UMARIA") -> httpx.Response:
        """Submit a modal the app opened (`view` as views.open got it) with these input values."""
        payload = {
            "type": "view_submission", "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0OUTCOMES", "token": "legacy", "trigger_id": "789.012.def",
            "view": {**view, "id": "V1", "team_id": TEAM, "state": {"values": values},
                     "hash": "1700000000.abc"},
            "response_urls": [],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    # -- waiting -------------------------------------------------------------------------------

    def wait_for(self, what: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll until `what()` is truthy (replies arrive after the ack, on another thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            time.sleep(0.005)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def responses(self, name: str) -> list[dict[str, Any]]:
        return [r for r in list(self.fake.responses) if r["url"].endswith("/" + name)]

    def wait_response(self, name: str, n: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        return self.wait_for(lambda: len(self.responses(name)) >= n and self.responses(name)[n - 1],
                             timeout)

    def reply_to(self, resp: httpx.Response, name: str, timeout: float = 5.0) -> dict[str, Any]:
        """A command's reply wherever it came: the ack's body when it carries one (marked
        `"via": "ack"`), else the first post to response_url `name` (`"via": "response_url"`)."""
        in_ack = ack_reply(resp)
        if in_ack is not None:
            return {**in_ack, "via": "ack"}
        return {**self.wait_response(name, timeout=timeout), "via": "response_url"}

    def ask(self, text: str, *, response: str = "r1", timeout: float = 5.0, **kw: Any) -> dict[str, Any]:
        """`/outcome text` and its reply (see `reply_to`)."""
        resp = self.command(text, response=response, **kw)
        assert resp.status_code == 200, resp.text
        return self.reply_to(resp, response, timeout)


def ack_reply(resp: httpx.Response) -> dict[str, Any] | None:
    """The message in a slash command's ack (JSON with text and blocks), None for an empty ack."""
    if not resp.content:
        return None
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    body = resp.json()
    assert body.get("blocks") and body.get("text"), body
    return body


def e2e_settings(db: Path, api_url: str, **slack: Any) -> Settings:
    settings = load_settings(db_path=str(db), env={
        "SLACK_BOT_TOKEN": "xoxb-e2e", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url})
    if slack:
        settings = settings.model_copy(update={"slack": settings.slack.model_copy(update=slack)})
    return settings


@contextmanager
def running_app(tmp_path: Path, *, seed: Callable[[Store], None] = seed_book,
                **slack: Any) -> Iterator[Running]:
    with FakeSlack(users={"maria.lopez@example.com": "UMARIA", "james.chen@example.com": "UJAMES"}) as fake:
        settings = e2e_settings(tmp_path / "e2e.db", fake.api_url, **slack)
        store = Store(settings.db_path)
        seed(store)
        app = create_app(settings, store, make_client(settings))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(asgi_app(app, store), log_level="warning",
                                               access_log=False, lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            with httpx.Client(timeout=10) as http:
                yield Running(f"http://127.0.0.1:{port}", fake, store, settings, http)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            store.close()
