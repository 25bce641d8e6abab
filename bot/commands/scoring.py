"""Scoring from the command line: `outcomes score`, `export`, `evaluate`, `segments`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.commands.context import CliContext
from scoring.errors import ScoringError
from storage.store import METRIC_PREFIX

if TYPE_CHECKING:
    import pandas as pd

    from scoring.pipeline import ScoreReport

# scikit-learn and the scoring engine are imported inside the commands, so
# `outcomes --help` and the other commands start fast.

EXPORT_COLUMNS = (
    "account_id", "name", "owner_email", "as_of", "health_score", "renewal_index",
    "upsell_probability", "upsell_index", "previous_renewal_index", "previous_upsell_index",
    "segment", "segment_id", "churn_probability", "previous_health_score", "previous_as_of",
    "churn_model", "upsell_model",
)


def run_scoring(state: CliContext) -> ScoreReport:
    """score_book with a progress bar on a terminal (stderr), silent otherwise."""
    from scoring.pipeline import score_book

    if not sys.stderr.isatty():
        return score_book(state.store, state.settings.for_scoring)
    with click.progressbar(length=1, label="Scoring", file=sys.stderr,
                           show_eta=False) as bar:
        def progress(stage: str, done: int, total: int) -> None:
            bar.length = total
            bar.label = stage.ljust(22)
            bar.update(done - bar.pos)

        report = score_book(state.store, state.settings.for_scoring, progress=progress)
        bar.update(bar.length - bar.pos)
    return report


@click.command()
@click.pass_obj
def score(state: CliContext) -> None:
    """Train (when the data changed) and score every snapshot date not yet scored.

    Learns churn and upsell models from the book's own history, then stores a health
    score, Renewal Index and Upsell Index per account per date, segments, drivers,
    Leading Indicators and data components. Running it again with no new data changes
    nothing and does not retrain. With crm.push_after_scoring in app.yaml, the
    scores then go to the CRM (`outcomes push`).
    """
    from bot.allocator import keep_freed_memory

    keep_freed_memory()   # this process ends with the command (see bot.allocator)
    click.echo(run_scoring(state).summary())
    if state.settings.crm.push_after_scoring:
        from bot.crm.push import push_after_scoring

        for line in push_after_scoring(state.store, state.settings):
            click.echo(line)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="Output format.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.pass_obj
def export(state: CliContext, fmt: str, out: Path | None) -> None:
    """Export the latest score of every current account (the CRM writeback file).

    One row per account: account_id, name, owner_email, as_of, health_score,
    renewal_index, upsell_probability, upsell_index, previous_renewal_index,
    previous_upsell_index, segment, and a few more.
    """
    from scoring import persist

    frame = persist.export_frame(state.store)
    if frame.empty:
        raise ScoringError("no scores yet: run `outcomes score` first")
    frame = frame[list(EXPORT_COLUMNS)]
    if fmt == "csv":
        text = frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    else:
        records = json.loads(frame.to_json(orient="records", double_precision=6))
        text = json.dumps(records, indent=1, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {len(frame):,} accounts to {out}.", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def evaluate(state: CliContext, as_json: bool) -> None:
    """Backtest the models on the latest known period (trained on the past only).

    Reports ROC AUC, PR AUC and Brier score for churn and upsell, next to a plain
    gradient-boosting baseline, and the realised churn / upsell rate per category.
    """
    from scoring.pipeline import backtest

    report = backtest(state.store, state.settings.for_scoring)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1))
    else:
        click.echo(report.summary())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "segment"


@click.command()
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one CSV per segment (its accounts, metrics and levels) to DIR.")
@click.pass_obj
def segments(state: CliContext, export_dir: Path | None) -> None:
    """List the customer segments of the current scoring run.

    Size, average ARR, most-used products, realised churn and upsell rates. With
    --export DIR, one CSV per segment lists its accounts with each metric and its
    Low/Medium/High rating against the segment.
    """
    from scoring import persist
    from scoring.features import metric_plan

    store = state.store
    table = persist.segments_frame(store)
    if table.empty:
        raise ScoringError("no segments yet: run `outcomes score` first")
    for row in table.itertuples():
        products = ", ".join(json.loads(row.top_products or "[]")) or "-"
        churn = "n/a" if row.churn_rate is None else f"{100 * row.churn_rate:.1f}%"
        upsell = "n/a" if row.upsell_rate is None else f"{100 * row.upsell_rate:.1f}%"
        arr = "n/a" if row.avg_arr is None else f"{row.avg_arr:,.0f}"
        click.echo(f"{row.segment_id}. {row.name}: {row.size:,} accounts, avg ARR {arr}, "
                   f"churn {churn}, upsell {upsell}; products: {products}")
    profile = json.loads(table["profile"].iloc[0] or "{}")
    criterion = profile.get("segmenter", {}).get("criterion", {})
    if criterion.get("method") == "silhouette":
        scores = ", ".join(f"k={k}: {v:.3f}" for k, v in criterion["silhouette"].items())
        click.echo(f"k = {criterion['k']}, the best silhouette score among {scores} "
                   "(k-means on scaled latest metrics, seeded).")
    if export_dir is None:
        return
    from messages.spreadsheet import safe_frame

    export_dir.mkdir(parents=True, exist_ok=True)
    latest = persist.export_frame(store)
    run = table["run"].iloc[0]
    latest = latest[latest["churn_model"] == run]
    metrics = metric_plan(store).all
    values = _latest_metrics(state, metrics)
    levels = _latest_levels(state)
    merged = latest.merge(values, on=["account_id", "as_of"], how="left")
    for row in table.itertuples():
        members = merged[merged["segment_id"] == row.segment_id].copy()
        columns = ["account_id", "name", "owner_email", "as_of", "health_score",
                   "renewal_index", "upsell_index"]
        for m in metrics:
            members[f"{m}_level"] = [levels.get((a, d), {}).get(m) for a, d in
                                     zip(members["account_id"], members["as_of"], strict=True)]
            columns += [m, f"{m}_level"]
        path = export_dir / f"segment-{row.segment_id}-{_slug(row.name)}.csv"
        safe_frame(members[columns]).to_csv(path, index=False, float_format="%.6g")
        click.echo(f"  wrote {path} ({len(members):,} accounts)")


def _latest_metrics(state: CliContext, metrics: list[str]) -> pd.DataFrame:
    cols = "".join(f', s."{METRIC_PREFIX}{m}" AS "{m}"' for m in metrics)
    return state.store.frame(
        f"SELECT s.account_id, s.as_of{cols} FROM snapshots s JOIN"
        " (SELECT account_id, max(as_of) AS as_of FROM scores GROUP BY account_id) l"
        " ON l.account_id = s.account_id AND l.as_of = s.as_of"
    )


def _latest_levels(state: CliContext) -> dict[tuple[str, str], dict[str, str]]:
    rows = state.store.conn.execute(
        "SELECT s.account_id, s.as_of, s.levels FROM scores s JOIN"
        " (SELECT account_id, max(as_of) AS as_of FROM scores GROUP BY account_id) l"
        " ON l.account_id = s.account_id AND l.as_of = s.as_of"
    )
    return {(a, d): json.loads(v) if v else {} for a, d, v in rows}


COMMANDS = [score, export, evaluate, segments]
