"""Block Kit for the Customer Owner Pulse and for the admins' job reports.

Pure functions of data (`bot.pulse.Pulse`) to a checked `Message`; the wording
lives in templates/pulse_blocks.j2 (pieces) and pulse.txt.j2 (the full text
fallback, which is also what `outcomes pulse --dry-run` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from messages.render import Message, checked, environment, render_text

if TYPE_CHECKING:
    from bot.pulse import Pulse

# TODO(slack-app): import the shared "open account card" action id once it lands
# (the Slack-app engineer owns it); the listener must answer this id.
OPEN_ACCOUNT_ACTION = "open_account_card"
MAX_MOVEMENTS_SHOWN = 15
MAX_PROBLEMS_SHOWN = 20


@lru_cache(maxsize=1)
def _pieces() -> Any:
    """The macros of pulse_blocks.j2, callable from Python."""
    return environment().get_template("pulse_blocks.j2").module


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": str(text).strip()}


def _open_button(account_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open", "emoji": True},
        "action_id": OPEN_ACCOUNT_ACTION,
        "value": account_id,
    }


def pulse_text(pulse: Pulse) -> str:
    """The whole pulse as plain mrkdwn text (notification, screen readers, dry-run)."""
    return render_text("pulse.txt.j2", p=pulse, shown=MAX_MOVEMENTS_SHOWN)


def pulse_message(pulse: Pulse) -> Message:
    """One owner's pulse. No movements: the one-line 'all steady'."""
    b = _pieces()
    text = pulse_text(pulse)
    if not pulse.movements:
        return checked(text, [{"type": "section", "text": _mrkdwn(b.steady(pulse))}])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": str(b.header(pulse)).strip()}},
        {"type": "section", "text": _mrkdwn(b.summary(pulse))},
        {"type": "section", "fields": [_mrkdwn(b.category(c)) for c in pulse.categories[:10]]},
        {"type": "divider"},
        {"type": "section", "text": _mrkdwn(b.movements_heading(pulse))},
    ]
    for m in pulse.movements[:MAX_MOVEMENTS_SHOWN]:
        blocks.append({"type": "section", "text": _mrkdwn(b.movement(m)),
                       "accessory": _open_button(m.account_id)})
    if len(pulse.movements) > MAX_MOVEMENTS_SHOWN:
        blocks.append({"type": "context", "elements": [_mrkdwn(b.more(pulse, MAX_MOVEMENTS_SHOWN))]})
    if pulse.top_upsells:
        blocks.append({"type": "section", "text": _mrkdwn(b.upsells(pulse))})
    blocks.append({"type": "context", "elements": [_mrkdwn(b.footer(pulse))]})
    return checked(text, blocks)


def admin_report_message(job: str, period: str, sent: int,
                         problems: Sequence[dict[str, str]]) -> Message:
    """What a job could not deliver (owner not found, DM failed, fate unknown)."""
    text = render_text("pulse_admin.j2", job=job, period=period, sent=sent,
                       problems=list(problems), limit=MAX_PROBLEMS_SHOWN)
    return checked(text, [{"type": "section", "text": _mrkdwn(text[:3000])}])
