"""App Home: the user's own accounts by category, recent movements, open flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from messages import blocks as b
from messages.account import emoji_lookup
from messages.render import Message, checked
from messages.summary import SummaryData, movement_lines

if TYPE_CHECKING:
    from messages.settings import DisplaySettings
    from storage.feedback import Flag


@dataclass(frozen=True)
class HomeData:
    user_id: str | None          # who is looking
    owner_email: str | None     # the owner email they stand for
    summary: SummaryData | None
    top: dict[str, list[dict[str, Any]]]     # Renewal Index category -> largest accounts
    open_flags: list[Flag]
    flag_names: dict[str, str]


def home_message(data: HomeData, settings: DisplaySettings) -> Message:
    t = b.macros("home.j2")
    e = emoji_lookup(settings)
    blocks = [b.header(f"{settings.app_name}: your book"), b.section(b.text_of(t.intro(data)))]
    if data.summary:
        s = data.summary
        for line in s.renewal:
            blocks.append(b.section(b.text_of(t.category(line.category, line, e,
                                                         data.top.get(line.category, [])))))
        up = next((x for x in s.upsell if x.category == settings.upsell_likely), None)
        if up:
            blocks.append(b.context(f"{e(up.category)} {up.accounts:,} likely to upsell"))
        blocks.append(b.divider())
        moves = s.worsened + s.improved + s.upsell_gained + s.upsell_lost
        if s.previous_as_of and moves:
            blocks.append(b.section(f"*Recent movements* since {s.previous_as_of}\n"
                                    + b.lines_within(movement_lines(moves, settings), max_lines=10)))
        elif s.previous_as_of:
            blocks.append(b.section(f"*Recent movements*: all steady since {s.previous_as_of}."))
    if data.open_flags:
        lines = [b.text_of(t.flag(f, data.flag_names.get(f.account_id or ""))) for f in data.open_flags]
        blocks.append(b.section("*Your open flags*\n" + b.lines_within(lines, max_lines=10)))
    blocks.append(b.context(f"Try `{settings.command} help` in any channel."))
    return checked("Your accounts", blocks, surface="home")


def home_view(data: HomeData, settings: DisplaySettings) -> dict[str, Any]:
    """The `view` for views.publish."""
    return {"type": "home", "blocks": home_message(data, settings).blocks}
