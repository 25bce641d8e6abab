"""Getting data in: `outcomes ingest` and `outcomes demo`."""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.commands.context import DEMO_DB_FILE, CliContext, command_name, has_snapshots, hint
from storage.demo_book import DemoSpec
from storage.errors import IngestError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from storage.ingest import IngestReport
    from storage.store import Store


def _ingest_with_progress(state: CliContext, path: Path, as_of: str | None) -> IngestReport:
    """Ingest one file; on a terminal, a progress bar follows the rows being stored."""
    from storage.ingest import ingest_file

    settings = state.settings
    options = dict(column_map=settings.columns, as_of=as_of,
                   max_categories=settings.scoring.max_text_categories)
    if not sys.stderr.isatty():
        return ingest_file(state.store, path, **options)
    checked = 0
    with ExitStack() as stack:
        bar = None

        def progress(phase: str, rows: int, total: int) -> None:
            nonlocal checked, bar
            if phase == "checking":
                checked += rows
                click.echo(f"\rChecking {path.name}: {checked:,} rows", nl=False, err=True)
                return
            if bar is None:
                click.echo(err=True)
                bar = stack.enter_context(
                    click.progressbar(length=total, label=f"Storing {path.name}", file=sys.stderr))
            bar.update(rows)

        return ingest_file(state.store, path, progress=progress, **options)


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 row', '2 rows', '1,200 accounts'."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _describe(report: IngestReport) -> str:
    if report.unchanged:
        return f"{report.file}: already ingested, nothing changed ({count(report.rows, 'row')})."
    dates = report.dates
    span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]} ({len(dates)} dates)"
    lines = [
        f"{report.file}: stored {count(report.rows, 'row')}, {count(report.accounts, 'account')} "
        f"({report.new_accounts:,} new to the store), {span}.",
    ]
    if report.metrics:
        by_kind: dict[str, list[str]] = {}
        for plan in report.metrics:
            by_kind.setdefault(plan.kind, []).append(plan.name)
        lines.append("  metrics: " + "; ".join(f"{k} {', '.join(v)}" for k, v in by_kind.items()))
    for plan in report.left_out:
        lines.append(f"  left out of the models: {plan.source_name}: {plan.note}")
    lines.extend(f"  warning: {w}" for w in report.warnings)
    return "\n".join(lines)


def _label_line(store: Store, horizon: int, growth: float,
                reports: Iterable[IngestReport] = ()) -> str:
    """The book's label counts; the reports' rows save reading back what was just stored."""
    from scoring.book_labels import book_label_summary

    counts = book_label_summary(store, horizon, growth,
                                [r.stored for r in reports if r.stored is not None])
    if not counts["rows"]:
        return "The store is empty."
    return (
        f"Book: {count(store.counts()['accounts'], 'account')}, {count(counts['rows'], 'snapshot')}. "
        f"Outcomes known for {count(counts['churn_known'], 'row')} ({horizon}-day horizon): "
        f"{counts['churned']:,} churned, {counts['upsold']:,} upsold; the rest are too recent "
        "and will be scored, not trained on."
    )


def _iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    import re
    from datetime import date

    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form (e.g. 2026-11-01)")


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--as-of", metavar="YYYY-MM-DD", callback=_iso_date,
              help="Snapshot date for rows without an as_of column (or with blank dates).")
@click.option("--sql", metavar="QUERY",
              help="Ingest this SELECT's result instead of files (with --url); :last_sync in it "
                   "is the start of the last successful sync of the same query.")
@click.option("--url", metavar="URL", help="SQLAlchemy URL for --sql, e.g. "
              "postgresql+psycopg://reader@db:5432/analytics or duckdb:///book.duckdb.")
@click.option("--password-env", metavar="VAR",
              help="Environment variable holding the database password for --url.")
@click.option("--source", "source_names", metavar="NAME", multiple=True,
              help="Ingest a SQL source named in app.yaml 'sources' (repeatable; 'all': every one).")
@click.option("--preview", is_flag=True,
              help="With --sql/--source: print the first rows and what each column becomes; "
                   "store nothing.")
@click.option("--rows", "preview_rows", default=10, show_default=True, metavar="N",
              type=click.IntRange(1, 1000), help="Rows --preview shows.")
