"""What every listener shares: ack-then-work registration, one error reporter, payload readers.

Each listener acknowledges Slack's request at once and does its work afterwards
on a thread pool (`ack_then_work`). Work that fails goes to `report_error`,
which the app's global error handler uses too: a `UserError` is shown to the
user; anything else is logged with its traceback and the user gets a short,
honest reply.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from functools import partial
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.services.errors import Rescoring, UserError
from messages.errors import bug_message, error_message
from messages.render import Message

log = logging.getLogger("outcomes.listeners")
Work = Callable[[dict[str, Any], Respond, WebClient], None]


def action_pattern(action_id: str) -> re.Pattern[str]:
    """Matches the action id and its `:<n>` variants (unique ids within one block)."""
    return re.compile(rf"^{re.escape(action_id)}(:\d+)?$")


_held = threading.local()


@contextmanager
def work_after_ack() -> Iterator[list[Callable[[], object]]]:
    """Within it (on this thread), `ack_then_work` listeners hold their work back and add
    its start to the list; the caller starts it once Slack has the ack (`bot.app.asgi_app`).
    Started at once, the work would compete with sending the ack for the interpreter
    (the card's own milliseconds would be added to the ack's)."""
    jobs: list[Callable[[], object]] = []
    previous = getattr(_held, "jobs", None)
    _held.jobs = jobs
    try:
        yield jobs
    finally:
        _held.jobs = previous


def ack_then_work(fn: Work, pool: Executor) -> Callable[..., None]:
    """A Bolt listener that acknowledges at once and hands `fn(body, respond, client)` to `pool`.

    With `process_before_response=True` Bolt answers Slack as soon as this returns.
    This is what Bolt's lazy listeners do, minus their deep copy of every request
    (most of Bolt's own per-request cost). `respond` is always callable: through
    response_url when the payload has one, else chat.postEphemeral / chat.update
    (`Replier`). `fn`'s exceptions go to `report_error`.
    """

    def run(body: dict[str, Any], respond: Respond | None, client: WebClient) -> None:
        replier = respond if body.get("response_url") and respond is not None else Replier(body, client)
        try:
            fn(body, replier, client)
        except Exception as exc:  # noqa: BLE001 - every failure gets an answer or a log line
            report_error(exc, body, replier)

    def listener(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        held = getattr(_held, "jobs", None)
        if held is None:  # Socket Mode: the ack is already on its way
            pool.submit(run, body, respond, client)
        else:
            held.append(partial(pool.submit, run, body, respond, client))

    listener.__name__ = listener.__qualname__ = fn.__name__
    return listener


def report_error(error: BaseException, body: dict[str, Any], respond: Respond | None) -> None:
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error).lower():
        error = Rescoring()
    if isinstance(error, UserError):
        log.info("user error on %s: %s", describe(body), error.message)
        message = error_message(error)
    else:
        log.error("bug while answering %s", describe(body), exc_info=error)
        message = bug_message()
    if respond is not None and (body.get("command") or body.get("type") == "block_actions"):
        try:
            send(respond, message)
        except Exception:
            log.exception("could not send the error reply")


class Replier:
    """Stands in for Bolt's `respond` when a payload has no response_url: an ephemeral
    message to the user in the channel (or, to replace a posted message, chat.update)."""

    def __init__(self, body: dict[str, Any], client: WebClient) -> None:
        self.body, self.client = body, client

    def __call__(self, text: str = "", blocks: list[dict[str, Any]] | None = None,
                 response_type: str | None = None, replace_original: bool | None = None,
                 **_: Any) -> None:
        channel, user = channel_of(self.body) or self.body.get("channel_id"), user_of(self.body)
        ts = message_ts_of(self.body)
        if replace_original and ts and channel and not container_is_ephemeral(self.body):
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])
        elif channel and user:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks or [])
        else:
            log.warning("nowhere to reply to %s", describe(self.body))


def describe(body: dict[str, Any]) -> str:
    if body.get("command"):
        return f"command {body.get('command')} {body.get('text', '')!r}"
    if body.get("type") == "block_actions":
        return "action " + ",".join(a.get("action_id", "") for a in body.get("actions", []))
    event = body.get("event") or {}
    return f"event {event.get('type')}" if event else "request"


def send(respond: Respond, message: Message, *, replace: bool = False) -> None:
    """An ephemeral reply through response_url (seen only by the user)."""
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral",
            replace_original=replace)


def action_value(body: dict[str, Any]) -> str:
    action = (body.get("actions") or [{}])[0]
    if action.get("selected_option"):
        return str(action["selected_option"].get("value", ""))
    return str(action.get("value", ""))


def container_is_ephemeral(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def channel_of(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def message_ts_of(body: dict[str, Any]) -> str | None:
    return (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")


def user_of(body: dict[str, Any]) -> str | None:
    return (body.get("user") or {}).get("id") or body.get("user_id")
