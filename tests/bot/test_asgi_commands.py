"""bot.app.asgi_app and slash commands: the answer in the ack when it is ready within the
budget, else an empty ack at the budget and the answer once through response_url; a
command whose listener acks at once still gets its work started after the ack."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.app import asgi_app
from bot.listeners import common
from bot.listeners.common import ack_then_work, answer_in_ack
from messages.errors import note_message
from storage.store import Store
from tests.fakes.slack_api import FakeSlack

SECRET = "asgi-test-secret"


def authorize(**_: object) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-test",
                           bot_user_id="UBOT", bot_id="BBOT")


@pytest.fixture()
def fake():
    with FakeSlack() as fake:
        yield fake


@contextmanager
def serve(fake: FakeSlack, register) -> Iterator[httpx.Client]:
    """A Bolt app with one listener behind asgi_app, in uvicorn on 127.0.0.1."""
    bolt = App(client=WebClient(base_url=fake.api_url), signing_secret=SECRET,
               authorize=authorize, process_before_response=True)
    register(bolt)
    with Store() as store:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(asgi_app(bolt, store), log_level="warning",
                                               access_log=False, lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        assert wait_for(lambda: server.started)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
                              timeout=10) as client:
                yield client
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def command(client: httpx.Client, fake: FakeSlack, name: str, text: str = "acme"):
    body = urlencode({"team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": name,
                      "text": text, "response_url": fake.response_url("r1"), "trigger_id": "t"})
    ts = str(int(time.time()))
    sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    return client.post("/slack/events", content=body, headers={
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})


def wait_for(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_an_answer_within_the_budget_is_the_ack_and_runs_on_the_dispatching_thread(fake) -> None:
    threads = []

    def card(body, respond, client):
        threads.append(threading.current_thread().name)
        return note_message("the card")

    class NoPool:
        def submit(self, *args, **kwargs):
            raise AssertionError("handed to the pool")

    with serve(fake, lambda bolt: bolt.command("/outcome")(answer_in_ack(card, NoPool()))) as client:
        resp = command(client, fake, "/outcome")
    assert resp.status_code == 200 and resp.json()["text"] == "the card"
    assert resp.json()["response_type"] == "ephemeral" and len(threads) == 1
    assert fake.responses == []


def test_past_the_budget_the_ack_is_empty_and_the_answer_follows_once(fake, monkeypatch) -> None:
    monkeypatch.setattr(common, "ACK_REPLY_BUDGET_SECONDS", 0.05)
    release = threading.Event()

    def slow(body, respond, client):
        release.wait(5)
        return note_message("the slow card")

    with ThreadPoolExecutor(1) as pool, \
            serve(fake, lambda bolt: bolt.command("/outcome")(answer_in_ack(slow, pool))) as client:
        started = time.monotonic()
        resp = command(client, fake, "/outcome")
        assert time.monotonic() - started < 3
        assert resp.status_code == 200 and resp.content == b""
        release.set()
        assert wait_for(lambda: fake.responses)
        time.sleep(0.1)  # a wrongly duplicated reply would show up by now
    assert [r["text"] for r in fake.responses] == ["the slow card"]


def test_a_command_that_acks_at_once_starts_its_work_after_the_ack(fake) -> None:
    done = threading.Event()

    def work(body, respond, client):
        done.set()

    with ThreadPoolExecutor(1) as pool, \
            serve(fake, lambda bolt: bolt.command("/other")(ack_then_work(work, pool))) as client:
        resp = command(client, fake, "/other")
        assert resp.status_code == 200
        assert done.wait(5)