@click.pass_obj
def ingest(state: CliContext, files: tuple[Path, ...], as_of: str | None, sql: str | None,
           url: str | None, password_env: str | None, source_names: tuple[str, ...],
           preview: bool, preview_rows: int) -> None:
    """Validate and store account snapshot FILES (CSV or Parquet), or a SQL query's result.

    Each file (or query result) is stored whole or not at all; re-ingesting the same
    rows changes nothing. The format is docs/data-contract.md; app.yaml 'columns'
    maps your headers. SQL sources: docs/sources.md.
    """
    from bot.commands import sql as sql_cli

    chosen = [name for name, given in (("FILES", files), ("--sql", sql), ("--source", source_names))
              if given]
    if len(chosen) != 1:
        raise click.UsageError("give snapshot FILES, or --sql QUERY --url URL, or --source NAME"
                               + (f" (not {' and '.join(chosen)})" if chosen else ""))
    if url and not sql:
        raise click.UsageError("--url goes with --sql")
    if preview and files:
        raise click.UsageError("--preview goes with --sql or --source")
    state.with_default_db()
    first_data = not has_snapshots(state.settings.db_path)
    failed = changed = 0
    total, what = len(files), "files"
    if not files:
        sources = sql_cli.pick_sources(state, sql, url, password_env, source_names)
        if preview:
            bad = sql_cli.preview_all(state, sources, as_of, preview_rows)
            sys.exit(1 if bad else 0)
        changed, failed = sql_cli.sync_all(state, sources, as_of, _describe)
        total, what = len(sources), "SQL sources" if len(sources) > 1 else "SQL source"
        what += " failed or"
    reports = []
    for path in files:
        try:
            report = _ingest_with_progress(state, path, as_of)
        except IngestError as exc:
            failed += 1
            click.secho(str(exc), fg="red", err=True)
            continue
        changed += not report.unchanged
        reports.append(report)
        click.echo(_describe(report))
    if changed:
        settings = state.settings
        click.echo(_label_line(state.store, settings.horizon_days, settings.upsell_growth, reports))
        if first_data and Path(DEMO_DB_FILE).is_file():
            click.echo(f"Your data is in {settings.db_path}; from now on commands in this folder "
                       f"use it (the demo book stays in {DEMO_DB_FILE}: --db {DEMO_DB_FILE}).")
        click.echo(f"Next: `{command_name()} score` trains and scores it.")
    if failed:
        click.secho(f"{failed} of {total} {what} rejected; fix them and ingest them again.",
                    fg="red", err=True)
        sys.exit(1)


@click.command()
@click.option("--accounts", default=DemoSpec.accounts, show_default=True, help="Accounts in the book.")
@click.option("--months", default=DemoSpec.months, show_default=True, help="Monthly snapshots.")
@click.option("--owners", default=DemoSpec.owners, show_default=True, help="Customer owners (CSMs).")
@click.option("--seed", default=DemoSpec.seed, show_default=True, help="Random seed.")
@click.option("--write-csv", "write_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Only write the demo CSV files to this folder, to see the input format.")
@click.option("--console/--no-console", default=True, show_default=True,
              help="End in the console (sample exchanges when no terminal is attached).")
@click.pass_obj
def demo(state: CliContext, accounts: int, months: int, owners: int, seed: int,
         write_dir: Path | None, console: bool) -> None:
    """Generate a realistic demo book of business and run Outcomes on it.

    Uses its own database (demo.db unless --db is given), so your data is safe.
    """
    from bot.commands.scoring import run_scoring
    from bot.console import run_console
    from storage.demo_book import generate, owner_directory, write_csv

    spec = DemoSpec(accounts=accounts, owners=owners, months=months, seed=seed)
    book = generate(spec)
    if write_dir is not None:
        paths = write_csv(book, write_dir)
        click.echo(f"Wrote {len(paths)} files ({len(book):,} rows) to {write_dir}/, e.g. {paths[0].name}.")
        return
    if state.db_path is None:
        state.with_db(DEMO_DB_FILE)
    click.echo(f"Demo book: {book['account_id'].nunique():,} accounts, {owners} owners, "
               f"{months} monthly snapshots -> {state.settings.db_path}")
    reports = []
    with tempfile.TemporaryDirectory(prefix="outcomes-demo-") as tmp:
        for path in write_csv(book, tmp):
            report = _ingest_with_progress(state, path, None)
            reports.append(report)
            if not report.unchanged:
                click.echo(f"  {path.name}: {count(report.rows, 'row')}, "
                           f"{count(report.new_accounts, 'new account')}")
    settings = state.settings
    click.echo(_label_line(state.store, settings.horizon_days, settings.upsell_growth, reports))
    click.echo(run_scoring(state).summary())
    click.echo(_demo_hints(settings.db_path, settings.slack.command))
    if console:
        csm_name, csm_email = owner_directory(spec)[0].values()
        click.echo(f"\nYou are {csm_name} ({csm_email}), one of the demo's CSMs: "
                   "`mine` means your accounts.")
        run_console(state.store, settings, user=csm_email, out=lambda text: click.echo(hint(text)))


def _demo_hints(db_path: str, command: str) -> str:
    """What to try next, spelled as typed here; each works verbatim in this folder."""
    prog = command_name()
    default = db_path == DEMO_DB_FILE
    store = "" if default else f" --db {db_path}"
    where = (f"The demo book is in {DEMO_DB_FILE}. Until you ingest data of your own, commands in "
             f"this folder read it:" if default else f"The demo book is in {db_path}:")
    tries = [("console", "talk to it as in Slack"),
             (f'ask "{command} summary"', "one answer, as Slack would give it"),
             ("pulse --dry-run", "the owners' weekly DMs"),
             ("summary --dry-run", "the weekly channel summary")]
    width = max(len(t) for t, _ in tries)
    lines = ["", where, *(f"  {prog}{store} {t.ljust(width)}  {what}" for t, what in tries)]
    lines.append(f"Your own data: `{prog} ingest FILE...` (see docs/data-contract.md) stores it in "
                 "outcomes.db, which commands here use from then on.")
    return "\n".join(lines)


COMMANDS = [ingest, demo]
