"""The weekly channel summary and the optional summary email, each exactly once per period.

The content is the Slack app's: `bot.services.summary()` (accounts and ARR per
Renewal Index and Upsell Index category, movements since the previous scored
period, largest ARR first) rendered by `messages.summary.summary_message` for
the channel, and by `messages.email.summary_email` for the email.

Ledger keys: `summary:<channel>:<period>` (Slack, same policy as the pulse: see
`bot.pulse`) and `email:<period>`. An email claimed 'sending' whose run died is
never re-sent automatically (SMTP cannot be asked whether it was delivered): the
admins are told, and `outcomes summary --release email:<period>` re-arms it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from bot import email as mail
from bot.config import Settings
from bot.pulse import Outcome, Sleep, deliver, report_to_admins, settle_stuck
from bot.services import SummaryData, summary
from messages.email import EmailContent, summary_email
from messages.pulse import admin_report_message
from messages.render import Message
from messages.summary import summary_message
from storage import deliveries as ledger
from storage.deliveries import Clock, JobLock, system_clock
from storage.store import Store

log = logging.getLogger(__name__)

JOB = "summary"
LOCK = "job:summary"
SUMMARY_KIND = "summary"
EMAIL_KIND = "email"


def summary_key(channel: str, period: str) -> str:
    return f"summary:{channel}:{period}"


def email_key(period: str) -> str:
    return f"email:{period}"


@dataclass
class SummaryPlan:
    """What a summary run would send for the latest period."""

    data: SummaryData
    channel: str | None
    message: Message
    email: EmailContent | None

    @property
    def period(self) -> str:
        return self.data.as_of


def plan_summary(store: Store, settings: Settings) -> SummaryPlan:
    """Raises bot.services.NotScoredYet when nothing is scored."""
    data = summary(store, settings)
    return SummaryPlan(
        data=data,
        channel=settings.slack.summary_channel,
        message=summary_message(data, settings.for_messages),
        email=summary_email(data, settings.for_messages) if mail.email_configured(settings) else None,
    )


@dataclass
class SummaryRun:
    period: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("failed", "unknown") and o.report]

    def detail(self) -> dict[str, Any]:
        return {"period": self.period,
                "outcomes": {o.key: o.status for o in self.outcomes}}


def send_summary(store: Store, settings: Settings, client: WebClient | None, *,
                 clock: Clock = system_clock, sleep: Sleep = time.sleep,
                 smtp_factory: mail.SmtpFactory | None = None) -> SummaryRun:
    """Post the channel summary and send the email for the latest period, once each.

    Holds the `job:summary` lock (raises LockHeld if another process has it).
    """
    with JobLock(store, LOCK, clock=clock):
        run_id = ledger.start_run(store, JOB, now=clock())
        run = SummaryRun()
        try:
            _send(store, settings, client, run, clock, sleep, smtp_factory)
        except BaseException as exc:
            ledger.finish_run(store, run_id, "error", {**run.detail(), "error": repr(exc)},
                              now=clock())
            raise
        ledger.finish_run(store, run_id, "partial" if run.problems else "ok", run.detail(),
                          now=clock())
        return run


def _send(store: Store, settings: Settings, client: WebClient | None, run: SummaryRun,
          clock: Clock, sleep: Sleep, smtp_factory: mail.SmtpFactory | None) -> None:
    plan = plan_summary(store, settings)
    run.period = plan.period
    settled = settle_stuck(store, client, SUMMARY_KIND, command="summary", clock=clock, sleep=sleep)
    settled += settle_stuck(store, None, EMAIL_KIND, command="summary", clock=clock, sleep=sleep)
    run.outcomes += [o for o in settled if o.status == "unknown"]
    if plan.channel and client is not None:
        key = summary_key(plan.channel, plan.period)
        run.outcomes.append(deliver(store, client, plan.message, key=key, kind=SUMMARY_KIND,
                                    recipient=plan.channel, period=plan.period,
                                    channel=plan.channel, clock=clock, sleep=sleep))
    if plan.email is not None:
        run.outcomes.append(_send_email(store, settings, plan, clock, smtp_factory))
    if run.problems:
        report_to_admins(client, settings, admin_report_message(
            "Summary", plan.period, run.count("sent"),
            [{"recipient": o.recipient, "error": o.error or o.status} for o in run.problems]))


def _send_email(store: Store, settings: Settings, plan: SummaryPlan, clock: Clock,
                smtp_factory: mail.SmtpFactory | None) -> Outcome:
    key = email_key(plan.period)
    recipient = ", ".join(settings.smtp.recipients)
    if ledger.claim(store, key, kind=EMAIL_KIND, recipient=recipient, period=plan.period,
                    channel=None, now=clock()) is None:
        return Outcome(key, recipient, "skipped")
    assert plan.email is not None
    msg = mail.build_email(settings, plan.email, key=key)
    try:
        refused = mail.send_email(settings, msg, **({"smtp_factory": smtp_factory}
                                                    if smtp_factory else {}))
    except mail.EmailError as exc:
        ledger.mark_failed(store, key, str(exc), now=clock())
        return Outcome(key, recipient, "failed", str(exc))
    ledger.mark_sent(store, key, channel=None, ts=str(msg["Message-ID"]), now=clock())
    if refused:
        return Outcome(key, ", ".join(refused), "failed", "refused by the SMTP server (the "
                       "other recipients got it; not re-sent)")
    return Outcome(key, recipient, "sent")
