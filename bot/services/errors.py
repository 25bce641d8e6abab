"""Errors meant for the person who asked: each carries the message they will read.

Anything else raised while answering is a bug: logged with its traceback, and the
user gets a short, honest reply (see `bot.app`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messages.render import escape_mrkdwn as _esc


class UserError(Exception):
    """An expected problem with a message for the user.

    The message is mrkdwn: anything in it that came from the user or the data is escaped
    where it is built (see AccountNotFound).
    """

    suggestions: Sequence[dict[str, Any]] = ()   # accounts the user may have meant

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountNotFound(UserError):
    def __init__(self, query: str, suggestions: Sequence[dict[str, Any]] = ()) -> None:
        self.query = query
        self.suggestions = list(suggestions)
        names = ", ".join(_esc(s["name"]) for s in self.suggestions)
        hint = f" Did you mean: {names}?" if names else ""
        super().__init__(f"No account matches “{_esc(query)}”.{hint}")


class UnknownCommand(UserError):
    def __init__(self, word: str, suggestion: str | None, command: str = "/outcome") -> None:
        self.word = word
        self.suggestion = suggestion
        hint = f" Did you mean `{command} {suggestion}`?" if suggestion else ""
        super().__init__(f"I don't know “{_esc(word)}”.{hint} Try `{command} help`.")


class BadArguments(UserError):
    """The command is known but its arguments are not usable; message gives the usage."""


class NotScoredYet(UserError):
    def __init__(self) -> None:
        super().__init__(
            "There are no scores yet: ingest snapshots and run scoring first "
            "(`outcomes demo` builds a demo book)."
        )


class Rescoring(UserError):
    def __init__(self) -> None:
        super().__init__("The data is being rescored right now; try again in a minute.")


class NotAllowed(UserError):
    """The user (or workspace) may not do this."""
