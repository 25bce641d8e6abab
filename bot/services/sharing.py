"""Posting to channels (recorded, so reactions can be traced) and admin jobs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.services.errors import NotAllowed, UserError
from messages.render import Message, escape_mrkdwn
from storage import feedback as fb
from storage.store import Store

if TYPE_CHECKING:  # slack_sdk loads where a client is used (`outcomes ask` has none)
    from slack_sdk import WebClient

log = logging.getLogger(__name__)

_POST_ERRORS = {
    "not_in_channel": "I'm not in this channel: invite me with `/invite @{app}` and try again.",
    "channel_not_found": "I can't post here: invite me with `/invite @{app}`, or use a channel I'm in.",
    "is_archived": "This channel is archived.",
    "restricted_action": "This workspace doesn't let me post in this channel.",
}


def post_about_accounts(
    store: Store, settings: Settings, client: WebClient, *, channel: str, message: Message,
    kind: str, account_ids: Sequence[str], posted_by: str | None = None,
    thread_ts: str | None = None,
) -> str:
    """chat.postMessage, then remember (channel, ts) -> accounts so reactions can be traced.

    Slack errors that the user can fix come back as a UserError with what to do.
    """
    kwargs: dict[str, Any] = {"channel": channel, "text": message.text, "blocks": message.blocks,
                              "unfurl_links": False}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    from slack_sdk.errors import SlackApiError

    try:
        resp = client.chat_postMessage(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error", "") if exc.response is not None else ""
        if error in _POST_ERRORS:
            raise UserError(_POST_ERRORS[error].format(app=settings.slack.app_name)) from exc
        raise
    channel_id, ts = resp.get("channel") or channel, resp["ts"]
    fb.record_post(store, channel_id, ts, kind, list(account_ids), posted_by)
    if channel_id != channel:  # e.g. posted to "#team" or a user id: reactions name the id
        fb.record_post(store, channel, ts, kind, list(account_ids), posted_by)
    return ts


def require_admin(settings: Settings, user_id: str | None) -> None:
    if not settings.slack.admins:
        raise NotAllowed("Admin commands are off: add Slack user ids to `slack.admins` in app.yaml.")
    if user_id not in settings.slack.admins:
        raise NotAllowed("Only the Outcomes admins can do that.")


def rescore(store: Store, settings: Settings) -> str:
    """Retrain and rescore the book (admin only); returns a one-line report."""
    from scoring.errors import ModelError, ScoringError
    from scoring.pipeline import score_book

    try:
        result = score_book(store, settings.for_scoring)
    except (ScoringError, ModelError) as exc:  # the data can't be scored: say why
        raise UserError(f"Rescoring stopped: {escape_mrkdwn(str(exc))}") from exc
    from bot.services.accounts import forget_names

    forget_names(store)
    return result.summary()
