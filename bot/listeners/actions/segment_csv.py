"""`segment_csv`: the members of a segment as a CSV file in the conversation."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.listeners.common import action_pattern, action_value, channel_of, send
from bot.listeners.deps import Deps
from bot.services import catalog
from bot.services.errors import BadArguments, UserError
from messages.actions import SEGMENT_CSV
from messages.errors import note_message


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.action(SEGMENT_CSV, {"files:write"})

    def segment_csv(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        value = action_value(body)
        if not value.isdigit():
            raise BadArguments("That button is out of date.")
        filename, content = catalog.segment_csv(store, settings, int(value))
        try:
            client.files_upload_v2(channel=channel_of(body), content=content, filename=filename,
                                   title=filename)
        except SlackApiError as exc:
            if exc.response is not None and exc.response.get("error") in (
                    "not_in_channel", "channel_not_found"):
                raise UserError("I can't upload here: invite me to the channel with "
                                f"`/invite @{settings.slack.app_name}` first.") from exc
            raise
        send(respond, note_message(f":page_facing_up: Uploaded `{filename}`."))

    app.action(action_pattern(SEGMENT_CSV))(deps.acked(segment_csv))
