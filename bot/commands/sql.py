"""`outcomes ingest --sql ... --url ...` and `outcomes ingest --source NAME`: SQL sources.

The work is `storage.sources`; this module picks the sources, shows progress and
the preview, and words the outcome.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import click

from bot.commands.context import CliContext

if TYPE_CHECKING:
    from storage.sources import Preview, SqlSource, SyncReport

PREVIEW_CELL = 18
PREVIEW_COLUMNS = 8


def pick_sources(state: CliContext, sql: str | None, url: str | None, password_env: str | None,
                 names: tuple[str, ...]) -> list[SqlSource]:
    """The ad-hoc query, or the named sources of app.yaml ('all': every one)."""
    from storage.sources import SqlSource

    if sql is not None:
        if not url:
            raise click.UsageError("--sql needs --url (a SQLAlchemy URL, e.g. "
                                   "postgresql+psycopg://reader@db:5432/analytics)")
        return [SqlSource(None, url, sql, password_env)]
    configured = state.settings.sources
    if not configured:
        raise click.UsageError("no sources in app.yaml: add one under 'sources' "
                               "(see docs/sources.md), or use --sql QUERY --url URL")
    wanted = list(configured) if "all" in names else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in configured]
    if unknown:
        raise click.UsageError(f"no source {unknown[0]!r} in app.yaml; sources: "
                               f"{', '.join(configured)}")
    return [configured[n].source(n) for n in wanted]


def _sync_with_progress(state: CliContext, source: SqlSource, as_of: str | None) -> SyncReport:
    from storage.sources import sync_source

    settings = state.settings
    options: dict[str, Any] = dict(column_map=settings.columns, as_of=as_of,
                                   max_categories=settings.scoring.max_text_categories,
                                   env=os.environ)
    if not sys.stderr.isatty():
        return sync_source(state.store, source, **options)
    seen = {"reading": 0, "checking": 0}
    with ExitStack() as stack:
        bar = None

        def progress(phase: str, rows: int, total: int) -> None:
            nonlocal bar
            if phase in seen:
                seen[phase] += rows
                click.echo(f"\r{phase.capitalize()} {source.label}: {seen[phase]:,} rows   ",
                           nl=False, err=True)
                return
            if bar is None:
                click.echo(err=True)
                bar = stack.enter_context(click.progressbar(
                    length=total, label=f"Storing {source.label}", file=sys.stderr))
            bar.update(rows)

        report = sync_source(state.store, source, progress=progress, **options)
        if bar is None:
            click.echo(err=True)
        return report


def describe_sync(report: SyncReport, describe_ingest: Any) -> str:
    from storage.sources import NEVER

    since = ""
    if report.since is not None:
        since = (" (every row: first sync)" if report.since == NEVER
                 else f" (changed since the last sync, {report.since.isoformat()})")
    if report.ingest is None:
        return f"{report.source.label}: no rows{since}; nothing to store."
    return (f"{report.source.label}: the query returned {report.rows_read:,} rows{since}.\n"
            + describe_ingest(report.ingest))


def sync_all(state: CliContext, sources: list[SqlSource], as_of: str | None,
             describe_ingest: Any) -> tuple[int, int]:
    """Sync each source; (changed, failed)."""
    from bot.delivery import recorded_run
    from bot.sources_job import SourceRun, job_name
    from storage.deliveries import LockHeld
    from storage.errors import IngestError, SqlSourceError

    changed = failed = 0
    for source in sources:
        # A named source's run is its job's run too (`outcomes jobs`), under its lock.
        run = SourceRun(source.name or "")
        with ExitStack() as stack:
            if source.name:
                try:
                    stack.enter_context(recorded_run(state.store, job_name(source.name), run))
                except LockHeld as exc:
                    failed += 1
                    click.secho(f"{source.label}: another process is syncing it now ({exc}); "
                                "try again later.", fg="red", err=True)
                    continue
            try:
                report = _sync_with_progress(state, source, as_of)
            except (IngestError, SqlSourceError) as exc:
                failed += 1
                run.outcome, run.text = "rejected", str(exc).splitlines()[0]
                click.secho(str(exc), fg="red", err=True)
                continue
            stored = report.ingest is not None and not report.ingest.unchanged
            run.rows, run.stored = report.rows_read, stored
            run.text = "by hand (outcomes ingest --source)"
            changed += stored
            click.echo(describe_sync(report, describe_ingest))
    return changed, failed


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= PREVIEW_CELL else text[:PREVIEW_CELL - 1] + "…"


def describe_preview(preview: Preview, rows_asked: int) -> str:
    lines = [f"{preview.source.label}: the first {len(preview.rows)} of the query's rows "
             f"(asked for {rows_asked}); nothing is stored."]
    if preview.rows:
        shown = preview.headers[:PREVIEW_COLUMNS]
        widths = {h: max(len(_cell(h)), *(len(_cell(r.get(h))) for r in preview.rows)) for h in shown}
        lines.append("  " + "  ".join(_cell(h).ljust(widths[h]) for h in shown))
        for row in preview.rows:
            lines.append("  " + "  ".join(_cell(row.get(h)).ljust(widths[h]) for h in shown))
        if len(preview.headers) > len(shown):
            lines.append(f"  (and {len(preview.headers) - len(shown)} more columns, listed below)")
    lines.append("Columns (app.yaml 'columns' maps your names; kinds judged on these rows only):")
    kinds = {}
    if preview.check is not None:
        kinds = {p.name: p for p in [*preview.check.metrics, *preview.check.left_out]}
    width = max((len(h) for h in preview.headers), default=0)
    for header in preview.headers:
        name = preview.mapping.get(header)
        if name is None:
            target = "(not usable: see below)"
        elif name in kinds:
            plan = kinds[name]
            target = (f"metric {name!r} ({plan.kind}"
                      + (": left out of the models)" if not plan.in_model else ")"))
        elif name in _canonical():
            target = name
        else:
            target = f"metric {name!r}"
        lines.append(f"  {header.ljust(width)} -> {target}")
    if preview.problems is not None:
        lines.append("These rows would be rejected:")
        lines.extend(str(preview.problems).splitlines()[1:])
    elif preview.rows:
        lines.append("These rows follow the data contract.")
    return "\n".join(lines)


def _canonical() -> tuple[str, ...]:
    from storage.contract import CANONICAL

    return CANONICAL


def preview_all(state: CliContext, sources: list[SqlSource], as_of: str | None, rows: int) -> int:
    """Print a preview of each source; the number whose first rows break the contract."""
    from pathlib import Path

    from storage.sources import preview_source
    from storage.store import Store

    settings = state.settings
    # No store yet: look at an empty one in memory rather than create the file.
    store = state.store if Path(settings.db_path).is_file() else Store()
    bad = 0
    for source in sources:
        preview = preview_source(store, source, column_map=settings.columns, as_of=as_of,
                                 max_categories=settings.scoring.max_text_categories,
                                 env=os.environ, rows=rows)
        click.echo(describe_preview(preview, rows))
        bad += preview.problems is not None
    return bad
