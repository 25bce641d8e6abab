"""Scheduled SQL sources: each source in app.yaml with a `schedule` is the job `source:<name>`.

A run syncs the source (`storage.sources.sync_source`: the query, bound to the
last successful sync's time, through the same validation as a file), rescores
the book when new rows were stored, then pushes to the CRMs of
`crm.push_after_scoring`. The admins channel hears of new data and of every
rejection; a run that brought nothing new stays quiet. Runs are recorded in
`job_runs` (`outcomes jobs`) and hold the lock `job:source:<name>`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from bot.config import Settings
from bot.delivery import recorded_run, report_to_admins
from storage.deliveries import Clock, system_clock
from storage.store import Store

log = logging.getLogger(__name__)

PREFIX = "source:"
LOCK_TTL = timedelta(hours=2)


class SourceNotConfigured(Exception):
    """No source of that name in app.yaml 'sources'."""


@dataclass
class SourceRun:
    name: str
    outcome: str = "ok"               # ok / rejected
    rows: int = 0
    stored: bool = False
    text: str = ""
    scoring: str | None = None
    pushes: list[str] = field(default_factory=list)

    def status(self) -> str:
        return self.outcome

    def detail(self) -> dict[str, Any]:
        return {"source": self.name, "rows": self.rows, "stored": self.stored,
                "detail": self.text[:500], "scoring": self.scoring, "pushes": self.pushes}


def job_name(source: str) -> str:
    return PREFIX + source


def _rescore(store: Store, settings: Settings) -> str:
    from scoring.pipeline import score_book

    try:
        score_book(store, settings.for_scoring)
    except Exception as exc:
        log.exception("rescoring after a SQL source failed")
        return f"Rescoring failed: {type(exc).__name__}: {exc} (details in the app log)."
    return "Rescored the book with the new snapshots."


def sync_scheduled_source(store: Store, settings: Settings, name: str,
                          client: WebClient | None = None, *, clock: Clock = system_clock,
                          rescore: Any = None) -> SourceRun:
    """One run of the job `source:<name>` (see the module docstring)."""
    from bot.crm.push import push_after_scoring
    from storage.errors import IngestError, SqlSourceError
    from storage.sources import sync_source

    if name not in settings.sources:
        raise SourceNotConfigured(f"no source {name!r} in app.yaml 'sources'")
    source = settings.sources[name].source(name)
    run = SourceRun(name)
    with recorded_run(store, job_name(name), run, clock=clock, ttl=LOCK_TTL):
        try:
            report = sync_source(store, source, column_map=settings.columns, env=os.environ,
                                 max_categories=settings.scoring.max_text_categories, clock=clock)
        except (IngestError, SqlSourceError) as exc:
            run.outcome, run.text = "rejected", str(exc)
        else:
            run.rows = report.rows_read
            ingest = report.ingest
            run.stored = ingest is not None and not ingest.unchanged
            if ingest is None:
                run.text = "no new rows"
            elif ingest.unchanged:
                run.text = f"{report.rows_read:,} rows, already ingested, nothing changed"
            else:
                span = ingest.dates[0] if len(ingest.dates) == 1 else f"{ingest.dates[0]} to {ingest.dates[-1]}"
                run.text = f"{ingest.rows:,} rows stored, {ingest.accounts:,} accounts, {span}"
            if run.stored:
                run.scoring = (rescore or _rescore)(store, settings)
                if settings.crm.push_after_scoring:
                    run.pushes = push_after_scoring(store, settings)
    if run.outcome == "rejected" or run.stored:
        from messages.sources import source_report_message

        report_to_admins(client, settings, source_report_message(
            name, rejected=run.outcome == "rejected", detail=run.text, scoring=run.scoring,
            pushes=run.pushes))
    return run
