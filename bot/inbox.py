"""The watched inbox folder: new snapshot files are ingested and scored on a schedule.

`inbox.path` in app.yaml names the folder. Each CSV / Parquet file directly in it
is ingested whole (`storage.ingest.ingest_file`), then moved to `processed/`, or
to `rejected/` with `<file>.error.txt` beside it saying what is wrong. When
anything new was stored, the book is rescored (`scoring.pipeline.score_book`).
The admins channel hears what happened.

Files modified in the last `SETTLE_SECONDS` are left for the next run: they may
still be being copied in. Rerunning after a crash is safe: ingest recognises a
file it already stored (by content hash) and changes nothing, and the file is
then moved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.config import Settings
from bot.delivery import recorded_run, report_to_admins
from messages.pulse import inbox_report_message
from storage.deliveries import Clock, system_clock
from storage.ingest import IngestError, ingest_file
from storage.store import Store

log = logging.getLogger(__name__)

JOB = "inbox"
SUFFIXES = frozenset({".csv", ".parquet", ".pq"})
SETTLE_SECONDS = 60
LOCK_TTL = timedelta(hours=2)
PROCESSED, REJECTED = "processed", "rejected"

Scorer = Callable[[Store, Settings], Any]


class InboxNotConfigured(Exception):
    """inbox.path is not set in app.yaml (or the folder does not exist)."""


@dataclass
class FileResult:
    name: str
    status: str          # processed / rejected
    detail: str
    moved_to: Path


@dataclass
class InboxRun:
    folder: str
    results: list[FileResult] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)   # too fresh, next run
    scoring: str | None = None

    def named(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    def status(self) -> str:
        return "partial" if self.named(REJECTED) else "ok"

    def detail(self) -> dict[str, Any]:
        return {"processed": [r.name for r in self.named(PROCESSED)],
                "rejected": [r.name for r in self.named(REJECTED)],
                "waiting": self.waiting, "scoring": self.scoring}


def inbox_folder(settings: Settings) -> Path:
    if not settings.inbox.path:
        raise InboxNotConfigured("no inbox folder: set inbox.path in app.yaml")
    folder = Path(settings.inbox.path).expanduser()
    if not folder.is_dir():
        raise InboxNotConfigured(f"inbox folder {folder} does not exist")
    return folder


def pending_files(folder: Path, now: datetime) -> tuple[list[Path], list[Path]]:
    """(ready, still settling) snapshot files directly in `folder`, oldest name first."""
    ready, fresh = [], []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in SUFFIXES:
            continue
        age = now.timestamp() - path.stat().st_mtime
        (ready if age >= SETTLE_SECONDS else fresh).append(path)
    return ready, fresh


def _move(path: Path, folder: Path, now: datetime) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{now.strftime('%Y%m%dT%H%M%S')}{path.suffix}"
    return path.replace(target)


def _score_book(store: Store, settings: Settings) -> Any:
    from scoring.pipeline import score_book

    return score_book(store, settings.for_scoring)


def process_inbox(store: Store, settings: Settings, client: WebClient | None = None, *,
                  clock: Clock = system_clock, scorer: Scorer | None = None) -> InboxRun:
    """Ingest, move and (when something new arrived) rescore; tell the admins."""
    folder = inbox_folder(settings)
    # Rescoring a large book can take a while: a long lock (a dead holder's is taken over).
    run = InboxRun(folder=str(folder))
    with recorded_run(store, JOB, run, clock=clock, ttl=LOCK_TTL):
        _process(store, settings, folder, run, clock, scorer)
    if run.results:
        report_to_admins(client, settings, inbox_report_message(
            str(folder), run.named(PROCESSED), run.named(REJECTED), run.scoring))
    return run


def _process(store: Store, settings: Settings, folder: Path, run: InboxRun, clock: Clock,
             scorer: Scorer | None) -> None:
    now = clock()
    ready, fresh = pending_files(folder, now)
    run.waiting = [p.name for p in fresh]
    stored_new = False
    for path in ready:
        if not path.exists():   # taken by someone else meanwhile
            continue
        try:
            report = ingest_file(store, path, column_map=settings.columns,
                                 max_categories=settings.scoring.max_text_categories)
        except IngestError as exc:
            run.results.append(_reject(path, folder, str(exc), now))
            continue
        except Exception as exc:
            log.exception("unexpected error ingesting %s", path)
            run.results.append(_reject(path, folder, f"unexpected error: {type(exc).__name__}: "
                                                     f"{exc} (details in the app log)", now))
            continue
        stored_new = stored_new or not report.unchanged
        detail = ("already ingested, nothing changed" if report.unchanged else
                  f"{report.rows:,} rows, {report.accounts:,} accounts, "
                  f"{report.dates[0]}{'' if len(report.dates) == 1 else ' to ' + report.dates[-1]}")
        moved = _move(path, folder / PROCESSED, now)
        run.results.append(FileResult(path.name, PROCESSED, detail, moved))
    if stored_new:
        run.scoring = _score(store, settings, scorer)
        if settings.crm.push_after_scoring:   # docs/crm.md
            from bot.crm.push import push_after_scoring

            run.scoring = "\n".join([run.scoring, *push_after_scoring(store, settings)])


def _reject(path: Path, folder: Path, error: str, now: datetime) -> FileResult:
    moved = _move(path, folder / REJECTED, now)
    moved.with_name(moved.name + ".error.txt").write_text(error + "\n", encoding="utf-8")
    return FileResult(path.name, REJECTED, error, moved)


def _score(store: Store, settings: Settings, scorer: Scorer | None) -> str:
    scorer = scorer or _score_book
    try:
        scorer(store, settings)
    except Exception as exc:
        log.exception("rescoring after the inbox failed")
        return f"Rescoring failed: {type(exc).__name__}: {exc} (details in the app log)."
    return "Rescored the book with the new snapshots."
