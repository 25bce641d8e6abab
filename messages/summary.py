"""`/outcome summary` and the weekly channel summary (reused by the pulse job)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from messages import blocks as b
from messages.actions import OPEN_ACCOUNT
from messages.render import Message, checked

if TYPE_CHECKING:
    from messages.settings import DisplaySettings
    from bot.services.summary import Movement, SummaryData

MOVERS_SHOWN = 8


def movement_lines(moves: list[Movement], settings: DisplaySettings) -> list[str]:
    t = b.macros("summary.j2")
    return [b.text_of(t.movement_line(mv, settings.category_emoji(mv.before), settings.category_emoji(mv.after)))
            for mv in moves]


def summary_message(data: SummaryData, settings: DisplaySettings, *, title: str | None = None,
                    movers: int = MOVERS_SHOWN) -> Message:
    """Accounts and ARR per category, then the Previous Period movements (largest ARR first).

    Worsened accounts come with buttons that open their card (action `open_account`).
    """
    t = b.macros("summary.j2")
    blocks = [b.header(title or b.text_of(t.title(data))), b.section(b.text_of(t.overview(data)))]
    if data.provisional:
        blocks.append(b.context(b.text_of(t.provisional())))
    blocks.append(b.section(b.text_of(t.index_title("Renewal Index")) + "\n" + "\n".join(
        b.text_of(t.category_line(line, settings.category_emoji(line.category))) for line in data.renewal)))
    blocks.append(b.section(b.text_of(t.index_title("Upsell Index")) + "\n" + "\n".join(
        b.text_of(t.category_line(line, settings.category_emoji(line.category))) for line in data.upsell)))
    blocks.append(b.divider())
    if data.previous_as_of is None:
        blocks.append(b.context(b.text_of(t.no_previous())))
    else:
        blocks.append(b.section(b.text_of(t.movements_title(data))))
        for label, moves in (("Worse", data.worsened), ("Better", data.improved),
                             ("Newly likely to upsell", data.upsell_gained),
                             ("No longer likely to upsell", data.upsell_lost)):
            if moves:
                blocks.append(b.section(f"*{label}*\n" + b.lines_within(
                    movement_lines(moves, settings), max_lines=movers)))
        top = data.worsened[:5]
        if top:
            blocks.append(b.actions([b.button(f"Open {mv.name}", OPEN_ACCOUNT, mv.account_id)
                                     for mv in top], block_id="summary_open"))
    return checked(b.text_of(t.fallback(data)), blocks)
