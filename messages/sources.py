"""Admin-channel messages about scheduled SQL sources (bot.sources_job)."""

from __future__ import annotations

from collections.abc import Sequence

from messages.render import Message, checked, render_text


def source_report_message(name: str, *, rejected: bool, detail: str, scoring: str | None,
                          pushes: Sequence[str] = ()) -> Message:
    text = render_text("source_admin.j2", name=name, rejected=rejected, detail=detail,
                       scoring=scoring, pushes=list(pushes))
    return checked(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}])
