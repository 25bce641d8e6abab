"""`flag_account` (the card's Flag button): the flag modal (views.open with the click's
trigger_id); if the modal cannot open, the flag and the expected-outcome question as before."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.listeners.common import (
    action_pattern,
    action_value,
    channel_of,
    container_is_ephemeral,
    message_ts_of,
    send,
    user_of,
)
from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from messages import feedback as feedback_msg
from messages.actions import FLAG_ACCOUNT

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(FLAG_ACCOUNT)

    def flag_account(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        account_id = action_value(body)
        account, prediction = fbs.flag_target(store, account_id)
        # Where the flag is about and where to say it was recorded (views/flag_modal.py).
        metadata = json.dumps({"account_id": account_id, "channel": channel_of(body) or "",
                               "ts": message_ts_of(body) or "",
                               "ephemeral": container_is_ephemeral(body),
                               "response_url": body.get("response_url") or ""})
        if body.get("trigger_id"):
            view = feedback_msg.flag_modal(account, prediction, settings.for_messages, metadata)
            try:
                client.views_open(trigger_id=body["trigger_id"], view=view)
                return
            except SlackApiError as exc:   # e.g. expired_trigger_id (3 s, once): ask in a reply
                log.warning("views.open failed (%s): asking with buttons instead",
                            exc.response.get("error"))
        result = fbs.flag_account(store, channel=channel_of(body) or "", ts=message_ts_of(body) or "",
                                  user_id=user_of(body) or "", account_id=account_id)
        send(respond, feedback_msg.flag_prompt(result.flag, result.accounts[0], prediction,
                                               settings.for_messages))

    app.action(action_pattern(FLAG_ACCOUNT))(deps.acked(flag_account))
