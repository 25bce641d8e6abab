"""Replies about snoozed accounts: snoozed, no longer snoozed, and `/outcome snoozed`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from messages import blocks as b
from messages.account import emoji_lookup
from messages.actions import OPEN_ACCOUNT
from messages.render import Message, checked, escape_mrkdwn

if TYPE_CHECKING:
    from messages.settings import DisplaySettings
    from storage.snoozes import Snooze

SHOWN = 40


def snoozed_message(name: str, until: str, days: int, settings: DisplaySettings) -> Message:
    t = b.macros("misc.j2")
    text = b.text_of(t.snoozed(name, until, days, settings.command))
    return checked(f"{escape_mrkdwn(name)} is snoozed until {until}.", [b.section(text)])


def unsnoozed_message(name: str, was_snoozed: bool) -> Message:
    t = b.macros("misc.j2")
    text = b.text_of(t.unsnoozed(name, was_snoozed))
    return checked(text, [b.section(text)])


def snoozed_list_message(rows: Sequence[Snooze], settings: DisplaySettings) -> Message:
    """Every snooze in force, soonest to end first, each with an Open button."""
    t = b.macros("misc.j2")
    e = emoji_lookup(settings)
    blocks = [b.section(b.text_of(t.snoozed_title(len(rows), settings.command)))]
    for z in rows[:SHOWN]:
        blocks.append(b.section(b.text_of(t.snoozed_line(z, e)),
                                accessory=b.button("Open", OPEN_ACCOUNT, z.account_id)))
    if len(rows) > SHOWN:
        blocks.append(b.context(f"…and {len(rows) - SHOWN:,} more"))
    return checked(f"{len(rows)} snoozed account{'' if len(rows) == 1 else 's'}", blocks)
