"""The one way the app builds its Slack Web API client.

Every Web API call goes to `settings.slack_api_url` (SLACK_API_URL), which serves
GovSlack and the local fake Slack in tests. slack_sdk's own retry handlers wait
out 429s (Retry-After), retry 5xx and connection errors; their sleeps block the
calling thread, so use this client only on the listeners' work pool, never on the
thread that acks (the slash command's ack waits for its work at most
`ACK_REPLY_BUDGET_SECONDS`, see `bot.listeners.common.answer_in_ack`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import MissingSecret  # raised here; defined with the CLI's errors

if TYPE_CHECKING:  # slack_sdk loads when a client is made: `outcomes --help` stays quick
    from slack_sdk import WebClient

    from bot.config import Settings

REQUEST_TIMEOUT_SECONDS = 10
MAX_RETRIES = 3


def make_client(
    settings: Settings, *, token: str | None = None, retry_timeouts: bool = False
) -> WebClient:
    """A WebClient on SLACK_API_URL with retries for rate limits, 5xx and dropped connections.

    A read timeout is retried only with `retry_timeouts`: Slack may have acted on a
    request it was slow to answer, so a blind retry can post twice. Interactive
    replies accept that risk (an answer matters more); the exactly-once jobs do not
    and check what was delivered instead.
    """
    from http.client import RemoteDisconnected
    from urllib.error import URLError

    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    secret = settings.secrets.slack_bot_token
    token = token or (secret.get_secret_value() if secret else None)
    if not token:
        raise MissingSecret("SLACK_BOT_TOKEN is not set: export the bot token (xoxb-...) first")
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(
                max_retry_count=MAX_RETRIES,
                error_types=[URLError, ConnectionResetError, RemoteDisconnected]
                + ([TimeoutError] if retry_timeouts else []),
            ),
            RateLimitErrorRetryHandler(max_retry_count=MAX_RETRIES),
            ServerErrorRetryHandler(max_retry_count=MAX_RETRIES),
        ],
    )
