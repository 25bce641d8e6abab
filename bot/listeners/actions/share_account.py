"""`share_account` (the card's Share button): post the card in the channel for the team."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot import dispatch
from bot.listeners.common import action_pattern, action_value, channel_of, send, user_of
from bot.listeners.deps import Deps
from bot.listeners.slack_backend import SlackBackend
from messages.actions import SHARE_ACCOUNT


def register(app: App, deps: Deps) -> None:
    deps.registry.action(SHARE_ACCOUNT, {"chat:write"})

    def share_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        backend = SlackBackend(deps, client, respond, channel_id=channel_of(body),
                               user_id=user_of(body))
        send(respond, dispatch.share_card(deps.store, deps.settings, action_value(body), backend))

    app.action(action_pattern(SHARE_ACCOUNT))(deps.acked(share_account))
