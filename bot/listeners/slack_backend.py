"""The Slack backend of the dispatcher: replies go through `respond`, shares are posted."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.listeners.common import send
from bot.listeners.deps import Deps
from bot.services import sharing
from messages.errors import note_message
from messages.render import Message, escape_mrkdwn


@dataclass
class SlackBackend:
    deps: Deps
    client: WebClient
    respond: Respond
    channel_id: str | None
    user_id: str | None
    operator: bool = False   # admin commands check slack.admins

    @property
    def shared_by(self) -> str | None:
        return self.user_id

    def share(self, message: Message, *, kind: str, account_ids: list[str],
              name: str | None) -> Message:
        """Post in the channel (recorded, so reactions on it become flags); confirm privately."""
        channel = self.channel_id or ""
        sharing.post_about_accounts(self.deps.store, self.deps.settings, self.client, channel=channel,
                                    message=message, kind=kind, account_ids=account_ids,
                                    posted_by=self.user_id)
        if name is None:
            return note_message(f":loudspeaker: Shared the list in <#{channel}>.")
        return note_message(f":loudspeaker: Shared *{escape_mrkdwn(name)}* in <#{channel}>. "
                            "React with :x: on it to flag the prediction.")

    def note(self, message: Message) -> None:
        send(self.respond, message)
