"""Prediction feedback: the thread question after a flag, the thanks, and `/outcome accuracy`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from messages import blocks as b
from messages.account import emoji_lookup
from messages.actions import (
    FLAG_CHOOSE_ACCOUNT,
    FLAG_EXPECT_RENEWAL,
    FLAG_EXPECT_UPSELL,
    FLAG_MODAL,
)
from messages.render import Message, check_blocks, checked, escape_mrkdwn

if TYPE_CHECKING:
    from messages.settings import DisplaySettings
    from storage.feedback import Flag


@dataclass(frozen=True)
class Prediction:
    renewal_index: str | None
    upsell_index: str | None
    health_score: float | None
    model_version: str | None
    as_of: str | None


@dataclass(frozen=True)
class Realised:
    category: str
    known: int         # live predictions whose outcome is known now
    positives: int     # of which churned (renewal) or upsold (upsell)
    predicted: float | None = None   # their mean predicted probability


@dataclass(frozen=True)
class AccuracyData:
    flags: int
    answered: int
    by_expected: dict[str, int]
    churn_model: dict[str, Any] | None
    upsell_model: dict[str, Any] | None
    renewal: list[Realised] = field(default_factory=list)
    upsell: list[Realised] = field(default_factory=list)
    known: int = 0              # live predictions whose outcome is known now
    pending: int = 0            # live predictions still within their horizon
    live_predicted: float | None = None   # mean predicted churn of the known ones
    live_realised: float | None = None    # ... and the share that churned
    live_from: str | None = None
    live_to: str | None = None
    flags_resolved: int = 0     # answered flags whose outcome is now known
    flags_right: int = 0        # ... where the user's expectation was right
    horizon_days: int = 90
    provisional_reason: str | None = None

BUTTONS_UP_TO = 5


def outcome_buttons(flag_id: int, settings: DisplaySettings) -> list[dict[str, Any]]:
    """Two action blocks: the Renewal Index categories, then the Upsell Index values."""
    e = emoji_lookup(settings)
    renewal = [b.button(f"{e(c)} {c}", f"{FLAG_EXPECT_RENEWAL}:{i}", f"{flag_id}:{i}")
               for i, c in enumerate(settings.renewal_categories)]
    upsell = [b.button(f"{e(c)} {c}", f"{FLAG_EXPECT_UPSELL}:{i}", f"{flag_id}:{i}")
              for i, c in enumerate(settings.upsell_categories)]
    return [b.context("*Renewal Index* you expect"), b.actions(renewal, block_id=f"flag_renewal:{flag_id}"),
            b.context("*Upsell Index* you expect"), b.actions(upsell, block_id=f"flag_upsell:{flag_id}")]


def flag_prompt(flag: Flag, account: dict[str, Any], prediction: Prediction,
                settings: DisplaySettings) -> Message:
    """Asked in the flagged message's thread: which outcome the user expects."""
    t = b.macros("misc.j2")
    text = b.text_of(t.flag_prompt(flag.user_id, account, prediction, emoji_lookup(settings)))
    return checked(f"Which outcome do you expect for {escape_mrkdwn(account['name'])}?",
                   [b.section(text), *outcome_buttons(flag.id, settings)])


def flag_choose_account(flag: Flag, accounts: list[dict[str, Any]], settings: DisplaySettings) -> Message:
    """For a message about several accounts: first, which account."""
    t = b.macros("misc.j2")
    blocks = [b.section(b.text_of(t.flag_choose(flag.user_id, len(accounts))))]
    if len(accounts) <= BUTTONS_UP_TO:
        blocks.append(b.actions([b.button(a["name"], f"{FLAG_CHOOSE_ACCOUNT}:{i}",
                                          f"{flag.id}:{a['account_id']}")
                                 for i, a in enumerate(accounts)], block_id=f"flag_choose:{flag.id}"))
    else:
        options = [{"text": {"type": "plain_text", "text": a["name"][:75]},
                    "value": f"{flag.id}:{a['account_id']}"[:150]} for a in accounts[:100]]
        blocks.append(b.actions([{"type": "static_select", "action_id": FLAG_CHOOSE_ACCOUNT,
                                  "placeholder": {"type": "plain_text", "text": "Choose an account"},
                                  "options": options}], block_id=f"flag_choose:{flag.id}"))
        if len(accounts) > 100:
            blocks.append(b.context(f"…and {len(accounts) - 100} more (the first 100 listed)"))
    return checked("Which account is your flag about?", blocks)


def flag_recorded(flag: Flag, account_name: str) -> Message:
    """The flag modal's acknowledgement (in the flagged message's thread, or to the user)."""
    t = b.macros("misc.j2")
    text = b.text_of(t.flag_recorded(flag, account_name))
    return checked(f"Flag recorded for {escape_mrkdwn(account_name)}", [b.section(text)])


def flag_thanks(flag: Flag, account_name: str, settings: DisplaySettings) -> Message:
    t = b.macros("misc.j2")
    blocks = [b.section(b.text_of(t.flag_thanks(flag, account_name)))]
    if not (flag.expected_renewal_index and flag.expected_upsell_index):
        blocks.extend(outcome_buttons(flag.id, settings))
    expected = ", ".join(x for x in (flag.expected_renewal_index, flag.expected_upsell_index) if x)
    return checked(f"Thanks: feedback recorded for {escape_mrkdwn(account_name)}: "
                   f"expected {escape_mrkdwn(expected or 'n/a')}", blocks)


