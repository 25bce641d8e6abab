"""The slash command (`/outcome` by default): ack at once, then answer through response_url."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot import router
from bot.listeners.common import send
from bot.listeners.deps import Deps
from bot.services import accounts as acc
from bot.services import home, sharing
from messages import account as account_msg
from messages import lists as list_msg
from messages.errors import note_message

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    cmd_name = settings.slack.command
    deps.registry.command(cmd_name, "Predicted renewal and upsell outcomes of your accounts",
                          "[account] | list at risk [mine] | summary | help",
                          {"chat:write", "users:read", "users:read.email"})

    def outcome(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        user_id, channel_id = body.get("user_id"), body.get("channel_id")
        command = router.with_owner_emails(store, router.parse(settings, body.get("text", "")), client)
        me = home.requester(store, settings, user_id=user_id, team_id=body.get("team_id"),
                            channel_id=channel_id, client=client,
                            resolve_email=router.needs_owner(command))
        if command.name == "rescore":
            sharing.require_admin(settings, user_id)
            send(respond, note_message(":hourglass_flowing_sand: Rescoring the book…"))
            send(respond, note_message(":white_check_mark: " + sharing.rescore(store, settings)))
            return
        if command.name == "share" and "list" in command.args:
            lst = acc.list_accounts(store, settings, command.args["list"], me)
            if not lst.rows:
                send(respond, note_message("No accounts in that list: nothing to share."))
                return
            message = list_msg.list_message(lst, settings.for_messages, shared_by=user_id)
            sharing.post_about_accounts(store, settings, client, channel=channel_id, message=message,
                                        kind="list", account_ids=[r["account_id"] for r in lst.rows],
                                        posted_by=user_id)
            send(respond, note_message(f":loudspeaker: Shared the list in <#{channel_id}>."))
            return
        if command.name == "share":
            match = router.find(store, settings, router.Command("account", command.text,
                                                                {"query": command.args["query"]}))
            if match.account is None:
                send(respond, account_msg.choices_message(match, settings.for_messages))
                return
            share(match.account["account_id"], channel_id, user_id, client, respond)
            return
        send(respond, router.reply(store, settings, command, me))

    def share(account_id: str, channel_id: str, user_id: str, client: WebClient,
              respond: Respond) -> None:
        card = acc.card(store, settings, account_id)
        message = account_msg.card_message(card, settings.for_messages, shared_by=user_id)
        sharing.post_about_accounts(store, settings, client, channel=channel_id, message=message,
                                    kind="card", account_ids=[account_id], posted_by=user_id)
        send(respond, note_message(f":loudspeaker: Shared *{_esc(card.account['name'])}* in <#{channel_id}>. "
                                   "React with :x: on it to flag the prediction."))

    deps.extra["share"] = share

    app.command(cmd_name)(deps.acked(outcome))



def _esc(text: str) -> str:
    from messages.render import escape_mrkdwn

    return escape_mrkdwn(text)
