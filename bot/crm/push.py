"""Push the latest scores to a CRM: only what changed since its last acknowledged push.

    plan = plan_push(store, crm, "hubspot")     # what would be sent
    report = push(store, crm, "hubspot", connection("hubspot"))

The values are those of the latest score of every current account (the export's
rows, `scoring.persist.export_frame`): health score (0-100, whole), Renewal Index
and Upsell Index (category names), churn probability (0-1, three decimals). Each
goes to the CRM field app.yaml names (`crm.<destination>.fields`); the account is
found by the value of `crm.key_column` in its latest snapshot. A value equal to
the one the ledger (`storage.crm_ledger`) holds for that destination, account and
field is not sent. After each batch, what the CRM acknowledged is recorded at
once; what it refused stays unrecorded and is sent on the next run; a whole
request that fails (rate limit after backing off, a refused token) stops the push.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.crm.clients import BatchResult, CrmError, Record, Sleep, make_client
from bot.crm.settings import Connection, CrmSettings
from storage import crm_ledger
from storage.columns import normalize_column
from storage.deliveries import Clock, system_clock
from storage.store import METRIC_PREFIX, Store

log = logging.getLogger(__name__)

MAX_FAILURES_SHOWN = 10


class NothingToPush(Exception):
    """No scores yet (run `outcomes score`), or no field is configured for the destination."""


@dataclass(frozen=True)
class Change:
    account_id: str
    name: str
    key: str                               # the CRM's id for the account
    values: dict[str, Any]                 # CRM field -> new value
    before: dict[str, Any]                 # CRM field -> last pushed value (None: never)

    def record(self) -> Record:
        return Record(self.key, self.values)


@dataclass
class PushPlan:
    destination: str
    as_of: str | None
    accounts: int                          # current accounts with a score
    changes: list[Change] = field(default_factory=list)
    without_key: list[str] = field(default_factory=list)   # account ids
    duplicate_keys: list[str] = field(default_factory=list)

    @property
    def field_changes(self) -> int:
        return sum(len(c.values) for c in self.changes)


@dataclass
class PushReport:
    plan: PushPlan
    written: int = 0                       # accounts acknowledged
    fields_written: int = 0
    failed: dict[str, str] = field(default_factory=dict)   # account_id -> why
    not_sent: int = 0                      # accounts left when the push stopped
    stopped: str | None = None             # why the push stopped early
    requests: int = 0
    waited_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None

    def detail(self) -> dict[str, Any]:
        return {"destination": self.plan.destination, "changed": len(self.plan.changes),
                "written": self.written, "failed": len(self.failed), "not_sent": self.not_sent,
                "stopped": self.stopped, "requests": self.requests}


# -- what to send ----------------------------------------------------------------------


def _value(name: str, raw: Any) -> Any:
    """A score value as the CRM gets it (None: nothing to send)."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if name == "health_score":
        return int(round(float(raw)))
    if name == "churn_probability":
        return round(float(raw), 3)
    return str(raw)


def _keys(store: Store, key_column: str, account_ids: Sequence[str]) -> dict[str, str]:
    column = normalize_column(key_column)
    if column == "account_id":
        return {a: a for a in account_ids}
    stored = METRIC_PREFIX + column
    if stored not in store.snapshot_columns():
        raise NothingToPush(f"crm.key_column {key_column!r} is not a column of the stored data; "
                            "ingest it (e.g. hubspot_company_id) or use account_id")
    rows = store.conn.execute(
        f'SELECT s.account_id, s."{stored}" FROM snapshots s JOIN accounts a'
        " ON a.account_id = s.account_id AND s.as_of = a.last_as_of")
    out = {}
    for account_id, value in rows:
        if value is None:
            continue
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        if text.strip():
            out[account_id] = text.strip()
    return out


