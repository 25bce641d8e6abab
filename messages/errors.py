"""What the user reads when something did not work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from messages import blocks as b
from messages.actions import OPEN_ACCOUNT
from messages.render import Message, checked, composed


class Problem(Protocol):
    """An expected problem to tell the user about (the services' UserError is one)."""

    message: str                                  # mrkdwn, already escaped
    suggestions: Sequence[Mapping[str, Any]]      # accounts they may have meant


def error_message(error: Problem) -> Message:
    """An expected problem: its message, plus "did you mean" buttons when there are suggestions."""
    t = b.macros("misc.j2")
    text = b.text_of(t.error(composed(error.message)))
    blocks = [b.section(text)]
    for a in error.suggestions[:3]:
        blocks.append(b.section(b.text_of(t.suggestion(a)),
                                accessory=b.button("Open", OPEN_ACCOUNT, a["account_id"])))
    return checked(error.message, blocks)


def bug_message() -> Message:
    t = b.macros("misc.j2")
    text = b.text_of(t.bug())
    return checked(text, [b.section(text)])


def note_message(text: str) -> Message:
    """A one-line plain note (already mrkdwn-safe)."""
    return checked(text, [b.section(text)])
