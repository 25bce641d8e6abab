"""What every listener shares: how it acks and works, one error reporter, payload readers.

The slash command answers in its ack when it can (`answer_in_ack`): over HTTP its work
runs on the thread that acks while `bot.app.asgi_app` waits up to
`ACK_REPLY_BUDGET_SECONDS` (`AckDeadline`); elsewhere (Socket Mode) it starts on the
thread pool and the listener waits as long. A reply ready by then is the ack's body (one
HTTP round trip), else the ack goes out empty and the reply follows through
response_url. Every other listener (buttons,
events, modals) acknowledges at once and works afterwards on the pool (`ack_then_work`).
Errors go through `error_reply` / `report_error`, which the app's global error handler
uses too: a `UserError` is shown to the user; anything else is logged with its
traceback and the user gets a short, honest reply.
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
Answer = Callable[[dict[str, Any], Respond, WebClient], Message]

ACK_REPLY_BUDGET_SECONDS = 1.5
"""How long a slash command waits for its reply before it acks without one. Slack shows
the user an error for an ack that takes more than 3 s; half of that leaves room for the
network and a busy machine. A card takes milliseconds, so it is nearly always the ack's
body; a slower answer (a rescore, a locked database retried) follows through response_url."""


def action_pattern(action_id: str) -> re.Pattern[str]:
    """Matches the action id and its `:<n>` variants (unique ids within one block)."""
    return re.compile(rf"^{re.escape(action_id)}(:\d+)?$")


_held = threading.local()


@contextmanager
def work_after_ack(deadline: AckDeadline | None = None) -> Iterator[list[Callable[[], object]]]:
    """Within it (on this thread), `ack_then_work` listeners hold their work back and add
    its start to the list; the caller starts it once Slack has the ack (`bot.app.asgi_app`).
    Started at once, the work would compete with sending the ack for the interpreter
    (the card's own milliseconds would be added to the ack's). With a `deadline` (a slash
    command over HTTP), `answer_in_ack` answers on this thread and the caller keeps the
    budget."""
    jobs: list[Callable[[], object]] = []
    previous = getattr(_held, "jobs", None), getattr(_held, "deadline", None)
    _held.jobs, _held.deadline = jobs, deadline
    try:
        yield jobs
    finally:
        _held.jobs, _held.deadline = previous


def ack_then_work(fn: Work, pool: Executor) -> Callable[..., None]:
    """A Bolt listener that acknowledges at once and hands `fn(body, respond, client)` to `pool`.

    With `process_before_response=True` Bolt answers Slack as soon as this returns.
    This is what Bolt's lazy listeners do, minus their deep copy of every request
    (most of Bolt's own per-request cost). `respond` is always callable: through
    response_url when the payload has one, else chat.postEphemeral / chat.update
    (`Replier`). `fn`'s exceptions go to `report_error`.
    """

    def run(body: dict[str, Any], respond: Respond | None, client: WebClient) -> None:
        replier = replier_for(body, respond, client)
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


def answer_in_ack(fn: Answer, pool: Executor, budget: float | None = None) -> Callable[..., None]:
    """A Bolt listener whose reply, `fn(body, respond, client)`'s message, is the ack's body
    when `fn` returns within `budget` seconds (default `ACK_REPLY_BUDGET_SECONDS`, read at
    each request); else it acks empty at the budget and the reply goes through `respond`
    (response_url) when `fn` returns. `_Reply` decides which, once. Over HTTP
    (`bot.app.asgi_app`, an `AckDeadline` on this thread) `fn` runs here, in the listener,
    and the HTTP layer keeps the budget (`ACK_REPLY_BUDGET_SECONDS`): the answer is not
    handed to another thread and back. Otherwise `fn` starts on `pool` at once and the
    listener waits for it. Notes `fn` sends on the way (`respond`) go through
    response_url. An exception in `fn` becomes its `error_reply`, delivered the same way.
    """

    def run(body: dict[str, Any], replier: Respond, client: WebClient, reply: _Reply) -> None:
        try:
            message = fn(body, replier, client)
        except Exception as exc:  # noqa: BLE001 - every failure gets an answer or a log line
            message = error_reply(exc, body)
        try:
            reply.done(message)
        except Exception:
            log.exception("could not send the reply to %s", describe(body))

    def listener(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        replier = replier_for(body, respond, client)
        reply = _Reply(replier)
        deadline: AckDeadline | None = getattr(_held, "deadline", None)
        if deadline is not None:  # over HTTP: the answer runs here, asgi_app keeps the budget
            deadline.attach(reply)
            run(body, replier, client, reply)
            message = reply.wait(0)
        else:  # Socket Mode (or no HTTP layer): the work runs on the pool, this thread waits
            pool.submit(run, body, replier, client, reply)
            message = reply.wait(ACK_REPLY_BUDGET_SECONDS if budget is None else budget)
        if message is None:
            ack()
        else:
            ack(text=message.text, blocks=message.blocks, response_type="ephemeral")

    listener.__name__ = listener.__qualname__ = fn.__name__
    return listener


class AckDeadline:
    """A slash command's budget kept by the HTTP layer (`bot.app.asgi_app`), so that
    `answer_in_ack` can answer on the thread that acks: no hand-off to the pool and back,
    two thread wake-ups fewer per command. The HTTP layer waits for the ack up to the
    budget; past it, `expire()` and the listener's `_Reply` decide once that the ack goes
    out empty and the reply follows through response_url. A listener that starts only
    after the budget (a busy thread pool) hands its reply over at once. `notify` (any
    thread) wakes the HTTP layer when that is decided."""

    def __init__(self, notify: Callable[[], object]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._reply: _Reply | None = None
        self._expired = False
        self.empty = False   # decided: the ack goes out without the reply

    def attach(self, reply: _Reply) -> None:
        """The listener's reply, before its work starts."""
        with self._lock:
            self._reply = reply
            late = self._expired
        if late:
            self._decide(reply)

    def expire(self) -> None:
        """The budget is over: the reply not ready by now follows through response_url."""
        with self._lock:
            self._expired = True
            reply = self._reply
        if reply is not None:
            self._decide(reply)

    def _decide(self, reply: _Reply) -> None:
        if reply.wait(0) is None:  # not ready: the work sends it when done
            self.empty = True
            self._notify()


class _Reply:
    """Who delivers a command's reply, decided once under a lock: the ack, when the work is
    done before the listener stops waiting; else the work itself, through response_url.
    Never both, never neither."""

    def __init__(self, respond: Respond) -> None:
        self._respond = respond
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._message: Message | None = None
        self._acked_without = False

    def done(self, message: Message) -> None:
        """The work's reply: kept for the ack, or sent at once if the ack went out without it."""
        with self._lock:
            if not self._acked_without:
                self._message = message
                self._ready.set()
                return
        send(self._respond, message)

    def wait(self, budget: float) -> Message | None:
        """The reply for the ack if it is ready within `budget`; None hands it to the work."""
        self._ready.wait(budget)
        with self._lock:
            if self._message is None:
                self._acked_without = True
            return self._message


def replier_for(body: dict[str, Any], respond: Respond | None, client: WebClient) -> Respond:
    """Bolt's `respond` (response_url) when the payload has one, else a `Replier`."""
    return respond if body.get("response_url") and respond is not None else Replier(body, client)


def error_reply(error: BaseException, body: dict[str, Any]) -> Message:
    """What the user reads about `error`: a `UserError`'s own words (a locked database is
    `Rescoring`); anything else is logged with its traceback and gets `bug_message()`."""
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error).lower():
        error = Rescoring()
    if isinstance(error, UserError):
        log.info("user error on %s: %s", describe(body), error.message)
        return error_message(error)
    log.error("bug while answering %s", describe(body), exc_info=error)
    return bug_message()


def report_error(error: BaseException, body: dict[str, Any], respond: Respond | None) -> None:
    """`error_reply`, sent through `respond` to commands and button clicks."""
    message = error_reply(error, body)
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
    """An ephemeral reply through `respond` (response_url; seen only by the user)."""
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
