"""Prediction feedback: flags from reactions and buttons, expected outcomes, accuracy."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.services.core import guarded, provisional_reason
from bot.services.errors import BadArguments, NotAllowed
from messages.feedback import AccuracyData, Prediction, Realised
from storage import feedback as fb
from storage import queries
from storage.feedback import Flag  # noqa: F401  (listeners name it fbs.Flag)
from storage.store import Store

log = logging.getLogger(__name__)

BUTTON_REACTION = "button"  # `reaction` stored for flags raised with the card's button


def is_feedback_reaction(settings: Settings, reaction: str) -> bool:
    """`x`, `-1` (and `-1::skin-tone-3`, which is the same emoji) by default."""
    return reaction.split("::", 1)[0] in settings.slack.feedback_emoji


def prediction(store: Store, account_id: str) -> Prediction:
    """What the model says about the account now (its latest score)."""
    s = queries.score_before(store, account_id, "9999-12-31")
    if s is None:
        return Prediction(None, None, None, None, None)
    return Prediction(s["renewal_index"], s["upsell_index"], s["health_score"], s["churn_model"],
                      s["as_of"])


@dataclass(frozen=True)
class FlagResult:
    flag: fb.Flag
    created: bool
    accounts: list[dict[str, Any]]  # what the flagged message is about (id, name, ...)


def _flag(store: Store, *, channel: str, ts: str, user_id: str, reaction: str,
          account_ids: list[str]) -> FlagResult:
    account_id = account_ids[0] if len(account_ids) == 1 else None
    p = prediction(store, account_id) if account_id else Prediction(None, None, None, None, None)
    flag, created = fb.record_flag(
        store, channel=channel, message_ts=ts, user_id=user_id, reaction=reaction,
        account_id=account_id, predicted_renewal_index=p.renewal_index,
        predicted_upsell_index=p.upsell_index, health_score=p.health_score,
        model_version=p.model_version,
    )
    return FlagResult(flag, created, queries.accounts_by_ids(store, account_ids))


@guarded
def flag_reaction(store: Store, settings: Settings, *, channel: str, ts: str, user_id: str,
                  reaction: str) -> FlagResult | None:
    """A reaction on a message: a flag when the emoji is a feedback one and the bot posted
    the message about accounts; None otherwise (any other reaction, any other message)."""
    if not is_feedback_reaction(settings, reaction):
        return None
    posted = fb.posted_message(store, channel, ts)
    account_ids = posted["account_ids"] if posted else scheduled_message_accounts(store, channel, ts)
    if not account_ids:
        return None
    return _flag(store, channel=channel, ts=ts, user_id=user_id,
                 reaction=reaction.split("::", 1)[0], account_ids=account_ids)


SCHEDULED_ACCOUNTS_MAX = 100


def scheduled_message_accounts(store: Store, channel: str, ts: str) -> list[str]:
    """Accounts of a pulse / channel summary that was not recorded in posted_messages:
    rebuilt from the delivery ledger (kind, owner, period) as the movements it reported."""
    sent = fb.delivery_at(store, channel, ts)
    if sent is None or sent["kind"] not in ("pulse", "summary"):
        return []
    before = queries.previous_as_of(store, sent["period"])
    if before is None:
        return []
    owner = sent["recipient"] if sent["kind"] == "pulse" and "@" in str(sent["recipient"]) else None
    rows = queries.movements(store, before, sent["period"], owner_email=owner)
    return [r["account_id"] for r in rows[:SCHEDULED_ACCOUNTS_MAX]]


@guarded
def flag_target(store: Store, account_id: str) -> tuple[dict[str, Any], Prediction]:
    """The account a Flag button is about, and what the model says about it now."""
    account = queries.account(store, account_id)
    if account is None:
        raise BadArguments("That account is no longer in the book.")
    return account, prediction(store, account_id)


@guarded
def flag_account(store: Store, *, channel: str, ts: str, user_id: str, account_id: str) -> FlagResult:
    """The card's "Flag prediction" button (cards shown only to the user cannot be reacted to)."""
    if queries.account(store, account_id) is None:
        raise BadArguments("That account is no longer in the book.")
    return _flag(store, channel=channel, ts=ts, user_id=user_id, reaction=BUTTON_REACTION,
                 account_ids=[account_id])


@guarded
def flag_with_expectation(store: Store, settings: Settings, *, channel: str, ts: str, user_id: str,
                          account_id: str, renewal_index: str | None, upsell_index: str | None,
                          note: str | None = None) -> FlagResult:
    """The flag modal's submission: one flag (the same table as reactions and buttons) with
    the outcome the user expects and their note. Nothing is stored when it is invalid."""
    if not (renewal_index or upsell_index):
        raise BadArguments("Choose the Renewal Index or the Upsell Index you expect.")
    if renewal_index is not None and renewal_index not in settings.renewal_categories:
        raise BadArguments(f"Unknown Renewal Index category {renewal_index!r}.")
    if upsell_index is not None and upsell_index not in settings.upsell_categories:
        raise BadArguments(f"Unknown Upsell Index category {upsell_index!r}.")
    result = flag_account(store, channel=channel, ts=ts, user_id=user_id, account_id=account_id)
    flag = fb.set_expected(store, result.flag.id, renewal_index=renewal_index,
                           upsell_index=upsell_index, note=note)
    return FlagResult(flag, result.created, result.accounts)


def _own_flag(store: Store, flag_id: int, user_id: str) -> fb.Flag:
    flag = fb.get_flag(store, flag_id)
    if flag is None:
        raise BadArguments("That flag no longer exists.")
    if flag.user_id != user_id:
        raise NotAllowed(f"This question is for <@{flag.user_id}>. To flag the prediction "
                         "yourself, react to the message with :x:.")
    return flag


