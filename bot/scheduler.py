"""The proactive jobs on a schedule: APScheduler 3.x inside `outcomes serve` / `outcomes run`.

    scheduler = start_scheduler(settings, store, client)   # after create_app(...)
    ...
    scheduler.shutdown(wait=False)

Jobs (cron fields and time zone from `schedule.*` in app.yaml):
  pulse    weekly Customer Owner Pulse DMs                  (bot.pulse.send.send_pulses)
  summary  weekly channel summary (+ email if SMTP is set)  (bot.summary_job.send_summary)
  inbox    ingest + rescore new files of inbox.path         (bot.inbox.process_inbox)
  source:NAME  each SQL source with a schedule: sync, rescore, push (bot.sources_job)

Every app process may run a scheduler: each job takes its store lock
(`job:<name>`) for the whole run and the delivery ledger skips what was sent,
so two processes firing at 09:00 send everything once. A job never raises into
the scheduler: expected conditions (another process has the lock, nothing
scored yet) are logged at INFO, anything else with its traceback; every run is
recorded in `job_runs` (see `outcomes jobs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient

from bot.config import CronSettings, Settings
from storage import deliveries as ledger
from storage.deliveries import Clock, LockHeld, system_clock
from storage.store import Store

log = logging.getLogger(__name__)

JOBS = ("pulse", "summary", "inbox")
MISFIRE_GRACE_SECONDS = 6 * 3600   # the app was down at the planned time: still run within 6 h


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    enabled: bool
    why_not: str | None
    cron: CronSettings
    trigger: CronTrigger


def _trigger(cron: CronSettings, timezone: str) -> CronTrigger:
    fields = {k: v for k, v in cron.model_dump().items() if v is not None}
    return CronTrigger(timezone=ZoneInfo(timezone), **fields)


def job_specs(settings: Settings) -> list[JobSpec]:
    from bot.email import email_configured

    tz = settings.schedule.timezone
    summary_on = bool(settings.slack.summary_channel) or email_configured(settings)
    sources = [JobSpec(f"source:{name}", f"SQL source {name!r}: ingest, rescore", True, None,
                       spec.schedule, _trigger(spec.schedule, tz))
               for name, spec in settings.sources.items() if spec.schedule is not None]
    return [
        JobSpec("pulse", "Customer Owner Pulse (DMs)", True, None,
                settings.schedule.pulse, _trigger(settings.schedule.pulse, tz)),
        JobSpec("summary", "Channel summary and summary email", summary_on,
                None if summary_on else "set slack.summary_channel or smtp.*",
                settings.schedule.summary, _trigger(settings.schedule.summary, tz)),
        JobSpec("inbox", "Ingest and score the inbox folder", bool(settings.inbox.path),
                None if settings.inbox.path else "set inbox.path",
                settings.schedule.inbox, _trigger(settings.schedule.inbox, tz)),
        *sources,
    ]


def describe_cron(cron: CronSettings) -> str:
    """'mon 09:00' / 'daily 06:00' / the raw fields when they are not that simple."""
    day = cron.day_of_week or (f"day {cron.day}" if cron.day is not None else "daily")
    hour, minute = cron.hour, cron.minute if cron.minute is not None else 0
    if isinstance(hour, int) and isinstance(minute, int):
        return f"{day} {hour:02d}:{minute:02d}"
    return f"{day} hour={hour} minute={minute}"


def next_run(spec: JobSpec, now: datetime) -> datetime | None:
    return spec.trigger.get_next_fire_time(None, now)


def run_job(name: str, settings: Settings, store: Store, client: WebClient | None,
            clock: Clock = system_clock) -> Any:
    """Run one job now as the scheduler does: never raises (see the module docstring)."""
    from bot.inbox import InboxNotConfigured, process_inbox
    from bot.pulse.build import NoScores
    from bot.pulse.send import send_pulses
    from bot.services import NotScoredYet
    from bot.sources_job import PREFIX, sync_scheduled_source
    from bot.summary_job import send_summary

    actions: dict[str, Callable[[], Any]] = {
        "pulse": lambda: send_pulses(store, settings, client, clock=clock),
        "summary": lambda: send_summary(store, settings, client, clock=clock),
        "inbox": lambda: process_inbox(store, settings, client, clock=clock),
    }
    if name.startswith(PREFIX):
        source = name[len(PREFIX):]
        actions[name] = lambda: sync_scheduled_source(store, settings, source, client, clock=clock)
    try:
        result = actions[name]()
    except LockHeld as exc:
        log.info("job %s skipped: another process is running it (%s)", name, exc)
        return None
    except (NoScores, NotScoredYet, InboxNotConfigured) as exc:
        log.info("job %s: nothing to do: %s", name, exc)
        return None
    except Exception:
        log.exception("job %s failed", name)
        return None
    log.info("job %s done: %s", name, getattr(result, "detail", lambda: result)())
    return result


def missed_run(spec: JobSpec, store: Store, now: datetime) -> datetime | None:
    """The planned time within the last MISFIRE_GRACE_SECONDS that no run followed, if any.

    The scheduler keeps its jobs in memory: an app (re)started at 09:05 would
    otherwise skip Monday's 09:00 pulse until next week.
    """
    planned = spec.trigger.get_next_fire_time(None, now - timedelta(seconds=MISFIRE_GRACE_SECONDS))
    if planned is None or planned > now:
        return None
    last = ledger.last_runs(store).get(spec.name)
    if last is not None and ledger.parse_stamp(last["started_at"]) >= planned:
        return None
    return planned


def build_scheduler(settings: Settings, store: Store, client: WebClient | None,
                    clock: Clock | None = None) -> BackgroundScheduler:
    """The scheduler with its jobs, not started (tests inspect it).

    A job whose planned time passed in the last few hours without a run (the app was
    down) runs at once; the ledger makes that safe.
    """
    clock = clock or system_clock
    now = clock()
    scheduler = BackgroundScheduler(
        timezone=ZoneInfo(settings.schedule.timezone),
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    for spec in job_specs(settings):
        if not spec.enabled:
            log.info("job %s not scheduled: %s", spec.name, spec.why_not)
            continue
        catch_up = missed_run(spec, store, now)
        extra = {"next_run_time": now} if catch_up else {}
        if catch_up:
            log.info("job %s missed its %s run: running it now", spec.name, catch_up)
        scheduler.add_job(run_job, spec.trigger, id=spec.name, name=spec.description,
                          args=(spec.name, settings, store, client, clock),
                          replace_existing=True, **extra)
    return scheduler


def start_scheduler(settings: Settings, store: Store, client: WebClient | None,
                    clock: Clock | None = None) -> BackgroundScheduler:
    """Start the jobs in background threads; call `.shutdown(wait=False)` on exit."""
    scheduler = build_scheduler(settings, store, client, clock)
    scheduler.start()
    for job in scheduler.get_jobs():
        log.info("job %s: next run %s", job.id, job.next_run_time)
    return scheduler


def start_for_app(settings: Settings, store: Store,
                  on_close: list[Callable[[], Any]] | None = None) -> BackgroundScheduler:
    """For `outcomes serve` / `outcomes run`: start the jobs with their own WebClient
    (`make_client`: retries 429 / 5xx), and stop them when the command closes."""
    from bot.slack_client import make_client

    scheduler = start_scheduler(settings, store, make_client(settings))
    if on_close is not None:
        on_close.append(lambda: scheduler.shutdown(wait=False))
    return scheduler