def plan_push(store: Store, crm: CrmSettings, destination: str, *,
              everything: bool = False) -> PushPlan:
    """What to send: the values that differ from the ledger (`everything`: all of them)."""
    from scoring.persist import export_frame

    fields = getattr(crm, destination).fields.mapping()
    if not fields:
        raise NothingToPush(f"no field is set under crm.{destination}.fields in app.yaml")
    frame = export_frame(store)
    if frame.empty:
        raise NothingToPush("no scores yet: run `outcomes score` first")
    ids = frame["account_id"].astype(str).tolist()
    keys = _keys(store, crm.key_column, ids)
    pushed = crm_ledger.pushed(store, destination)
    ledger = {} if everything else pushed
    plan = PushPlan(destination, str(frame["as_of"].max()), len(frame))
    seen: dict[str, str] = {}
    for row in frame.to_dict("records"):
        account_id = str(row["account_id"])
        key = keys.get(account_id)
        if key is None:
            plan.without_key.append(account_id)
            continue
        if key in seen:
            plan.duplicate_keys.append(account_id)
            continue
        seen[key] = account_id
        values, before = {}, {}
        for name, crm_field in fields.items():
            value = _value(name, row.get(name))
            if value is None:
                continue
            last = ledger.get((account_id, crm_field))
            if last == crm_ledger.encode(value):
                continue
            values[crm_field] = value
            known = pushed.get((account_id, crm_field))
            before[crm_field] = None if known is None else json.loads(known)
        if values:
            plan.changes.append(Change(account_id, str(row.get("name") or account_id), key,
                                       values, before))
    return plan


# -- sending ---------------------------------------------------------------------------


