"""`reaction_added`: a feedback emoji on a message the bot posted about accounts is a flag;
the question (which outcome do you expect?) is asked in the message's thread."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from messages import feedback as feedback_msg


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.event("reaction_added", {"reactions:read", "chat:write"})

    def reaction_added(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        event = body.get("event") or {}
        item = event.get("item") or {}
        if item.get("type") != "message":
            return
        result = fbs.flag_reaction_event(store, settings, event_id=body.get("event_id"),
                                         channel=item["channel"], ts=item["ts"],
                                         user_id=event.get("user", ""),
                                         reaction=event.get("reaction", ""))
        if result is None:
            return
        if result.flag.account_id and result.accounts:
            message = feedback_msg.flag_prompt(result.flag, result.accounts[0],
                                               fbs.prediction(store, result.flag.account_id),
                                               settings.for_messages)
        else:
            message = feedback_msg.flag_choose_account(result.flag, result.accounts,
                                                       settings.for_messages)
        resp = client.chat_postMessage(channel=item["channel"], thread_ts=item["ts"],
                                       text=message.text, blocks=message.blocks)
        fbs.set_flag_thread(store, result.flag, resp["ts"])

    app.event("reaction_added")(deps.acked(reaction_added))
