"""Sending the Customer Owner Pulse: one DM per owner, exactly once per period.

Each (owner, period) has one ledger row, key `pulse:<owner>:<period>`, delivered by
`bot.delivery.deliver` (the exactly-once policy is there). The Slack user is
`owner_slack_id` when any of the owner's accounts has one, else `users.lookupByEmail`
(Tier 3), cached in `slack_users`, a not-found answer included; a not-found is asked
again after `LOOKUP_RETRY_AFTER` (a day). An owner who cannot be found is recorded as
a failed delivery (retried next run) and reported to the admins channel.

Only one process sends: the whole run holds the store lock `job:pulse`
(`storage.deliveries.JobLock`, renewed as it goes, expiring if the holder dies).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.delivery import (
    AMBIGUOUS,
    Delivery,
    DeliveryRun,
    Sleep,
    deliver,
    describe,
    recorded_run,
    report_problems,
    settle_stuck,
)
from bot.pulse.build import KIND, build_pulses, pulse_key, to_send
from messages.pulse import Pulse, admin_report_message, pulse_message
from messages.render import Message
from storage import deliveries as ledger
from storage.deliveries import Clock, JobLock, system_clock
from storage.feedback import record_post
from storage.store import Store

JOB = "pulse"
LOOKUP_RETRY_AFTER = timedelta(days=1)
LOCK_RENEW_EVERY = 20  # deliveries


# -- owners -> Slack users ------------------------------------------------------------------------


class OwnerNotFound(Exception):
    """An owner with no Slack user (not found by email, or no email and no id)."""


def resolve_owner(store: Store, client: WebClient, pulse: Pulse, *,
                  cache: dict[str, ledger.CachedUser], now: datetime) -> str:
    """The owner's Slack user id; raises OwnerNotFound (or SlackApiError when Slack fails)."""
    if pulse.owner_slack_id:
        return pulse.owner_slack_id
    email = pulse.owner_email
    if not email:
        raise OwnerNotFound("no owner email and no owner_slack_id")
    hit = cache.get(email)
    if hit is not None and hit.user_id:
        return hit.user_id
    if hit is not None and ledger.parse_stamp(hit.looked_up_at) > now - LOOKUP_RETRY_AFTER:
        raise OwnerNotFound(f"no Slack user with this email ({hit.error}); "
                            f"asked again {LOOKUP_RETRY_AFTER.days} day(s) after the last lookup")
    try:
        resp = client.users_lookupByEmail(email=email)
    except SlackApiError as exc:
        err = exc.response.get("error", "error")
        if getattr(exc.response, "status_code", 200) == 200:   # Slack's answer, not an outage
            ledger.remember_user(store, email, user_id=None, error=err, now=now)
            cache[email] = ledger.CachedUser(email, None, err, ledger.stamp(now))
            raise OwnerNotFound(f"no Slack user with this email ({err}): not found in Slack; "
                                "set owner_slack_id in the data or invite them") from None
        raise
    user_id = str(resp["user"]["id"])
    ledger.remember_user(store, email, user_id=user_id, error=None, now=now)
    cache[email] = ledger.CachedUser(email, user_id, None, ledger.stamp(now))
    return user_id


def _dm_channel(store: Store, client: WebClient, owner: str, user_id: str) -> str:
    known = ledger.last_channel(store, KIND, owner)
    if known:
        return known
    return str(client.conversations_open(users=user_id)["channel"]["id"])


# -- the job -------------------------------------------------------------------------------------------


@dataclass
class PulseRun(DeliveryRun):
    steady_not_sent: int = 0

    def detail(self) -> dict[str, Any]:
        return {"period": self.period, "sent": self.count("sent"), "failed": self.count("failed"),
                "unknown": self.count("unknown"), "skipped": self.count("skipped"),
                "steady_not_sent": self.steady_not_sent}


@dataclass
class PlannedPulse:
    """A pulse and the message it becomes."""

    pulse: Pulse
    message: Message


