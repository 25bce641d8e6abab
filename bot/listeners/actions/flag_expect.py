"""`flag_expect_renewal` / `flag_expect_upsell`: the outcome the user expects; stored."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import action_pattern, action_value, send, user_of
from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from messages import feedback as feedback_msg
from messages.actions import FLAG_EXPECT_RENEWAL, FLAG_EXPECT_UPSELL


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(FLAG_EXPECT_RENEWAL)
    deps.registry.action(FLAG_EXPECT_UPSELL)

    def answer(body: dict[str, Any], respond: Respond, kind: str) -> None:
        flag, name = fbs.answer_flag_button(store, settings, value=action_value(body), kind=kind,
                                            user_id=user_of(body) or "")
        send(respond, feedback_msg.flag_thanks(flag, name, settings.for_messages), replace=True)

    def flag_expect_renewal(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer(body, respond, "renewal")

    def flag_expect_upsell(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer(body, respond, "upsell")

    app.action(action_pattern(FLAG_EXPECT_RENEWAL))(deps.acked(flag_expect_renewal))
    app.action(action_pattern(FLAG_EXPECT_UPSELL))(deps.acked(flag_expect_upsell))
