"""Delivering a message exactly once through the ledger, and recording a job's run.

The pulse (one DM per owner) and the channel summary post through `deliver`; the
ledger itself (claims, statuses, job runs, locks) is SQL in `storage.deliveries`.
Every scheduled job (pulse, summary, inbox) holds its lock and records its run with
`recorded_run`.

Exactly-once policy (Slack has no idempotency key)
---------------------------------------------------
Each (owner, period) has one ledger row, key `pulse:<owner>:<period>`.

1. Before posting, the row is claimed: 'sending' is committed with the DM
   channel. After Slack answers ok, 'sent' and the message ts are committed.
   Every message carries Slack message metadata
   `{"event_type": "outcomes_delivery", "event_payload": {"key": <key>}}`.
2. 429: slack_sdk's handler waits Retry-After and retries; 5xx and dropped
   connections: its handlers retry. Slack's answer means the message was not
   posted, so these retries cannot duplicate.
3. A timeout or dropped connection is ambiguous: the message may have been
   posted. Before posting again, we read the DM's recent history
   (`conversations.history`, `include_all_metadata`) and look for our key:
   found -> recorded 'sent'; not found -> retry with backoff (2 s, 4 s). A 5xx
   once the client's own retries are spent gets the same check when the
   history is readable, and is otherwise taken at its word (not posted).
4. A row found 'sending' at the start of a run was left by a process that died
   mid-send (the job lock guarantees no live process is sending it). Once it is
   `STUCK_GRACE` (15 s) after its claim, the same history check decides:
   found -> 'sent', not found -> retried in this run. (A lock whose holder
   process is gone from this host is taken over at once, so a rerun right
   after a kill -9 goes ahead.)
5. When the history cannot be read (the `im:history` scope is missing, or Slack
   is down), we never guess: the row stays 'sending', the admins are told, and
   nothing is re-sent until an admin runs `outcomes pulse --release KEY`. At most
   once always holds; exactly once holds whenever the history can be read.
6. Any other failure (owner not found, channel_not_found, ...) -> 'failed' with
   the error; the next run retries it.

Only one process sends: the whole run holds the store lock `job:pulse`
(`storage.deliveries.JobLock`, renewed as it goes, expiring if the holder dies).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from messages.render import Message
from storage import deliveries as ledger
from storage.deliveries import Clock, JobLock, system_clock
from storage.store import Store

log = logging.getLogger(__name__)

STUCK_GRACE = timedelta(seconds=15)
METADATA_EVENT = "outcomes_delivery"
MAX_SEND_ATTEMPTS = 3
BACKOFF_SECONDS = 2.0
HISTORY_LIMIT = 100

Sleep = Callable[[float], None]

# Bot scopes the jobs need (bot.manifest adds them): post, open DMs, find owners by
# email, and read back a DM / the summary channel after an ambiguous or interrupted send.
SLACK_SCOPES = frozenset({"chat:write", "im:write", "im:history", "channels:history",
                          "users:read", "users:read.email"})


# -- one delivery --------------------------------------------------------------------------------


@dataclass
class Delivery:
    """What became of one message (one ledger key) in this run."""

    key: str
    recipient: str
    status: str          # sent / skipped / failed / unknown
    error: str | None = None
    channel: str | None = None
    ts: str | None = None
    report: bool = True  # tell the admins (False: already told about this key)


def _metadata(key: str) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"key": key}}


def find_in_history(client: WebClient, channel: str, key: str) -> str | None:
    """The ts of our message carrying `key` in the channel's recent history, or None.

    Raises SlackApiError when the history cannot be read (e.g. missing_scope).
    """
    resp = client.conversations_history(channel=channel, limit=HISTORY_LIMIT,
                                        include_all_metadata=True)
    for msg in resp.get("messages") or []:
        meta = msg.get("metadata") or {}
        if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
            return str(msg.get("ts"))
    return None


AMBIGUOUS = (TimeoutError, URLError, ConnectionError, OSError)


def describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        return f"Slack answered {status}: {exc.response.get('error', 'error')}"
    return f"{type(exc).__name__}: {exc}"


def deliver(store: Store, client: WebClient, message: Message, *, key: str, kind: str,
            recipient: str, period: str, channel: str, command: str,
            clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Delivery:
    """Post `message` to `channel` at most once per `key`; see the module docstring.

    `command` is the `outcomes` command whose `--release KEY` re-arms the key.
    """
    if ledger.claim(store, key, kind=kind, recipient=recipient, period=period,
                    channel=channel, now=clock()) is None:
        return Delivery(key, recipient, "skipped")
    error = "not attempted"
    for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
        ambiguous = server_error = False
        try:
            resp = client.chat_postMessage(channel=channel, text=message.text,
                                           blocks=message.blocks, metadata=_metadata(key),
                                           unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            error = describe(exc)
            status = getattr(exc.response, "status_code", 200)
            if status != 429 and status < 500:   # Slack refused it: retrying will not help
                ledger.mark_failed(store, key, error, now=clock())
                return Delivery(key, recipient, "failed", error, channel)
            server_error = status >= 500
        except AMBIGUOUS as exc:
            error, ambiguous = describe(exc), True
        else:
            ts = str(resp.get("ts"))
            got = resp.get("channel") or channel
            ledger.mark_sent(store, key, channel=got, ts=ts, now=clock())
            return Delivery(key, recipient, "sent", channel=got, ts=ts)
        if ambiguous or server_error:
            try:
                ts = find_in_history(client, channel, key)
            except (SlackApiError, *AMBIGUOUS) as exc:
                if ambiguous:   # a timeout: it may well have been posted; never guess
                    note = (f"unknown whether delivered ({error}); history unreadable "
                            f"({describe(exc)}): not re-sent; if it did not arrive: "
                            f"outcomes {command} --release {key}")
                    ledger.note_error(store, key, note, now=clock())
                    return Delivery(key, recipient, "unknown", note, channel)
                ts = None       # a 5xx means Slack did not post it (its SDK retries those too)
            if ts is not None:
                ledger.mark_sent(store, key, channel=channel, ts=ts, now=clock())
                return Delivery(key, recipient, "sent", channel=channel, ts=ts)
        log.warning("delivery %s attempt %d failed: %s", key, attempt, error)
        if attempt < MAX_SEND_ATTEMPTS:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            ledger.reclaim(store, key, now=clock())
    ledger.mark_failed(store, key, error, now=clock())
    return Delivery(key, recipient, "failed", error, channel)


def settle_stuck(store: Store, client: WebClient | None, kind: str, *, command: str,
                 clock: Clock = system_clock, sleep: Sleep = time.sleep) -> list[Delivery]:
    """Decide the fate of rows a dead process left 'sending' (policy points 4 and 5).

    Found in history -> 'sent'; provably not there -> 'failed' (retried now);
    history unreadable, or no Slack channel (email) -> left 'sending', returned 'unknown'.
    A row claimed less than STUCK_GRACE ago is first given the rest of the grace, so a
    request the dead process had already handed to Slack has landed before we look.
    """
    out = []
    for row in ledger.by_status(store, kind, ledger.SENDING):
        hint = f"if it did not arrive: outcomes {command} --release {row.key}"
        if client is None or not row.channel:
            note = f"interrupted mid-send, cannot check whether it arrived: not re-sent; {hint}"
            ledger.note_error(store, row.key, note, now=clock())
            out.append(Delivery(row.key, row.recipient, "unknown", note, row.channel))
            continue
        wait = ledger.parse_stamp(row.updated_at) + STUCK_GRACE - clock()
        if wait.total_seconds() > 0:
            sleep(wait.total_seconds())
        try:
            ts = find_in_history(client, row.channel, row.key)
        except (SlackApiError, *AMBIGUOUS) as exc:
            note = (f"interrupted mid-send; history unreadable ({describe(exc)}): not re-sent; "
                    f"{hint}")
            ledger.note_error(store, row.key, note, now=clock())
            out.append(Delivery(row.key, row.recipient, "unknown", note, row.channel))
            continue
        if ts is not None:
            ledger.mark_sent(store, row.key, channel=row.channel, ts=ts, now=clock())
            out.append(Delivery(row.key, row.recipient, "sent", channel=row.channel, ts=ts,
                               report=False))
        else:
            ledger.release_unsent(store, row.key, "interrupted before Slack had it; resending",
                                  now=clock())
            out.append(Delivery(row.key, row.recipient, "released", channel=row.channel))
    return out


def report_to_admins(client: WebClient | None, settings: Settings, message: Message) -> bool:
    """Post to slack.admin_channel; a failure here is logged, never raised."""
    channel = settings.slack.admin_channel
    if client is None or not channel:
        log.warning("no admin channel configured; would have said: %s", message.text)
        return False
    try:
        client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    except (SlackApiError, *AMBIGUOUS) as exc:
        log.error("could not report to the admins channel %s: %s", channel, describe(exc))
        return False
    return True


# -- a job's run ---------------------------------------------------------------------------------


class Run(Protocol):
    """What `recorded_run` needs of a job's run: its status and detail for `job_runs`."""

    def status(self) -> str: ...

    def detail(self) -> dict[str, Any]: ...


