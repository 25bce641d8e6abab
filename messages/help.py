"""`/outcome help` (and an empty `/outcome`): usage with examples."""

from __future__ import annotations

from typing import TYPE_CHECKING

from messages import blocks as b
from messages.render import Message, checked

if TYPE_CHECKING:
    from messages.settings import DisplaySettings


def help_message(settings: DisplaySettings) -> Message:
    t = b.macros("misc.j2")
    cmd = settings.command
    cats = [*settings.renewal_categories, *settings.upsell_categories]
    emojis = {c: settings.emoji_for(c) for c in cats}
    blocks = [
        b.section(b.text_of(t.help_intro(cmd, settings.app_name))),
        b.section(b.text_of(t.help_commands(cmd))),
        b.section(b.text_of(t.help_categories(settings.renewal_categories,
                                              settings.upsell_categories, emojis))),
        b.context(b.text_of(t.help_bands(settings.scoring.renewal_bands,
                                         settings.scoring.horizon_days))),
        b.context(b.text_of(t.help_feedback(settings.feedback_emoji))),
    ]
    return checked(f"How to use {cmd}: {cmd} <account>, {cmd} list at risk, {cmd} summary", blocks)
