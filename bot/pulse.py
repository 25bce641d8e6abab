"""Customer Owner Pulse: one DM per customer owner about their own accounts, exactly once.

Building (`build_pulses`) is set-based: one query for the latest scored period,
one book-wide `storage.queries.movements` per distinct comparison period
(usually one; directions by `bot.services.core.movement_direction`, as in
`/outcome summary`), then pandas group-bys; no per-owner SQL. Sending (`send_pulses`) resolves each owner to a Slack user and
delivers through the ledger in `storage.deliveries`.

Who is an owner: `accounts.owner_email` (lowercased), or `owner_slack_id` when
an account has no email. The Slack user is `owner_slack_id` when any of the
owner's accounts has one, else `users.lookupByEmail` (Tier 3), cached in
`slack_users`, a not-found answer included; a not-found is asked again after
`LOOKUP_RETRY_AFTER` (a day). An owner who cannot be found is recorded as a
failed delivery (retried next run) and reported to the admins channel.

What a pulse compares: the latest scored period (max `scores.as_of`) against
the period of the last pulse the owner *received* (a 'sent' ledger row), or,
for an owner who never received one, the scored period before their first
pulse that could not be delivered, else the previous scored period. So a pulse that failed or was
skipped is never lost: the next one covers the movements since the last one
that arrived.

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
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

import pandas as pd
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.services.core import movement_direction
from messages.pulse import admin_report_message, pulse_message, pulse_text
from messages.render import Message
from storage import deliveries as ledger
from storage import queries
from storage.deliveries import Clock, JobLock, system_clock
from storage.feedback import record_post
from storage.store import Store

log = logging.getLogger(__name__)

KIND = "pulse"
JOB = "pulse"
LOCK = "job:pulse"
LOOKUP_RETRY_AFTER = timedelta(days=1)
STUCK_GRACE = timedelta(seconds=15)
METADATA_EVENT = "outcomes_delivery"
MAX_SEND_ATTEMPTS = 3
BACKOFF_SECONDS = 2.0
HISTORY_LIMIT = 100
TOP_UPSELLS = 3
LOCK_RENEW_EVERY = 20  # deliveries

Sleep = Callable[[float], None]

# Bot scopes the jobs need (bot.manifest reads this): post, open DMs, find owners by
# email, and read back a DM / the summary channel after an ambiguous or interrupted send.
SLACK_SCOPES = frozenset({"chat:write", "im:write", "im:history", "channels:history",
                          "users:read", "users:read.email"})


class NoScores(Exception):
    """Nothing has been scored yet, so there is nothing to tell owners."""


# -- data ------------------------------------------------------------------------------------


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

    @property
    def key(self) -> str:
        return pulse_key(self.owner, self.period)

    @property
    def worsened(self) -> int:
        return sum(m.worsened for m in self.movements)

    @property
    def improved(self) -> int:
        return len(self.movements) - self.worsened

    @property
    def steady(self) -> bool:
        return not self.movements


def pulse_key(owner: str, period: str) -> str:
    return f"pulse:{owner}:{period}"


def scored_periods(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT DISTINCT as_of FROM scores ORDER BY 1")]


def at_risk_categories(settings: Settings) -> list[str]:
    """The worse half of the Renewal Index bands (default: At Risk, Likely to Churn)."""
    names = settings.renewal_categories
    return names[math.ceil(len(names) / 2):]


def _money(value: Any) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def build_pulses(store: Store, settings: Settings, *, period: str | None = None,
                 include_sent: bool = False) -> list[Pulse]:
    """Every owner's pulse for `period` (default: the latest scored period).

    Owners who already received the pulse of `period` are left out unless
    `include_sent`. Raises NoScores when nothing is scored.
    """
    periods = scored_periods(store)
    if not periods:
        raise NoScores("nothing is scored yet: ingest snapshots and score them first")
    period = period or periods[-1]
    earlier = [p for p in periods if p < period]
    default_baseline = earlier[-1] if earlier else None

    cur = store.frame(
        "SELECT s.account_id, coalesce(a.name, s.account_id) AS name, a.arr,"
        " lower(nullif(trim(a.owner_email), '')) AS owner_email,"
        " nullif(trim(a.owner_slack_id), '') AS owner_slack_id,"
        " s.renewal_index AS ri, s.upsell_index AS ui"
        " FROM scores s JOIN accounts a ON a.account_id = s.account_id WHERE s.as_of = ?",
        (period,),
    )
    # An account with only a Slack id belongs to the email owner seen with that id elsewhere.
    both = cur.dropna(subset=["owner_email", "owner_slack_id"]).drop_duplicates("owner_slack_id")
    cur["owner_email"] = cur["owner_email"].fillna(
        cur["owner_slack_id"].map(both.set_index("owner_slack_id")["owner_email"]))
    cur["owner"] = cur["owner_email"].fillna(cur["owner_slack_id"])
    cur = cur[cur["owner"].notna()]
    if cur.empty:
        return []
    cur["arr"] = pd.to_numeric(cur["arr"], errors="coerce").fillna(0.0)

    last_sent = ledger.last_sent_periods(store, KIND)
    unsent_since = ledger.first_unsent_periods(store, KIND)
    owner_baseline: dict[str, str | None] = {}
    for owner in cur["owner"].unique().tolist():
        sent = last_sent.get(owner)
        if sent is not None and sent >= period:
            if not include_sent:
                continue
            sent = None
        if sent is None and owner in unsent_since:
            # Never received one: start where the first pulse that failed to reach them did.
            before = [p for p in periods if p < unsent_since[owner]]
            sent = before[-1] if before else None
        owner_baseline[owner] = sent or default_baseline
    cur = cur[cur["owner"].isin(owner_baseline)]
    cur["baseline"] = cur["owner"].map(owner_baseline)

    cats = settings.renewal_categories
    emoji = {name: settings.emoji_for(name) for name in cats}
    risky = set(at_risk_categories(settings))
    likely = settings.upsell_index.likely.name

    # What changed since each owner's baseline: one book-wide `queries.movements` per
    # distinct baseline (usually one), attached to the accounts of the owners using it.
    frame = cur.assign(prev_ri=None, worsened=False, moved=False, new_upsell=False)
    for base in sorted(b for b in cur["baseline"].dropna().unique()):
        rows = queries.movements(store, base, period)
        if not rows:
            continue
        changed = pd.DataFrame(rows, columns=list(rows[0]))
        renewal = [movement_direction(settings, b, a) for b, a in zip(
            *_lists(changed, "from_renewal_index", "to_renewal_index"), strict=True)]
        upsell = [movement_direction(settings, b, a, "upsell") for b, a in zip(
            *_lists(changed, "from_upsell_index", "to_upsell_index"), strict=True)]
        changed = changed.assign(
            base=base, dir_renewal=renewal, dir_upsell=upsell
        ).set_index("account_id")
        mine = (frame["baseline"] == base) & frame["account_id"].isin(changed.index)
        ids = frame.loc[mine, "account_id"]
        dir_r = changed["dir_renewal"].reindex(ids).to_numpy()
        frame.loc[mine, "prev_ri"] = changed["from_renewal_index"].reindex(ids).to_numpy()
        frame.loc[mine, "moved"] = pd.notna(dir_r)
        frame.loc[mine, "worsened"] = dir_r == "down"
        frame.loc[mine, "new_upsell"] = changed["dir_upsell"].reindex(ids).to_numpy() == "up"
    frame["moved"] = frame["moved"].astype(bool)
    frame["worsened"] = frame["worsened"].astype(bool)
    frame["risky"] = frame["ri"].isin(risky)
    frame["likely"] = frame["ui"] == likely
    frame["arr_risky"] = frame["arr"].where(frame["risky"], 0.0)
    frame["arr_likely"] = frame["arr"].where(frame["likely"], 0.0)

    totals = frame.groupby("owner", sort=True).agg(
        accounts=("account_id", "size"), arr=("arr", "sum"), at_risk=("risky", "sum"),
        arr_at_risk=("arr_risky", "sum"), upsells=("likely", "sum"),
        upsell_arr=("arr_likely", "sum"), email=("owner_email", "first"),
        slack_id=("owner_slack_id", "first"), baseline=("baseline", "first"))
    by_cat = frame.groupby(["owner", "ri"]).agg(n=("account_id", "size"), arr=("arr", "sum"))
    cat_counts: dict[str, dict[str, tuple[int, float]]] = {}
    by_cat = by_cat.reset_index()
    for owner, ri, n, arr in zip(*_lists(by_cat, "owner", "ri", "n", "arr"), strict=True):
        cat_counts.setdefault(owner, {})[ri] = (int(n), float(arr))

    moved = frame[frame["moved"]].sort_values(
        ["owner", "worsened", "arr", "name"], ascending=[True, False, False, True])
    movements: dict[str, list[Movement]] = {}
    for owner, acc, name, arr, pri, ri, worse in zip(*_lists(
            moved, "owner", "account_id", "name", "arr", "prev_ri", "ri", "worsened"), strict=True):
        movements.setdefault(owner, []).append(Movement(
            acc, name, float(arr), pri, ri, emoji[pri], emoji[ri], bool(worse)))

    ups = frame[frame["likely"]].sort_values(["owner", "arr", "name"], ascending=[True, False, True])
    ups = ups.groupby("owner", sort=False).head(TOP_UPSELLS)
    top_ups: dict[str, list[Upsell]] = {}
    for owner, acc, name, arr, new in zip(*_lists(
            ups, "owner", "account_id", "name", "arr", "new_upsell"), strict=True):
        top_ups.setdefault(owner, []).append(Upsell(acc, name, float(arr), bool(new)))

    out = []
    for owner, t in zip(totals.index.tolist(), totals.itertuples(index=False), strict=True):
        counts = cat_counts.get(owner, {})
        out.append(Pulse(
            owner=owner,
            owner_email=t.email if isinstance(t.email, str) else None,
            owner_slack_id=_first_slack_id(t.slack_id),
            period=period,
            baseline=t.baseline if isinstance(t.baseline, str) else None,
            accounts=int(t.accounts), arr=float(t.arr),
            categories=[CategoryCount(c, emoji[c], *counts.get(c, (0, 0.0))) for c in cats],
            arr_at_risk=float(t.arr_at_risk), at_risk_accounts=int(t.at_risk),
            upsell_name=likely, upsell_emoji=settings.upsell_index.likely.emoji,
            upsell_accounts=int(t.upsells), upsell_arr=float(t.upsell_arr),
            top_upsells=top_ups.get(owner, []),
            movements=movements.get(owner, []),
        ))
    return out


def _lists(frame: pd.DataFrame, *columns: str) -> list[list[Any]]:
    """Columns as Python lists (iterating Arrow-backed pandas columns item by item is slow)."""
    return [frame[c].tolist() for c in columns]


def _first_slack_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def to_send(pulses: Iterable[Pulse], settings: Settings) -> list[Pulse]:
    """The pulses that become messages (steady ones only if pulse.send_when_steady)."""
    return [p for p in pulses if p.movements or settings.pulse.send_when_steady]


# -- Slack delivery (shared with the channel summary) -------------------------------------------


@dataclass
class Outcome:
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


_AMBIGUOUS = (TimeoutError, URLError, ConnectionError, OSError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        return f"Slack answered {status}: {exc.response.get('error', 'error')}"
    return f"{type(exc).__name__}: {exc}"


def deliver(store: Store, client: WebClient, message: Message, *, key: str, kind: str,
            recipient: str, period: str, channel: str, clock: Clock = system_clock,
            sleep: Sleep = time.sleep) -> Outcome:
    """Post `message` to `channel` at most once per `key`; see the module docstring."""
    if ledger.claim(store, key, kind=kind, recipient=recipient, period=period,
                    channel=channel, now=clock()) is None:
        return Outcome(key, recipient, "skipped")
    error = "not attempted"
    command = "pulse" if kind == KIND else "summary"
    for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
        ambiguous = server_error = False
        try:
            resp = client.chat_postMessage(channel=channel, text=message.text,
                                           blocks=message.blocks, metadata=_metadata(key),
                                           unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            error = _describe(exc)
            status = getattr(exc.response, "status_code", 200)
            if status != 429 and status < 500:   # Slack refused it: retrying will not help
                ledger.mark_failed(store, key, error, now=clock())
                return Outcome(key, recipient, "failed", error, channel)
            server_error = status >= 500
        except _AMBIGUOUS as exc:
            error, ambiguous = _describe(exc), True
        else:
            ts = str(resp.get("ts"))
            got = resp.get("channel") or channel
            ledger.mark_sent(store, key, channel=got, ts=ts, now=clock())
            return Outcome(key, recipient, "sent", channel=got, ts=ts)
        if ambiguous or server_error:
            try:
                ts = find_in_history(client, channel, key)
            except (SlackApiError, *_AMBIGUOUS) as exc:
                if ambiguous:   # a timeout: it may well have been posted; never guess
                    note = (f"unknown whether delivered ({error}); history unreadable "
                            f"({_describe(exc)}): not re-sent; if it did not arrive: "
                            f"outcomes {command} --release {key}")
                    ledger.note_error(store, key, note, now=clock())
                    return Outcome(key, recipient, "unknown", note, channel)
                ts = None       # a 5xx means Slack did not post it (its SDK retries those too)
            if ts is not None:
                ledger.mark_sent(store, key, channel=channel, ts=ts, now=clock())
                return Outcome(key, recipient, "sent", channel=channel, ts=ts)
        log.warning("delivery %s attempt %d failed: %s", key, attempt, error)
        if attempt < MAX_SEND_ATTEMPTS:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            ledger.reclaim(store, key, now=clock())
    ledger.mark_failed(store, key, error, now=clock())
    return Outcome(key, recipient, "failed", error, channel)


def settle_stuck(store: Store, client: WebClient | None, kind: str, *, command: str = "pulse",
                 clock: Clock = system_clock, sleep: Sleep = time.sleep) -> list[Outcome]:
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
            out.append(Outcome(row.key, row.recipient, "unknown", note, row.channel))
            continue
        wait = ledger.parse_stamp(row.updated_at) + STUCK_GRACE - clock()
        if wait.total_seconds() > 0:
            sleep(wait.total_seconds())
        try:
            ts = find_in_history(client, row.channel, row.key)
        except (SlackApiError, *_AMBIGUOUS) as exc:
            note = (f"interrupted mid-send; history unreadable ({_describe(exc)}): not re-sent; "
                    f"{hint}")
            ledger.note_error(store, row.key, note, now=clock())
            out.append(Outcome(row.key, row.recipient, "unknown", note, row.channel))
            continue
        if ts is not None:
            ledger.mark_sent(store, row.key, channel=row.channel, ts=ts, now=clock())
            out.append(Outcome(row.key, row.recipient, "sent", channel=row.channel, ts=ts,
                               report=False))
        else:
            ledger.release_unsent(store, row.key, "interrupted before Slack had it; resending",
                                  now=clock())
            out.append(Outcome(row.key, row.recipient, "released", channel=row.channel))
    return out


def report_to_admins(client: WebClient | None, settings: Settings, message: Message) -> bool:
    """Post to slack.admin_channel; a failure here is logged, never raised."""
    channel = settings.slack.admin_channel
    if client is None or not channel:
        log.warning("no admin channel configured; would have said: %s", message.text)
        return False
    try:
        client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    except (SlackApiError, *_AMBIGUOUS) as exc:
        log.error("could not report to the admins channel %s: %s", channel, _describe(exc))
        return False
    return True


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
class PulseRun:
    period: str | None
    outcomes: list[Outcome] = field(default_factory=list)
    steady_not_sent: int = 0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("failed", "unknown")]

    @property
    def to_report(self) -> list[Outcome]:
        return [o for o in self.problems if o.report]

    def detail(self) -> dict[str, Any]:
        return {"period": self.period, "sent": self.count("sent"), "failed": self.count("failed"),
                "unknown": self.count("unknown"), "skipped": self.count("skipped"),
                "steady_not_sent": self.steady_not_sent}


@dataclass
class Planned:
    pulse: Pulse
    message: Message


def plan_pulses(store: Store, settings: Settings) -> list[Planned]:
    """The messages a run would send now (no Slack calls): for `--dry-run` and the bench."""
    return [Planned(p, pulse_message(p)) for p in to_send(build_pulses(store, settings), settings)]


def send_pulses(store: Store, settings: Settings, client: WebClient, *,
                clock: Clock = system_clock, sleep: Sleep = time.sleep) -> PulseRun:
    """Send every owner's pulse for the latest period that has not been sent yet.

    Holds the `job:pulse` lock for the run (raises LockHeld if another process has it).
    """
    with JobLock(store, LOCK, clock=clock) as lock:
        run_id = ledger.start_run(store, JOB, now=clock())
        run = PulseRun(period=None)
        try:
            _send_all(store, settings, client, run, lock, clock, sleep)
        except BaseException as exc:
            ledger.finish_run(store, run_id, "error", {**run.detail(), "error": _describe(exc)},
                              now=clock())
            raise
        status = "ok" if not run.problems else "partial"
        ledger.finish_run(store, run_id, status, run.detail(), now=clock())
        return run


def _send_all(store: Store, settings: Settings, client: WebClient, run: PulseRun,
              lock: JobLock, clock: Clock, sleep: Sleep) -> None:
    stuck = settle_stuck(store, client, KIND, clock=clock, sleep=sleep)
    unknown = [o for o in stuck if o.status == "unknown"]
    pulses = build_pulses(store, settings)
    run.period = pulses[0].period if pulses else None
    sendable = to_send(pulses, settings)
    run.steady_not_sent = len(pulses) - len(sendable)
    in_doubt = {o.key for o in unknown}
    run.outcomes.extend(unknown)
    emails = sorted({p.owner_email for p in sendable if p.owner_email and not p.owner_slack_id})
    cache = ledger.cached_users(store, emails)
    for i, pulse in enumerate(sendable, 1):
        if i % LOCK_RENEW_EVERY == 0:
            lock.renew()
        if pulse.key in in_doubt:
            continue
        run.outcomes.append(_send_one(store, settings, client, pulse, cache, clock, sleep))
    problems = run.to_report
    if problems:
        message = admin_report_message(
            "Customer Owner Pulse", run.period or "-", run.count("sent"),
            [{"recipient": o.recipient, "error": o.error or o.status} for o in problems])
        report_to_admins(client, settings, message)


def _send_one(store: Store, settings: Settings, client: WebClient, pulse: Pulse,
              cache: dict[str, ledger.CachedUser], clock: Clock, sleep: Sleep) -> Outcome:
    now = clock()
    try:
        user_id = resolve_owner(store, client, pulse, cache=cache, now=now)
        channel = _dm_channel(store, client, pulse.owner, user_id)
    except (OwnerNotFound, SlackApiError, *_AMBIGUOUS) as exc:
        error = str(exc) if isinstance(exc, OwnerNotFound) else _describe(exc)
        attempts = ledger.count_failure(store, pulse.key, kind=KIND, recipient=pulse.owner,
                                        period=pulse.period, error=error, now=now)
        # The admins hear about an owner missing from Slack once per period, not every run.
        return Outcome(pulse.key, pulse.owner, "failed", error, report=attempts == 1)
    outcome = deliver(store, client, pulse_message(pulse), key=pulse.key, kind=KIND,
                      recipient=pulse.owner, period=pulse.period, channel=channel,
                      clock=clock, sleep=sleep)
    if outcome.status == "sent" and outcome.ts and pulse.movements:
        # So a reaction on the pulse is traced to exactly the accounts it was about.
        record_post(store, outcome.channel or channel, outcome.ts, KIND,
                    [m.account_id for m in pulse.movements])
    return outcome


def dry_run_lines(planned: Iterable[Planned]) -> Iterable[str]:
    """What `outcomes pulse --dry-run` prints: to whom, then the text."""
    for item in planned:
        p = item.pulse
        who = " / ".join(x for x in (p.owner_email, p.owner_slack_id) if x)
        n = len(p.movements)
        yield (f"--- To {who} ({n} movement{'' if n == 1 else 's'}, {p.accounts} accounts, "
               f"{p.period})")
        yield pulse_text(p)
