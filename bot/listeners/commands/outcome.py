"""The slash command (`/outcome` by default): the answer in the ack when it is ready within
`ACK_REPLY_BUDGET_SECONDS`, else an empty ack and the answer through response_url."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot import dispatch
from bot.listeners.deps import Deps
from bot.listeners.slack_backend import SlackBackend
from messages.render import Message


def register(app: App, deps: Deps) -> None:
    cmd_name = deps.settings.slack.command
    deps.registry.command(cmd_name, "Predicted renewal and upsell outcomes of your accounts",
                          "[account] | list at risk [mine] | summary | help",
                          {"chat:write", "users:read", "users:read.email"})

    def outcome(body: dict[str, Any], respond: Respond, client: WebClient) -> Message:
        user_id, channel_id = body.get("user_id"), body.get("channel_id")
        request = dispatch.Request(body.get("text", ""), user_id=user_id,
                                   team_id=body.get("team_id"), channel_id=channel_id)
        backend = SlackBackend(deps, client, respond, channel_id=channel_id, user_id=user_id)
        return dispatch.answer(deps.store, deps.settings, request, backend)

    app.command(cmd_name)(deps.answered(outcome))
