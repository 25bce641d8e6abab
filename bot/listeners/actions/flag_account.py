"""`flag_account` (the card's Flag button): a flag, then the expected-outcome question."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import (
    action_pattern,
    action_value,
    channel_of,
    message_ts_of,
    send,
    user_of,
)
from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from messages import feedback as feedback_msg
from messages.actions import FLAG_ACCOUNT


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(FLAG_ACCOUNT)

    def flag_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        account_id = action_value(body)
        result = fbs.flag_account(store, channel=channel_of(body) or "", ts=message_ts_of(body) or "",
                                  user_id=user_of(body) or "", account_id=account_id)
        prompt = feedback_msg.flag_prompt(result.flag, result.accounts[0],
                                          fbs.prediction(store, account_id), settings.for_messages)
        send(respond, prompt)

    app.action(action_pattern(FLAG_ACCOUNT))(deps.acked(flag_account))
