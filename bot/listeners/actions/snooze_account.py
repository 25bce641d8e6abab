"""`snooze_account` (the card's Snooze button): out of the owner's pulse for pulse.snooze_days."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import action_pattern, action_value, send, user_of
from bot.listeners.deps import Deps
from bot.services import snooze as sz
from messages import snooze as snooze_msg
from messages.actions import SNOOZE_ACCOUNT


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(SNOOZE_ACCOUNT)

    def snooze_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        done = sz.snooze(store, settings, action_value(body), None, user_of(body))
        send(respond, snooze_msg.snoozed_message(done.account["name"], done.until, done.days,
                                                 settings.for_messages))

    app.action(action_pattern(SNOOZE_ACCOUNT))(deps.acked(snooze_account))
