"""`/outcome summary` and the weekly channel summary (reused by the pulse job)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from messages import blocks as b
from messages.actions import OPEN_ACCOUNT
from messages.render import Message, checked

if TYPE_CHECKING:
    from messages.settings import DisplaySettings


@dataclass(frozen=True)
class CategoryLine:
    category: str
    accounts: int
    arr: float
    previous_accounts: int | None  # None when there is no previous period

    @property
    def change(self) -> int | None:
        return None if self.previous_accounts is None else self.accounts - self.previous_accounts


@dataclass(frozen=True)
class Movement:
    account_id: str
    name: str
    owner_email: str | None
    owner_slack_id: str | None
    arr: float | None
    kind: str  # renewal / upsell
    before: str
    after: str
    direction: str  # up / down
    from_health: float | None = None
    to_health: float | None = None
    why: str | None = None   # the movement's reasons, from scoring


@dataclass(frozen=True)
class SummaryData:
    as_of: str
    previous_as_of: str | None
    renewal: list[CategoryLine]
    upsell: list[CategoryLine]
    total_accounts: int
    total_arr: float
    improved: list[Movement] = field(default_factory=list)   # Renewal Index up, by ARR
    worsened: list[Movement] = field(default_factory=list)   # Renewal Index down, by ARR
    upsell_gained: list[Movement] = field(default_factory=list)
    upsell_lost: list[Movement] = field(default_factory=list)
    owner_email: str | None = None
    owner_slack_id: str | None = None
    provisional: bool = False
    provisional_reason: str | None = None
    # Accounts of the previous period missing from this one without being marked churned
    # (the largest few, and how many): not current accounts, so counted nowhere above.
    missing: list[dict] = field(default_factory=list)
    missing_total: int = 0

    @property
    def movements(self) -> int:
        return len(self.improved) + len(self.worsened)

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
        blocks.append(b.context(b.text_of(t.provisional(data.provisional_reason))))
    blocks.append(b.section(b.text_of(t.index_title("Renewal Index")) + "\n" + "\n".join(
        b.text_of(t.category_line(line, settings.category_emoji(line.category))) for line in data.renewal)))
    blocks.append(b.section(b.text_of(t.index_title("Upsell Index")) + "\n" + "\n".join(
        b.text_of(t.category_line(line, settings.category_emoji(line.category))) for line in data.upsell)))
    if data.missing_total:
        blocks.append(b.context(b.text_of(t.missing(data))))
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