def plan_pulses(store: Store, settings: Settings) -> list[PlannedPulse]:
    """The messages a run would send now (no Slack calls): for `--dry-run` and the bench."""
    return [PlannedPulse(p, pulse_message(p, settings.pulse.max_items))
            for p in to_send(build_pulses(store, settings), settings)]


def send_pulses(store: Store, settings: Settings, client: WebClient, *,
                clock: Clock = system_clock, sleep: Sleep = time.sleep) -> PulseRun:
    """Send every owner's pulse for the latest period that has not been sent yet.

    Holds the `job:pulse` lock for the run (raises LockHeld if another process has it).
    """
    run = PulseRun()
    with recorded_run(store, JOB, run, clock=clock) as lock:
        _send_all(store, settings, client, run, lock, clock, sleep)
    return run


def _send_all(store: Store, settings: Settings, client: WebClient, run: PulseRun,
              lock: JobLock, clock: Clock, sleep: Sleep) -> None:
    stuck = settle_stuck(store, client, KIND, command="pulse", clock=clock, sleep=sleep)
    unknown = [d for d in stuck if d.status == "unknown"]
    pulses = build_pulses(store, settings)
    run.period = pulses[0].period if pulses else None
    sendable = to_send(pulses, settings)
    run.steady_not_sent = len(pulses) - len(sendable)
    in_doubt = {d.key for d in unknown}
    run.deliveries.extend(unknown)
    emails = sorted({p.owner_email for p in sendable if p.owner_email and not p.owner_slack_id})
    cache = ledger.cached_users(store, emails)
    for i, pulse in enumerate(sendable, 1):
        if i % LOCK_RENEW_EVERY == 0:
            lock.renew()
        if pulse_key(pulse.owner, pulse.period) in in_doubt:
            continue
        run.deliveries.append(_send_one(store, client, pulse, cache, clock, sleep,
                                        settings.pulse.max_items))
    report_problems(client, settings, "Customer Owner Pulse", run, admin_report_message)


def _send_one(store: Store, client: WebClient, pulse: Pulse,
              cache: dict[str, ledger.CachedUser], clock: Clock, sleep: Sleep,
              max_items: int) -> Delivery:
    now = clock()
    key = pulse_key(pulse.owner, pulse.period)
    try:
        user_id = resolve_owner(store, client, pulse, cache=cache, now=now)
        channel = _dm_channel(store, client, pulse.owner, user_id)
    except (OwnerNotFound, SlackApiError, *AMBIGUOUS) as exc:
        error = str(exc) if isinstance(exc, OwnerNotFound) else describe(exc)
        attempts = ledger.count_failure(store, key, kind=KIND, recipient=pulse.owner,
                                        period=pulse.period, error=error, now=now)
        # The admins hear about an owner missing from Slack once per period, not every run.
        return Delivery(key, pulse.owner, "failed", error, report=attempts == 1)
    delivery = deliver(store, client, pulse_message(pulse, max_items), key=key, kind=KIND,
                       recipient=pulse.owner, period=pulse.period, channel=channel,
                       command="pulse", clock=clock, sleep=sleep)
    if delivery.status == "sent" and delivery.ts and pulse.movements:
        # So a reaction on the pulse is traced to exactly the accounts it was about.
        record_post(store, delivery.channel or channel, delivery.ts, KIND,
                    [m.account_id for m in pulse.movements])
    return delivery


def dry_run_lines(planned: Iterable[PlannedPulse]) -> Iterable[str]:
    """What `outcomes pulse --dry-run` prints: to whom, then the text."""
    for item in planned:
        p = item.pulse
        who = " / ".join(x for x in (p.owner_email, p.owner_slack_id) if x)
        n = len(p.movements)
        yield (f"--- To {who} ({n} movement{'' if n == 1 else 's'}, {p.accounts} "
               f"account{'' if p.accounts == 1 else 's'}, {p.period})")
        yield item.message.text
