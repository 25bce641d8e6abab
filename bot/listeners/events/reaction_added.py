"""`reaction_added`: a feedback emoji on a message the bot posted about accounts is a flag.

Slack retries deliveries (X-Slack-Retry-Num), possibly while the first is still
running: the event id is recorded once, and the flag is unique per
(channel, message, user), so one reaction is one flag and one thread question.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from messages import feedback as feedback_msg
from storage import feedback as fb

log = logging.getLogger(__name__)
RECORD_RACE_SECONDS = 2.0


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.event("reaction_added", {"reactions:read", "chat:write"})

    def reaction_added(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        event = body.get("event") or {}
        item = event.get("item") or {}
        if item.get("type") != "message" or not fbs.is_feedback_reaction(settings, event.get("reaction", "")):
            return
        event_id = body.get("event_id")
        if event_id and not fb.first_time_seen(store, event_id):
            log.info("event %s already handled (Slack retry)", event_id)
            return
        def flag() -> fbs.FlagResult | None:
            return fbs.flag_reaction(store, settings, channel=item["channel"], ts=item["ts"],
                                     user_id=event.get("user", ""), reaction=event["reaction"])

        result = flag()
        # A reaction can arrive before the poster has recorded the message it just posted
        # (chat.postMessage answered, record_post not yet committed): look again briefly.
        deadline = time.monotonic() + RECORD_RACE_SECONDS
        while result is None and time.monotonic() < deadline:
            time.sleep(0.05)
            result = flag()
        if result is None or not result.created:
            return
        if result.flag.account_id and result.accounts:
            message = feedback_msg.flag_prompt(result.flag, result.accounts[0],
                                               fbs.prediction(store, result.flag.account_id), settings.for_messages)
        else:
            message = feedback_msg.flag_choose_account(result.flag, result.accounts, settings.for_messages)
        resp = client.chat_postMessage(channel=item["channel"], thread_ts=item["ts"],
                                       text=message.text, blocks=message.blocks)
        fb.set_thread(store, result.flag.id, resp["ts"])

    app.event("reaction_added")(deps.acked(reaction_added))
