"""The weekly channel summary and the optional summary email, each exactly once per period.

The content is the Slack app's: `bot.services.summary()` (accounts and ARR per
Renewal Index and Upsell Index category, movements since the previous scored
period, largest ARR first) rendered by `messages.summary.summary_message` for
the channel, and by `messages.email.summary_email` for the email.

Ledger keys: `summary:<channel>:<period>` (Slack, same policy as the pulse: see
`bot.delivery`) and `email:<period>`. An email claimed 'sending' whose run died is
never re-sent automatically (SMTP cannot be asked whether it was delivered): the
admins are told, and `outcomes summary --release email:<period>` re-arms it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slack_sdk import WebClient

from bot import email as mail
from bot.config import Settings
from bot.delivery import (
    Delivery,
    DeliveryRun,
    Sleep,
    deliver,
    recorded_run,
    report_problems,
    settle_stuck,
)
from bot.services import SummaryData, summary
from messages.email import EmailContent, summary_email
from messages.pulse import admin_report_message
from messages.render import Message
from messages.summary import summary_message
from storage import deliveries as ledger
from storage.deliveries import Clock, system_clock
from storage.store import Store

log = logging.getLogger(__name__)

JOB = "summary"
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


def send_summary(store: Store, settings: Settings, client: WebClient | None, *,
                 clock: Clock = system_clock, sleep: Sleep = time.sleep,
                 smtp_factory: mail.SmtpFactory | None = None) -> DeliveryRun:
    """Post the channel summary and send the email for the latest period, once each.

    Holds the `job:summary` lock (raises LockHeld if another process has it).
    """
    run = DeliveryRun()
    with recorded_run(store, JOB, run, clock=clock):
        _send(store, settings, client, run, clock, sleep, smtp_factory)
    return run


def _send(store: Store, settings: Settings, client: WebClient | None, run: DeliveryRun,
          clock: Clock, sleep: Sleep, smtp_factory: mail.SmtpFactory | None) -> None:
    plan = plan_summary(store, settings)
    run.period = plan.period
    settled = settle_stuck(store, client, SUMMARY_KIND, command="summary", clock=clock, sleep=sleep)
    settled += settle_stuck(store, None, EMAIL_KIND, command="summary", clock=clock, sleep=sleep)
    run.deliveries += [d for d in settled if d.status == "unknown"]
    if plan.channel and client is not None:
        key = summary_key(plan.channel, plan.period)
        run.deliveries.append(deliver(store, client, plan.message, key=key, kind=SUMMARY_KIND,
                                      recipient=plan.channel, period=plan.period,
                                      channel=plan.channel, command="summary", clock=clock,
                                      sleep=sleep))
    if plan.email is not None:
        run.deliveries.append(_send_email(store, settings, plan, clock, smtp_factory))
    report_problems(client, settings, "Summary", run, admin_report_message)


def _send_email(store: Store, settings: Settings, plan: SummaryPlan, clock: Clock,
                smtp_factory: mail.SmtpFactory | None) -> Delivery:
    key = email_key(plan.period)
    recipient = ", ".join(settings.smtp.recipients)
    if ledger.claim(store, key, kind=EMAIL_KIND, recipient=recipient, period=plan.period,
                    channel=None, now=clock()) is None:
        return Delivery(key, recipient, "skipped")
    assert plan.email is not None
    msg = mail.build_email(settings, plan.email, key=key)
    try:
        refused = mail.send_email(settings, msg, **({"smtp_factory": smtp_factory}
                                                    if smtp_factory else {}))
    except mail.EmailError as exc:
        ledger.mark_failed(store, key, str(exc), now=clock())
        return Delivery(key, recipient, "failed", str(exc))
    ledger.mark_sent(store, key, channel=None, ts=str(msg["Message-ID"]), now=clock())
    if refused:
        return Delivery(key, ", ".join(refused), "failed", "refused by the SMTP server (the "
                       "other recipients got it; not re-sent)")
    return Delivery(key, recipient, "sent")
