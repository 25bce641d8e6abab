"""The one dispatcher: `/outcome ...` text and who asked -> the reply, for every command.

The Slack command listener (`bot.listeners.commands.outcome`) and `outcomes ask` /
`outcomes console` (`bot.console`) are thin backends over `answer`: each says who is
asking (`Request`) and what its surface can do beyond replying (`Backend`: a Slack
client, posting in a channel for `share`, an interim note). Parsing is `bot.router`;
the answers come from `bot.services` and are rendered by `messages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot import services
from bot.config import Settings
from bot.router import Command, needs_owner, parse, with_owner_emails
from bot.services import accounts as acc
from bot.services import home
from bot.services.core import Requester
from bot.services.errors import AccountNotFound, BadArguments, UnknownCommand
from messages import account as account_msg
from messages.errors import note_message
from messages.render import Message
from storage.store import Store

if TYPE_CHECKING:
    from slack_sdk import WebClient


@dataclass(frozen=True)
class Request:
    """What was typed after the slash command, and by whom (a Slack user id or an owner email)."""

    text: str
    user_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None


class Backend(Protocol):
    """What a surface does beyond showing the reply."""

    client: WebClient | None   # Slack Web API (owner emails via users.info); None offline
    operator: bool             # the person at the keyboard runs this store: no admin check
    shared_by: str | None      # who a shared card or list says shared it

    def share(self, message: Message, *, kind: str, account_ids: list[str],
              name: str | None) -> Message:
        """Show `message` (a card, or a list when `name` is None) to the team; the reply."""
        ...

    def note(self, message: Message) -> None:
        """An interim reply while a long command runs."""
        ...


def answer(store: Store, settings: Settings, request: Request, backend: Backend) -> Message:
    """The reply to one `/outcome` text. Raises UserError for what the user can fix."""
    command = with_owner_emails(store, parse(settings, request.text), backend.client)
    # Only "mine" answers need the owner email the user stands for (a read of the book,
    # else users.info); the card and every other answer go without.
    owner = needs_owner(command)
    me = home.requester(store, settings, user_id=request.user_id, team_id=request.team_id,
                        channel_id=request.channel_id, client=backend.client,
                        resolve_email=owner, with_email=owner)
    if command.name == "rescore":
        from bot.services import sharing

        if not backend.operator:
            sharing.require_admin(settings, me.user_id)
        backend.note(note_message(":hourglass_flowing_sand: Rescoring the book…"))
        return note_message(":white_check_mark: " + sharing.rescore(store, settings))
    if command.name == "share" and "list" in command.args:
        from messages import lists as list_msg

        lst = acc.list_accounts(store, settings, command.args["list"], me)
        if not lst.rows:
            return note_message("No accounts in that list: nothing to share.")
        message = list_msg.list_message(lst, settings.for_messages, shared_by=backend.shared_by)
        return backend.share(message, kind="list", account_ids=[r["account_id"] for r in lst.rows],
                             name=None)
    if command.name == "share":
        match = find(store, settings, Command("account", command.text,
                                              {"query": command.args["query"]}))
        if match.account is None:
            return account_msg.choices_message(match, settings.for_messages)
        return share_card(store, settings, match.account["account_id"], backend)
    return reply(store, settings, command, me)


def share_card(store: Store, settings: Settings, account_id: str, backend: Backend) -> Message:
    """`share <account>` and the card's Share button: the card, shown to the team."""
    card = acc.card(store, settings, account_id)
    message = account_msg.card_message(card, settings.for_messages, shared_by=backend.shared_by)
    return backend.share(message, kind="card", account_ids=[account_id],
                         name=card.account["name"])


def find(store: Store, settings: Settings, command: Command) -> acc.Match:
    """The account lookup, turning "no such account" into "did you mean <command>" for typos."""
    try:
        return acc.find_account(store, command.args["query"])
    except AccountNotFound as exc:
        if command.maybe:  # "sumary": a command typo, not an account
            raise UnknownCommand(command.text.split()[0], command.maybe,
                                 settings.slack.command) from exc
        raise


def reply(store: Store, settings: Settings, command: Command, me: Requester) -> Message:
    """The reply to a command that only reads (everything but share and rescore)."""
    name, display = command.name, settings.for_messages
    if name == "account":
        match = find(store, settings, command)
        if match.account is None:
            return account_msg.choices_message(match, display)
        card = acc.card(store, settings, match.account["account_id"], account=match.account)
        return account_msg.card_message(card, display)
    # The other answers' modules load when one is asked for: a process that answers one
    # card (`outcomes ask "/outcome acme"`, source compiled at each start) does without them.
    from bot.services import catalog
    from bot.services import feedback as fbs
    from messages import catalog as catalog_msg
    from messages import feedback as feedback_msg
    from messages import help as help_msg
    from messages import lists as list_msg
    from messages.summary import summary_message

    if name == "help":
        return help_msg.help_message(display)
    if name == "list":
        return list_msg.list_message(acc.list_accounts(store, settings, command.args["query"], me),
                                     display)
    if name == "summary":
        if command.args.get("mine"):
            if not (me.user_id or me.owner_email):
                raise BadArguments("I don't know which accounts are yours: `mine` needs a Slack user.")
            data = services.summary(store, settings, owner_email=me.owner_email,
                                    owner_slack_id=me.user_id)
            return summary_message(data, display)
        return summary_message(services.summary(store, settings), display)
    if name == "segments":
        return catalog_msg.segments_message(catalog.segments(store, settings), display)
    if name == "segment":
        return catalog_msg.segment_message(
            catalog.segment(store, settings, command.args["segment_id"]), display)
    if name == "indicators":
        return catalog_msg.indicators_message(catalog.indicators(store, settings), display)
    if name == "features":
        return catalog_msg.features_message(catalog.features(store, settings), display)
    if name == "accuracy":
        return feedback_msg.accuracy_message(fbs.accuracy(store, settings), display)
    if name in ("snooze", "unsnooze", "snoozed"):
        return snooze_reply(store, settings, command, me)
    raise BadArguments(f"`{name}` can't be answered here.")


def snooze_reply(store: Store, settings: Settings, command: Command, me: Requester) -> Message:
    """`snooze ACCOUNT [DAYS]`, `unsnooze ACCOUNT` (these store a snooze) and `snoozed`."""
    from bot.services import snooze as sz
    from messages import snooze as snooze_msg

    if command.name == "snoozed":
        rows = sorted(sz.active(store, settings).values(), key=lambda z: (z.until, z.name))
        return snooze_msg.snoozed_list_message(rows, settings.for_messages)
    match = find(store, settings, Command("account", command.text, {"query": command.args["query"]}))
    if match.account is None:
        return account_msg.choices_message(match, settings.for_messages)
    account = match.account
    if command.name == "unsnooze":
        return snooze_msg.unsnoozed_message(account["name"], sz.unsnooze(store, account["account_id"]))
    done = sz.snooze(store, settings, account["account_id"], command.args["days"],
                     me.user_id or me.owner_email)
    return snooze_msg.snoozed_message(account["name"], done.until, done.days, settings.for_messages)
