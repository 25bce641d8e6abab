"""`health_graph`: a PNG of the health score history, uploaded to the conversation."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.listeners.common import action_pattern, action_value, channel_of, send
from bot.listeners.deps import Deps
from bot.services import accounts as acc
from bot.services.errors import UserError
from messages import account as account_msg
from messages.actions import HEALTH_GRAPH
from messages.errors import note_message
from messages.render import clean_text


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(HEALTH_GRAPH, {"files:write"})

    def health_graph(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        card = acc.card(store, settings, action_value(body))
        png = account_msg.health_chart_png(card, settings.for_messages)
        try:
            client.files_upload_v2(
                channel=channel_of(body), content=png, filename=f"health-{card.account_id}.png",
                title=f"{clean_text(card.account['name'])[:200]}: health score",
            )
        except SlackApiError as exc:
            if exc.response is not None and exc.response.get("error") in (
                    "not_in_channel", "channel_not_found"):
                raise UserError("I can't upload here: invite me to the channel with "
                                f"`/invite @{settings.slack.app_name}` first.") from exc
            raise
        send(respond, note_message(":chart_with_upwards_trend: Health graph uploaded."))

    app.action(action_pattern(HEALTH_GRAPH))(deps.acked(health_graph))