@guarded
def choose_flag_account(store: Store, *, flag_id: int, user_id: str, account_id: str) -> FlagResult:
    """For a message about several accounts: which one the flag is about."""
    flag = _own_flag(store, flag_id, user_id)
    p = prediction(store, account_id)
    fb.set_flag_account(store, flag.id, account_id, p.renewal_index, p.upsell_index,
                        p.health_score, p.model_version)
    updated = fb.get_flag(store, flag.id)
    assert updated is not None
    return FlagResult(updated, False, queries.accounts_by_ids(store, [account_id]))


@guarded
def answer_flag(store: Store, settings: Settings, *, flag_id: int, user_id: str,
                renewal_index: str | None = None, upsell_index: str | None = None) -> fb.Flag:
    """Store the outcome the user expects instead of the prediction."""
    if renewal_index is not None and renewal_index not in settings.renewal_categories:
        raise BadArguments(f"Unknown Renewal Index category {renewal_index!r}.")
    if upsell_index is not None and upsell_index not in settings.upsell_categories:
        raise BadArguments(f"Unknown Upsell Index category {upsell_index!r}.")
    flag = _own_flag(store, flag_id, user_id)
    return fb.set_expected(store, flag.id, renewal_index=renewal_index, upsell_index=upsell_index)


@guarded
def answer_flag_button(store: Store, settings: Settings, *, value: str, kind: str,
                       user_id: str) -> tuple[fb.Flag, str]:
    """An expected-outcome button (value `<flag id>:<category index>`, kind renewal/upsell):
    store the answer; the flag and the name of its account."""
    flag_id, _, index = value.partition(":")
    names = settings.renewal_categories if kind == "renewal" else settings.upsell_categories
    if not (flag_id.isdigit() and index.isdigit() and int(index) < len(names)):
        raise BadArguments("That button is out of date.")
    flag = answer_flag(store, settings, flag_id=int(flag_id), user_id=user_id,
                       **{f"{kind}_index": names[int(index)]})
    account = queries.account(store, flag.account_id) if flag.account_id else None
    return flag, account["name"] if account else "the account"


RECORD_RACE_SECONDS = 2.0


def flag_reaction_event(store: Store, settings: Settings, *, event_id: str | None, channel: str,
                        ts: str, user_id: str, reaction: str,
                        sleep: Callable[[float], None] = time.sleep) -> FlagResult | None:
    """A `reaction_added` event: the new flag, or None (not feedback, not our message, a Slack
    retry of an event already handled, or a flag this user already raised on the message).

    Slack retries deliveries, possibly while the first is still running: the event id is
    recorded once, and a flag is unique per (channel, message, user).
    """
    if not is_feedback_reaction(settings, reaction):
        return None
    if event_id and not fb.first_time_seen(store, event_id):
        log.info("event %s already handled (Slack retry)", event_id)
        return None

    def flag() -> FlagResult | None:
        return flag_reaction(store, settings, channel=channel, ts=ts, user_id=user_id,
                             reaction=reaction)

    result = flag()
    # A reaction can arrive before the poster has recorded the message it just posted
    # (chat.postMessage answered, record_post not yet committed): look again briefly.
    deadline = time.monotonic() + RECORD_RACE_SECONDS
    while result is None and time.monotonic() < deadline:
        sleep(0.05)
        result = flag()
    return result if result is not None and result.created else None


def set_flag_thread(store: Store, flag: fb.Flag, thread_ts: str) -> None:
    """Remember the thread where the flag's question was asked."""
    fb.set_thread(store, flag.id, thread_ts)


# -- accuracy ------------------------------------------------------------------------------------------


@guarded
def accuracy(store: Store, settings: Settings) -> AccuracyData:
    """Flags so far, the models' out-of-time backtests, and how the live predictions
    (stored when they were made, by a model that had not seen their outcome) turned out
    once their horizon passed. Never rows a model trained on."""
    flags = fb.flags(store)
    answered = [f for f in flags if f.answered_at]
    by_expected: dict[str, int] = {}
    for f in answered:
        for value in (f.expected_renewal_index, f.expected_upsell_index):
            if value:
                by_expected[value] = by_expected.get(value, 0) + 1
    live = queries.ledger_summary(store)
    data: dict[str, Any] = {
        "flags": len(flags), "answered": len(answered), "by_expected": by_expected,
        "churn_model": queries.active_model(store, "churn"),
        "upsell_model": queries.active_model(store, "upsell"),
        "horizon_days": settings.horizon_days,
        "provisional_reason": provisional_reason(store),
        "known": live["known"], "pending": live["pending"],
        "live_predicted": live["predicted"], "live_realised": live["realised"],
        "live_from": live["from"], "live_to": live["to"],
    }
    by_cat = live["renewal"]
    data["renewal"] = [Realised(c, *by_cat.get(c, (0, 0, None))) for c in settings.renewal_categories]
    by_up = live["upsell"]
    data["upsell"] = [Realised(c, *by_up.get(c, (0, 0, None))) for c in settings.upsell_categories]
    # Were the people who flagged right? The flagged prediction is the account's latest
    # live one at the time of the flag.
    half = len(settings.renewal_categories) / 2
    resolved = right = 0
    for f in answered:
        if not f.account_id or not f.expected_renewal_index:
            continue
        actual = queries.ledger_outcome(store, f.account_id, f.created_at[:10])
        if actual is None:
            continue
        resolved += 1
        rank = settings.renewal_rank(f.expected_renewal_index)
        right += int((rank is not None and rank >= half) == (actual == 1))
    data["flags_resolved"], data["flags_right"] = resolved, right
    return AccuracyData(**data)
