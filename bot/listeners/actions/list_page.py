"""`list_page`: the previous / next page of a list, in place."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.common import action_pattern, action_value, send, user_of
from bot.listeners.deps import Deps
from bot.services import accounts as acc
from bot.services import home
from bot.services.errors import BadArguments
from messages import lists as list_msg
from messages.actions import LIST_PAGE


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(LIST_PAGE)

    def list_page(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        try:
            state = json.loads(action_value(body))
            query = acc.ListQuery(category=state["c"], kind=state["k"], mine=bool(state["m"]),
                                  segment_id=state["s"], owner_slack_id=state["o"],
                                  owner_email=state["e"], page=int(state["p"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise BadArguments("That button is out of date: run the list command again.") from exc
        me = home.requester(store, settings, user_id=user_of(body), client=client,
                            resolve_email=query.mine)
        send(respond, list_msg.list_message(acc.list_accounts(store, settings, query, me), settings.for_messages),
             replace=True)

    app.action(action_pattern(LIST_PAGE))(deps.acked(list_page))