def _chunks(items: Sequence[Change], size: int) -> Iterator[Sequence[Change]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def push(
    store: Store, crm: CrmSettings, destination: str, conn: Connection, *,
    clock: Clock = system_clock, sleep: Sleep = time.sleep,
    progress: Callable[[int, int], None] | None = None, plan: PushPlan | None = None,
) -> PushReport:
    """Send the plan in batches; record what was acknowledged after each one.

    `progress(accounts_done, accounts_total)` follows the batches."""
    plan = plan or plan_push(store, crm, destination)
    report = PushReport(plan)
    if not plan.changes:
        return report
    done = 0
    with make_client(destination, conn, crm, sleep=sleep) as client:
        for batch in _chunks(plan.changes, client.max_batch):
            try:
                result: BatchResult = client.send([c.record() for c in batch])
            except CrmError as exc:
                report.stopped = str(exc)
                report.not_sent = len(plan.changes) - done
                break
            by_key = {c.key: c for c in batch}
            acknowledged = [by_key[k] for k in result.written if k in by_key]
            crm_ledger.record(store, destination, [(c.account_id, f, v) for c in acknowledged
                                                   for f, v in c.values.items()], now=clock())
            report.written += len(acknowledged)
            report.fields_written += sum(len(c.values) for c in acknowledged)
            for key, why in result.failed.items():
                if key in by_key:
                    report.failed[by_key[key].account_id] = why
            done += len(batch)
            if progress:
                progress(done, len(plan.changes))
        report.waited_seconds = sum(client.waited)
        report.requests = client.requests
    if report.failed:
        log.warning("%s push: %d accounts refused, e.g. %s", destination, len(report.failed),
                    next(iter(report.failed.items())))
    return report


# -- with the bookkeeping: lock, job run, log -----------------------------------------


def run_push(store: Store, settings: Any, destination: str, *, clock: Clock = system_clock,
             sleep: Sleep = time.sleep, progress: Callable[[int, int], None] | None = None,
             plan: PushPlan | None = None) -> PushReport:
    """`push` under the destination's job lock, recorded in job_runs as push:<destination>.

    `settings` is the app's Settings (crm, crm_secrets). Raises
    CrmNotConfigured, NothingToPush or LockHeld before anything is sent."""
    from bot.crm.settings import connection
    from storage import deliveries as ledger
    from storage.deliveries import JobLock

    conn = connection(destination, settings.crm_secrets)
    job = f"push:{destination}"
    with JobLock(store, f"job:{job}", clock=clock):
        run_id = ledger.start_run(store, job, now=clock())
        try:
            report = push(store, settings.crm, destination, conn,
                          clock=clock, sleep=sleep, progress=progress, plan=plan)
        except BaseException as exc:
            ledger.finish_run(store, run_id, "error", {"error": repr(exc)}, now=clock())
            raise
        ledger.finish_run(store, run_id, "ok" if report.ok else "partial", report.detail(),
                          now=clock())
    return report


def push_after_scoring(store: Store, settings: Any) -> list[str]:
    """Push to each destination of `crm.push_after_scoring`; one line per destination.

    Never raises: a scoring run is done whatever the CRM says (the next one retries)."""
    lines = []
    for destination in settings.crm.push_after_scoring:
        try:
            report = run_push(store, settings, destination)
        except Exception as exc:   # noqa: BLE001  (reported, and retried by the next run)
            log.warning("push to %s after scoring failed: %s", destination, exc)
            lines.append(f"{destination}: not pushed: {exc}")
            continue
        lines.append(describe(report))
    return lines


def describe(report: PushReport) -> str:
    plan = report.plan
    head = (f"{plan.destination}: {report.written:,} of {len(plan.changes):,} changed accounts "
            f"written ({report.fields_written:,} fields, {report.requests} requests"
            + (f", waited {report.waited_seconds:.0f} s for rate limits" if report.waited_seconds else "")
            + ")")
    if not plan.changes:
        head = f"{plan.destination}: nothing changed since the last push ({plan.accounts:,} accounts)."
    lines = [head]
    if report.failed:
        lines.append(f"  {len(report.failed):,} refused (sent again next run):")
        for account_id, why in list(report.failed.items())[:MAX_FAILURES_SHOWN]:
            lines.append(f"    {account_id}: {why}")
        if len(report.failed) > MAX_FAILURES_SHOWN:
            lines.append(f"    ... and {len(report.failed) - MAX_FAILURES_SHOWN:,} more")
    if report.stopped:
        lines.append(f"  stopped: {report.stopped}; {report.not_sent:,} accounts wait for the next run")
    lines.extend(_plan_notes(plan))
    return "\n".join(lines)


def _plan_notes(plan: PushPlan) -> list[str]:
    notes = []
    if plan.without_key:
        notes.append(f"  {len(plan.without_key):,} accounts have no CRM key (crm.key_column) and "
                     f"are not pushed, e.g. {', '.join(plan.without_key[:3])}")
    if plan.duplicate_keys:
        notes.append(f"  {len(plan.duplicate_keys):,} accounts share a CRM key with another and "
                     f"are not pushed, e.g. {', '.join(plan.duplicate_keys[:3])}")
    return notes


def describe_plan(plan: PushPlan, show: int) -> str:
    """The dry run: what would change in the CRM, field by field."""
    if not plan.changes:
        lines = [f"{plan.destination} (dry run): nothing changed since the last push "
                 f"({plan.accounts:,} accounts, scores as of {plan.as_of})."]
    else:
        lines = [f"{plan.destination} (dry run): {len(plan.changes):,} of {plan.accounts:,} accounts "
                 f"would change ({plan.field_changes:,} fields; scores as of {plan.as_of}):"]
        listed = plan.changes if show <= 0 else plan.changes[:show]
        for change in listed:
            parts = [f"{f} {_shown(change.before.get(f))} -> {_shown(v)}" for f, v in change.values.items()]
            who = change.name if change.key == change.account_id else f"{change.name}, CRM key {change.key}"
            lines.append(f"  {change.account_id} ({who}): " + "; ".join(parts))
        if len(listed) < len(plan.changes):
            lines.append(f"  ... and {len(plan.changes) - len(listed):,} more (--show 0 lists all)")
    lines.extend(_plan_notes(plan))
    lines.append("Nothing was sent.")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return "(never pushed)" if value is None else json.dumps(value, ensure_ascii=False)
