"""`share_account` (the card's Share button): post the card in the channel for the team."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import action_pattern, action_value, channel_of, user_of
from bot.listeners.deps import Deps
from messages.actions import SHARE_ACCOUNT


def register(app: App, deps: Deps) -> None:
    deps.registry.action(SHARE_ACCOUNT, {"chat:write"})

    def share_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        deps.extra["share"](action_value(body), channel_of(body), user_of(body), client, respond)

    app.action(action_pattern(SHARE_ACCOUNT))(deps.acked(share_account))