@dataclass
class DeliveryRun:
    """A run that delivers messages (pulse, summary): what became of each one."""

    period: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(d.status == status for d in self.deliveries)

    @property
    def problems(self) -> list[Delivery]:
        """Deliveries that failed or whose fate is unknown."""
        return [d for d in self.deliveries if d.status in ("failed", "unknown")]

    @property
    def to_report(self) -> list[Delivery]:
        """The problems the admins have not been told about yet."""
        return [d for d in self.problems if d.report]

    def status(self) -> str:
        return "partial" if self.problems else "ok"

    def detail(self) -> dict[str, Any]:
        return {"period": self.period, "deliveries": {d.key: d.status for d in self.deliveries}}


def report_problems(client: WebClient | None, settings: Settings, job: str, run: DeliveryRun,
                    message: Callable[..., Message]) -> None:
    """Tell the admins what a run could not deliver (when there is anything to tell)."""
    problems = run.to_report
    if problems:
        report_to_admins(client, settings, message(
            job, run.period or "-", run.count("sent"),
            [{"recipient": d.recipient, "error": d.error or d.status} for d in problems]))


@contextmanager
def recorded_run(store: Store, job: str, run: Run, *, clock: Clock = system_clock,
                 ttl: timedelta | None = None) -> Iterator[JobLock]:
    """Hold the lock `job:<job>` and record the run in `job_runs`.

    Raises LockHeld when another process holds the lock. The run is recorded 'error'
    (with the error) when the body raises, else with `run.status()` and `run.detail()`.
    """
    lock_options: dict[str, Any] = {"ttl": ttl} if ttl is not None else {}
    with JobLock(store, f"job:{job}", clock=clock, **lock_options) as lock:
        run_id = ledger.start_run(store, job, now=clock())
        try:
            yield lock
        except BaseException as exc:
            ledger.finish_run(store, run_id, "error", {**run.detail(), "error": describe(exc)},
                              now=clock())
            raise
        ledger.finish_run(store, run_id, run.status(), run.detail(), now=clock())
