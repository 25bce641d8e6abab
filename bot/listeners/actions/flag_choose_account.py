"""`flag_choose_account`: for a flagged message about several accounts, which one."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import action_pattern, action_value, send, user_of
from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from bot.services.errors import BadArguments
from messages import feedback as feedback_msg
from messages.actions import FLAG_CHOOSE_ACCOUNT


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(FLAG_CHOOSE_ACCOUNT)

    def flag_choose_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        flag_id, _, account_id = action_value(body).partition(":")
        if not flag_id.isdigit() or not account_id:
            raise BadArguments("That button is out of date.")
        result = fbs.choose_flag_account(store, flag_id=int(flag_id), user_id=user_of(body) or "",
                                         account_id=account_id)
        prompt = feedback_msg.flag_prompt(result.flag, result.accounts[0],
                                          fbs.prediction(store, account_id), settings.for_messages)
        send(respond, prompt, replace=True)

    app.action(action_pattern(FLAG_CHOOSE_ACCOUNT))(deps.acked(flag_choose_account))
