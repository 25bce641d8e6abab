"""The app's Web API client: SLACK_API_URL, and slack_sdk's retry handlers for what Slack does."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.config import load_settings
from bot.slack_client import MissingSecret, make_client
from tests.fakes.slack_api import FakeSlack


@pytest.fixture()
def fake():
    with FakeSlack() as server:
        yield server


def settings_for(fake: FakeSlack, token: str | None = "xoxb-test"):
    env = {"SLACK_API_URL": fake.api_url}
    if token:
        env["SLACK_BOT_TOKEN"] = token
    return load_settings(env=env, config_path=None)


def test_calls_go_to_slack_api_url(fake: FakeSlack) -> None:
    make_client(settings_for(fake)).auth_test()
    assert [c.method for c in fake.calls] == ["auth.test"]


def test_missing_token_is_a_clear_error(fake: FakeSlack) -> None:
    with pytest.raises(MissingSecret, match="SLACK_BOT_TOKEN"):
        make_client(settings_for(fake, token=None))


def test_429_waits_for_retry_after_and_5xx_is_retried(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=1)
    fake.fail("chat.postMessage", status=503)
    resp = make_client(settings_for(fake)).chat_postMessage(channel="C1", text="hi")
    assert resp["ok"]
    calls = fake.calls_to("chat.postMessage")
    assert len(calls) == 3 and calls[1].at - calls[0].at >= 1.0


def test_a_timeout_is_retried_only_when_asked(fake: FakeSlack, monkeypatch) -> None:
    monkeypatch.setattr("bot.slack_client.REQUEST_TIMEOUT_SECONDS", 1)
    fake.fail("chat.postMessage", status=200, delay=1.5)
    resp = make_client(settings_for(fake), retry_timeouts=True).chat_postMessage(channel="C1", text="hi")
    assert resp["ok"] and len(fake.calls_to("chat.postMessage")) == 2
    fake.reset()
    fake.fail("chat.postMessage", status=200, delay=1.5)
    with pytest.raises(TimeoutError):
        make_client(settings_for(fake)).chat_postMessage(channel="C1", text="hi")
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_errors_that_are_not_transient_are_not_retried(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        make_client(settings_for(fake)).chat_postMessage(channel="", text="hi")
    assert err.value.response["error"] == "channel_not_found"
    assert len(fake.calls_to("chat.postMessage")) == 1
