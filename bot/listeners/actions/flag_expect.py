"""`flag_expect_renewal` / `flag_expect_upsell`: the outcome the user expects; stored."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import action_pattern, action_value, send, user_of
from bot.listeners.deps import Deps
from bot.services import feedback as fbs
from bot.services.errors import BadArguments
from messages import feedback as feedback_msg
from messages.actions import FLAG_EXPECT_RENEWAL, FLAG_EXPECT_UPSELL
from storage import queries


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(FLAG_EXPECT_RENEWAL)
    deps.registry.action(FLAG_EXPECT_UPSELL)

    def answer(body: dict[str, Any], respond: Respond, kind: str) -> None:
        flag_id, _, index = action_value(body).partition(":")
        names = settings.renewal_categories if kind == "renewal" else settings.upsell_categories
        if not (flag_id.isdigit() and index.isdigit() and int(index) < len(names)):
            raise BadArguments("That button is out of date.")
        choice = {f"{kind}_index": names[int(index)]}
        flag = fbs.answer_flag(store, settings, flag_id=int(flag_id), user_id=user_of(body) or "",
                               **choice)
        account = queries.account(store, flag.account_id) if flag.account_id else None
        name = account["name"] if account else "the account"
        send(respond, feedback_msg.flag_thanks(flag, name, settings.for_messages), replace=True)

    def flag_expect_renewal(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer(body, respond, "renewal")

    def flag_expect_upsell(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer(body, respond, "upsell")

    app.action(action_pattern(FLAG_EXPECT_RENEWAL))(deps.acked(flag_expect_renewal))
    app.action(action_pattern(FLAG_EXPECT_UPSELL))(deps.acked(flag_expect_upsell))
