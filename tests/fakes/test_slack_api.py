"""The fake must behave like Slack for the slack_sdk client, or the other tests prove nothing."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack_api import FakeSlack


@pytest.fixture()
def fake():
    with FakeSlack(users={"ana@example.com": "UANA"}) as server:
        yield server


def test_post_message_answers_ok_and_is_recorded(fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    resp = client.chat_postMessage(channel="C1", text="hello", blocks=[{"type": "divider"}])
    assert resp["ok"] and resp["channel"] == "C1" and resp["ts"]
    (call,) = fake.calls_to("chat.postMessage")
    assert call.params["text"] == "hello" and call.params["blocks"] == [{"type": "divider"}]


def test_errors_come_back_as_slack_api_errors(fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    with pytest.raises(SlackApiError) as err:
        client.users_lookupByEmail(email="nobody@example.com")
    assert err.value.response["error"] == "users_not_found"
    with pytest.raises(SlackApiError) as err:
        WebClient(token="bad", base_url=fake.api_url).auth_test()
    assert err.value.response["error"] == "invalid_auth"


def test_rate_limit_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=1)
    client = WebClient(token="xoxb-test", base_url=fake.api_url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    resp = client.chat_postMessage(channel="C1", text="hi")
    assert resp["ok"]
    calls = fake.calls_to("chat.postMessage")
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 1.0


def test_server_error_without_retry_raises(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500)
    client = WebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 500


def test_file_upload_v2_lands_on_the_fake(fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    resp = client.files_upload_v2(channel="C1", content=b"\x89PNG...", filename="health.png", title="Health")
    assert resp["ok"]
    assert list(fake.uploads.values()) == [b"\x89PNG..."]
    assert fake.calls_to("files.completeUploadExternal")


@pytest.mark.slow
def test_socket_mode_handshake_hello_and_acks() -> None:
    """slack_sdk's own Socket Mode client connects to the fake and acks an envelope."""
    from slack_sdk.socket_mode import SocketModeClient
    from slack_sdk.socket_mode.response import SocketModeResponse

    from tests.fakes.socket_mode import SocketModeServer, wait_until

    with SocketModeServer() as ws, FakeSlack(socket_mode=ws) as fake:
        bot = WebClient(token="xoxb-test", base_url=fake.api_url)
        with pytest.raises(SlackApiError) as err:
            bot.apps_connections_open(app_token="xoxb-test")
        assert err.value.response["error"] == "not_allowed_token_type"
        client = SocketModeClient(app_token="xapp-test", web_client=bot, auto_reconnect_enabled=False)
        seen = []

        def listener(c: SocketModeClient, req) -> None:
            seen.append(req.type)
            c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id,
                                                           payload={"text": "ok"}))

        client.socket_mode_request_listeners.append(listener)
        client.connect()
        try:
            ws.wait_connected(timeout=10)
            envelope = ws.send_envelope("slash_commands", {"command": "/outcome", "text": "x"})
            assert ws.wait_ack(envelope, timeout=5) == {"envelope_id": envelope, "payload": {"text": "ok"}}
            assert wait_until(lambda: seen == ["slash_commands"], timeout=2)
        finally:
            client.close()