# The flag modal: block and action ids of its inputs (the submission is read by these).
MODAL_RENEWAL = ("expected_renewal", "choice")
MODAL_UPSELL = ("expected_upsell", "choice")
MODAL_NOTE = ("note", "text")
NOTE_MAX = 1000


def _options(names: list[str], e: Any) -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": f"{e(c)} {c}"[:75], "emoji": True},
             "value": str(i)} for i, c in enumerate(names)]


def flag_modal(account: dict[str, Any], prediction: Prediction, settings: DisplaySettings,
               private_metadata: str) -> dict[str, Any]:
    """The `view` for views.open from the card's Flag button: the outcome the user expects
    (Renewal Index and/or Upsell Index) and an optional note. Checked as Slack would."""
    from slack_sdk.models.views import View

    t = b.macros("misc.j2")
    e = emoji_lookup(settings)
    intro = b.text_of(t.flag_modal_intro(account, prediction, e))

    def select(ids: tuple[str, str], label: str, names: list[str]) -> dict[str, Any]:
        return {"type": "input", "block_id": ids[0], "optional": True,
                "label": {"type": "plain_text", "text": label},
                "element": {"type": "static_select", "action_id": ids[1],
                            "placeholder": {"type": "plain_text", "text": "Choose"},
                            "options": _options(names, e)}}

    blocks = [
        b.section(intro),
        select(MODAL_RENEWAL, "Renewal Index you expect", settings.renewal_categories),
        select(MODAL_UPSELL, "Upsell Index you expect", settings.upsell_categories),
        {"type": "input", "block_id": MODAL_NOTE[0], "optional": True,
         "label": {"type": "plain_text", "text": "Note (optional)"},
         "element": {"type": "plain_text_input", "action_id": MODAL_NOTE[1], "multiline": True,
                     "max_length": NOTE_MAX,
                     "placeholder": {"type": "plain_text", "text": "What do you know that the model does not?"}}},
    ]
    view = {"type": "modal", "callback_id": FLAG_MODAL, "private_metadata": private_metadata,
            "title": {"type": "plain_text", "text": "Flag prediction"},
            "submit": {"type": "plain_text", "text": "Flag"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": check_blocks(blocks, "modal")}
    View(**view).validate_json()   # slack_sdk's own checks (title length, metadata, ...)
    return View(**view).to_dict()


def flag_modal_values(view: dict[str, Any], settings: DisplaySettings) -> tuple[str | None, str | None, str | None]:
    """(expected renewal, expected upsell, note) from a submitted flag modal."""
    values = (view.get("state") or {}).get("values") or {}

    def chosen(ids: tuple[str, str], names: list[str]) -> str | None:
        option = ((values.get(ids[0]) or {}).get(ids[1]) or {}).get("selected_option") or {}
        index = str(option.get("value", ""))
        return names[int(index)] if index.isdigit() and int(index) < len(names) else None

    note = ((values.get(MODAL_NOTE[0]) or {}).get(MODAL_NOTE[1]) or {}).get("value")
    note = " ".join(str(note).split())[:NOTE_MAX] if note and str(note).strip() else None
    return (chosen(MODAL_RENEWAL, settings.renewal_categories),
            chosen(MODAL_UPSELL, settings.upsell_categories), note)


def accuracy_message(data: AccuracyData, settings: DisplaySettings) -> Message:
    t = b.macros("misc.j2")
    e = emoji_lookup(settings)
    blocks = [b.header("Prediction accuracy")]
    for model, kind in ((data.churn_model, "Renewal"), (data.upsell_model, "Upsell")):
        backtest = (model or {}).get("metrics", {}).get("backtest")
        if backtest:
            blocks.append(b.section(b.text_of(t.accuracy_backtest(backtest, kind, e))))
    blocks.append(b.section(b.text_of(t.accuracy_realised(data))))
    if data.known:
        blocks.append(b.section("*Renewal Index* (live predictions: share that churned)\n"
                                + "\n".join(b.text_of(t.realised_line(r, e, "churned"))
                                             for r in data.renewal)))
        if any(r.known for r in data.upsell):
            blocks.append(b.section("*Upsell Index* (live predictions: share that expanded)\n"
                                    + "\n".join(b.text_of(t.realised_line(r, e, "upsold"))
                                                 for r in data.upsell)))
    blocks.append(b.section(b.text_of(t.accuracy_flags(data))))
    if data.provisional_reason:
        blocks.append(b.context(b.text_of(t.accuracy_provisional(data.provisional_reason))))
    models = [b.text_of(t.model_line(data.churn_model, "Renewal")),
              b.text_of(t.model_line(data.upsell_model, "Upsell"))]
    models = [m for m in models if m]
    if models:
        blocks.append(b.context(*models))
    live = (f"{data.known} live predictions resolved" if data.known
            else "no live prediction resolved yet")
    return checked(f"Prediction accuracy: {live}; {data.flags} flags", blocks)
