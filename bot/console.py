"""Outcomes without Slack: one command (`outcomes ask`) or a conversation (`outcomes console`).

The text backend of the dispatcher (`bot.dispatch.answer`), like the Slack app; replies are
printed as readable text (or the Block Kit JSON). Without a terminal attached,
the console shows a few sample exchanges and returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot import dispatch
from bot.config import Settings
from bot.services.errors import UserError
from messages.errors import error_message
from messages.render import Message
from messages.text import message_to_text
from storage import queries
from storage.store import Store

EXIT_WORDS = {"quit", "exit", "bye", ":q"}


@dataclass(frozen=True)
class Exchange:
    text: str
    message: Message
    ok: bool


def strip_command(settings: Settings, text: str) -> str:
    """'/outcome acme' and 'acme' both mean the account acme."""
    text = text.strip()
    cmd = settings.slack.command
    if text.casefold().startswith(cmd):
        return text[len(cmd):].strip()
    if text.startswith("/") and " " not in text:
        return "" if text.casefold() == cmd else text
    return text


@dataclass
class ConsoleBackend:
    """The text backend: no Slack; a share shows what would be posted."""

    user: str | None = None
    client: None = None
    operator: bool = True    # the person at the keyboard runs this store

    @property
    def shared_by(self) -> str:
        return self.user or "you"

    def share(self, message: Message, *, kind: str, account_ids: list[str],
              name: str | None) -> Message:
        return message

    def note(self, message: Message) -> None:
        pass


def answer(store: Store, settings: Settings, text: str, user: str | None = None) -> Exchange:
    """Run one `/outcome` text as `user` (a Slack user id or an owner email)."""
    request = dispatch.Request(strip_command(settings, text), user_id=user)
    try:
        return Exchange(text, dispatch.answer(store, settings, request, ConsoleBackend(user)), True)
    except UserError as exc:
        return Exchange(text, error_message(exc), False)


def render(exchange: Exchange, as_json: bool = False) -> str:
    if as_json:
        return json.dumps({"text": exchange.message.text, "blocks": exchange.message.blocks},
                          indent=2, ensure_ascii=False)
    return message_to_text(exchange.message)


def sample_commands(store: Store, settings: Settings) -> list[str]:
    """A few representative commands for this book (the largest at-risk account first)."""
    cmd = settings.slack.command
    samples = []
    as_of = queries.latest_as_of(store)
    if as_of:
        for category in reversed(settings.renewal_categories):  # the worst category with accounts
            rows, _ = queries.list_accounts(store, as_of, renewal_index=category, limit=1)
            if rows:
                samples.append(f"{cmd} {rows[0]['name']}")
                samples.append(f"{cmd} list {category.lower()}")
                break
    samples += [f"{cmd} summary", f"{cmd} indicators"]
    return samples[:4] if as_of else [f"{cmd} help"]


def samples(store: Store, settings: Settings, out: Callable[[str], None],
            user: str | None = None) -> None:
    out("(no terminal attached: showing sample exchanges; run `outcomes console` in a terminal "
        "to type your own)")
    for text in sample_commands(store, settings):
        out(f"\n> {text}")
        out(render(answer(store, settings, text, user)))


def interactive(store: Store, settings: Settings, lines: Iterable[str] | Callable[[str], str],
                out: Callable[[str], None], user: str | None = None) -> None:
    cmd = settings.slack.command
    out(f"Outcomes console: type what you would after {cmd} (e.g. `acme`, `list at risk`, "
        "`summary`, `help`); `quit` to leave.")
    if callable(lines):
        read = lines
    else:
        feed = iter(lines)

        def read(prompt: str) -> str:
            return next(feed)
    while True:
        try:
            text = read("outcome> ")
        except (EOFError, StopIteration, KeyboardInterrupt):
            out("")
            return
        if text.strip().casefold() in EXIT_WORDS:
            return
        if not text.strip():
            continue
        out(render(answer(store, settings, text, user)))


def run_console(store: Store, settings: Settings, user: str | None = None,
                out: Callable[[str], None] = print, stdin_isatty: bool | None = None) -> None:
    """The interactive console on a terminal; sample exchanges otherwise (then returns)."""
    import sys

    tty = sys.stdin.isatty() if stdin_isatty is None else stdin_isatty
    if not tty:
        samples(store, settings, out, user)
        return
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    interactive(store, settings, input, out, user)
