"""Block Kit for the Customer Owner Pulse and for the admins' job reports.

Pure functions of data (`Pulse`, defined here, built by `bot.pulse.build`) to a checked
`Message`; the wording
lives in templates/pulse_blocks.j2; each piece is rendered once and used both
in the blocks and in the full text fallback (which `outcomes pulse --dry-run` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from messages.actions import OPEN_ACCOUNT
from messages.render import Message, checked, environment, render_text

# The account-card button of the Slack app (its listener answers this id).
OPEN_ACCOUNT_ACTION = OPEN_ACCOUNT
MAX_MOVEMENTS_SHOWN = 25   # the most a pulse shows whatever pulse.max_items says (an actions
                           # block holds 25 buttons, one per movement shown)
SECTION_TEXT = 3000
MAX_PROBLEMS_SHOWN = 20


# -- what a pulse says -------------------------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    account_id: str
    name: str
    arr: float
    from_category: str
    to_category: str
    from_emoji: str
    to_emoji: str
    worsened: bool
    kind: str = "renewal"           # renewal / upsell: which index moved
    why: str | None = None          # the movement's reasons, from scoring
    low_confidence: bool = False    # some of the account's data is missing this period
    importance: float = 0.0         # ARR x size of the change: the pulse's order


@dataclass(frozen=True)
class CategoryCount:
    name: str
    emoji: str
    count: int
    arr: float


@dataclass(frozen=True)
class Upsell:
    account_id: str
    name: str
    arr: float
    new: bool


@dataclass
class Pulse:
    """What one owner is told for one scored period."""

    owner: str                      # ledger recipient: email, or Slack id without email
    owner_email: str | None
    owner_slack_id: str | None
    period: str
    baseline: str | None
    accounts: int
    arr: float
    categories: list[CategoryCount]
    arr_at_risk: float
    at_risk_accounts: int
    upsell_name: str
    upsell_emoji: str
    upsell_accounts: int
    upsell_arr: float
    top_upsells: list[Upsell]
    movements: list[Movement] = field(default_factory=list)
    provisional: bool = False       # an active model trained on too few outcomes

    @property
    def worsened(self) -> int:
        return sum(m.worsened for m in self.movements)

    @property
    def improved(self) -> int:
        return len(self.movements) - self.worsened

    @property
    def steady(self) -> bool:
        return not self.movements


@lru_cache(maxsize=1)
def _pieces() -> Any:
    """The macros of pulse_blocks.j2, callable from Python."""
    return environment().get_template("pulse_blocks.j2").module


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _open_button(account_id: str, name: str, position: int) -> dict[str, Any]:
    label = f"Open {name}"
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label if len(label) <= 75 else label[:74] + "…"},
        # Slack wants action ids unique within a block; the listener reads `id:<n>` too.
        "action_id": f"{OPEN_ACCOUNT_ACTION}:{position}",
        "value": account_id,
    }


@dataclass(frozen=True)
class _Pieces:
    """Each part of a pulse rendered once; the blocks and the text fallback share them."""

    steady: str | None = None
    header: str = ""
    summary: str = ""
    categories: tuple[str, ...] = ()
    heading: str = ""
    movements: tuple[tuple[str, str], ...] = ()   # (line, account_id), the shown ones
    names: tuple[str, ...] = ()                    # their names, for the buttons
    more: str | None = None
    upsells: str | None = None
    footer: str = ""

    def text(self) -> str:
        if self.steady is not None:
            return self.steady
        lines = [self.header, self.summary, *self.categories, "", self.heading,
                 *(line for line, _ in self.movements)]
        lines += [x for x in (self.more, self.upsells) if x]
        return "\n".join([*lines, "", self.footer])


def _render(pulse: Pulse, max_items: int = MAX_MOVEMENTS_SHOWN) -> _Pieces:
    b = _pieces()
    if not pulse.movements:
        return _Pieces(steady=str(b.steady(pulse)).strip())
    heading = str(b.movements_heading(pulse)).strip()
    shown, lines, used = [], [], len(heading)
    # Most important first (the order `bot.pulse.build` gives), at most max_items of them.
    for m in pulse.movements[:min(max_items, MAX_MOVEMENTS_SHOWN)]:
        line = str(b.movement(m)).strip()
        if used + 1 + len(line) > SECTION_TEXT:   # keep the movements section within Slack's limit
            break
        shown.append(m)
        lines.append(line)
        used += 1 + len(line)
    return _Pieces(
        header=str(b.header(pulse)).strip(),
        summary=str(b.summary(pulse)).strip(),
        categories=tuple(str(b.category(c)).strip() for c in pulse.categories[:10]),
        heading=heading,
        movements=tuple((line, m.account_id) for line, m in zip(lines, shown, strict=True)),
        names=tuple(m.name for m in shown),
        more=str(b.more(pulse, len(shown))).strip() if len(pulse.movements) > len(shown) else None,
        upsells=str(b.upsells(pulse)).strip() if pulse.top_upsells else None,
        footer=str(b.footer(pulse)).strip(),
    )


def pulse_text(pulse: Pulse, max_items: int = MAX_MOVEMENTS_SHOWN) -> str:
    """The whole pulse as mrkdwn text (notification, screen readers, `--dry-run`)."""
    return _render(pulse, max_items).text()


def pulse_message(pulse: Pulse, max_items: int = MAX_MOVEMENTS_SHOWN) -> Message:
    """One owner's pulse: at most `max_items` movements (pulse.max_items), then "…and N more".
    No movements: the one-line 'all steady'."""
    parts = _render(pulse, max_items)
    text = parts.text()
    if parts.steady is not None:
        return checked(text, [{"type": "section", "text": _mrkdwn(parts.steady)}])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": parts.header}},
        # Category counts as text lines, not fields: 4 fewer objects for Slack's checks
        # per message, which is most of the cost of 5,000 pulses.
        {"type": "section", "text": _mrkdwn("\n".join([parts.summary, *parts.categories]))},
        {"type": "section", "text": _mrkdwn("\n".join(
            [parts.heading, *(line for line, _ in parts.movements)]))},
        {"type": "actions", "block_id": "pulse_open",
         "elements": [_open_button(account_id, name, i) for i, ((_, account_id), name) in enumerate(
             zip(parts.movements, parts.names, strict=True))]},
    ]
    if parts.more:
        blocks.append({"type": "context", "elements": [_mrkdwn(parts.more)]})
    if parts.upsells:
        blocks.append({"type": "section", "text": _mrkdwn(parts.upsells)})
    blocks.append({"type": "context", "elements": [_mrkdwn(parts.footer)]})
    return checked(text, blocks)


def admin_report_message(job: str, period: str, sent: int,
                         problems: Sequence[dict[str, str]]) -> Message:
    """What a job could not deliver (owner not found, DM failed, fate unknown)."""
    text = render_text("pulse_admin.j2", job=job, period=period, sent=sent,
                       problems=list(problems), limit=MAX_PROBLEMS_SHOWN)
    return checked(text, [{"type": "section", "text": _mrkdwn(text[:3000])}])


def inbox_report_message(folder: str, processed: Sequence[Any], rejected: Sequence[Any],
                         scoring: str | None) -> Message:
    """What the watched inbox folder brought in (items have .name and .detail)."""
    text = render_text("pulse_inbox.j2", folder=folder, processed=list(processed),
                       rejected=list(rejected), scoring=scoring)
    return checked(text, [{"type": "section", "text": _mrkdwn(text[:3000])}])
