"""`open_account` buttons (choice lists, lists, summaries, the weekly pulse): the account card."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import (
    action_pattern,
    action_value,
    container_is_ephemeral,
    send,
)
from bot.listeners.deps import Deps
from bot.services import accounts as acc
from messages import account as account_msg
from messages.actions import OPEN_ACCOUNT


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(OPEN_ACCOUNT)

    def open_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        card = acc.card(store, settings, action_value(body))
        # A choice list shown only to the user is replaced; a shared message is left alone.
        send(respond, account_msg.card_message(card, settings.for_messages), replace=container_is_ephemeral(body))

    app.action(action_pattern(OPEN_ACCOUNT))(deps.acked(open_account))
