"""The proactive jobs on demand: `outcomes pulse`, `outcomes summary`, `outcomes jobs`."""

from __future__ import annotations

import json

import click

from bot.commands.context import CliContext


def _one_mode(dry_run: bool, now: bool, release: str | None) -> None:
    if sum((dry_run, now, release is not None)) != 1:
        raise click.UsageError("give exactly one of --dry-run, --now, --release KEY")


def _client(state: CliContext):
    from bot.slack_client import make_client

    return make_client(state.settings)


def _release(state: CliContext, key: str, kind_prefixes: tuple[str, ...]) -> None:
    from storage import deliveries as ledger

    if not key.startswith(kind_prefixes):
        raise click.ClickException(f"{key!r} is not a key of this command "
                                   f"(they start with {', '.join(kind_prefixes)})")
    row = ledger.get(state.store, key)
    if row is None or row.status != ledger.SENDING:
        status = "no such delivery" if row is None else f"it is {row.status!r}"
        raise click.ClickException(f"{key}: nothing to release ({status}; only 'sending' rows)")
    ledger.release_unsent(state.store, key, "released by an admin: not delivered",
                          now=ledger.system_clock())
    click.echo(f"{key}: released; the next run sends it.")


def _problems(deliveries) -> list[str]:
    return [f"  {o.status}: {o.recipient}: {o.error or ''}".rstrip()
            for o in deliveries if o.status in ("failed", "unknown")]


@click.command()
@click.option("--dry-run", is_flag=True, help="Print every DM that would be sent (to whom, text).")
@click.option("--now", is_flag=True, help="Send the pulses of the latest scored period now.")
@click.option("--release", metavar="KEY",
              help="A delivery left in doubt ('sending') did not arrive: let the next run send it.")
@click.pass_obj
def pulse(state: CliContext, dry_run: bool, now: bool, release: str | None) -> None:
    """Customer Owner Pulse: each owner's movements, counts and ARR at risk, by DM.

    Each owner gets each scored period's pulse at most once, even across crashes
    and reruns; `outcomes jobs` shows what was sent. Scheduled weekly by
    `schedule.pulse` in app.yaml while `outcomes serve` / `run` is up.
    """
    from bot.pulse.build import NoScores
    from bot.pulse.send import dry_run_lines, plan_pulses, send_pulses
    from storage.deliveries import LockHeld

    _one_mode(dry_run, now, release)
    if release:
        return _release(state, release, ("pulse:",))
    try:
        if dry_run:
            from messages.text import plain

            planned = plan_pulses(state.store, state.settings)
            for line in dry_run_lines(planned):
                click.echo(plain(line))  # as the owner reads it in Slack, not mrkdwn codes
            click.echo(f"{len(planned)} pulse(s) would be sent; nothing was sent.", err=True)
            return
        run = send_pulses(state.store, state.settings, _client(state))
    except (NoScores, LockHeld) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Pulse {run.period}: {run.count('sent')} sent, {run.count('failed')} failed, "
               f"{run.count('unknown')} in doubt, {run.steady_not_sent} steady (not sent).")
    for line in _problems(run.deliveries):
        click.echo(line)


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the channel post and email that would be sent.")
@click.option("--now", is_flag=True, help="Post the summary (and send the email) now.")
@click.option("--release", metavar="KEY", help="A summary or email left in doubt did not arrive.")
@click.pass_obj
def summary(state: CliContext, dry_run: bool, now: bool, release: str | None) -> None:
    """Weekly summary: accounts and ARR per category and the biggest movers.

    Posted to slack.summary_channel and, when smtp.* is set, emailed (HTML +
    text). Once per scored period each.
    """
    from bot.services import NotScoredYet
    from bot.summary_job import plan_summary, send_summary
    from storage.deliveries import LockHeld

    _one_mode(dry_run, now, release)
    if release:
        return _release(state, release, ("summary:", "email:"))
    settings = state.settings
    try:
        if dry_run:
            from messages.text import message_to_text

            plan = plan_summary(state.store, settings)
            click.echo(f"--- To channel {plan.channel or '(slack.summary_channel not set: not posted)'}")
            click.echo(message_to_text(plan.message))  # as the channel reads it, not mrkdwn codes
            if plan.email is not None:
                click.echo(f"--- Email to {', '.join(settings.smtp.recipients)}: {plan.email.subject}")
                click.echo(plan.email.text)
            else:
                click.echo("--- No email (smtp.host, smtp.sender and smtp.recipients not all set)")
            click.echo("Nothing was sent.", err=True)
            return
        client = _client(state) if settings.slack.summary_channel else None
        run = send_summary(state.store, settings, client)
    except (NotScoredYet, LockHeld) as exc:
        raise click.ClickException(str(exc)) from None
    done = ", ".join(f"{key} {status}" for key, status in run.detail()["deliveries"].items())
    click.echo(f"Summary {run.period}: {done or 'nothing to send'}")
    for line in _problems(run.deliveries):
        click.echo(line)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def jobs(state: CliContext, as_json: bool) -> None:
    """The schedule (next run of each job) and the last run of each, with deliveries in doubt."""
    from bot.scheduler import describe_cron, job_specs, next_run
    from storage import deliveries as ledger

    settings = state.settings
    now = ledger.system_clock()
    last = ledger.last_runs(state.store)
    rows = []
    for spec in job_specs(settings):
        run = last.get(spec.name)
        nxt = next_run(spec, now) if spec.enabled else None
        rows.append({
            "job": spec.name, "what": spec.description, "enabled": spec.enabled,
            "schedule": f"{describe_cron(spec.cron)} {settings.schedule.timezone}",
            "next_run": nxt.isoformat() if nxt else None,
            "why_not": spec.why_not,
            "last_run": run,
        })
    # On-demand jobs that ran (outcomes push, unscheduled SQL sources): their last run too.
    scheduled = {r["job"] for r in rows}
    for name in sorted(set(last) - scheduled):
        rows.append({"job": name, "what": "on demand", "enabled": False, "schedule": "on demand",
                     "next_run": None, "why_not": "not scheduled", "last_run": last[name]})
    # Failed or in doubt, unless a later delivery of the same kind reached the recipient
    # (a later pulse covers everything since the last one they received).
    attention = state.store.query(
        "SELECT d.key, d.status, d.attempts, d.last_error, d.updated_at FROM deliveries d"
        " WHERE d.status IN ('failed', 'sending') AND NOT EXISTS (SELECT 1 FROM deliveries l"
        " WHERE l.kind = d.kind AND l.recipient = d.recipient AND l.status = 'sent'"
        " AND l.period > d.period) ORDER BY d.updated_at DESC LIMIT 50")
    if as_json:
        click.echo(json.dumps({"jobs": rows, "attention": attention}, indent=2))
        return
    width = max([8, *(len(r["job"]) for r in rows)])
    for r in rows:
        state_text = f"next {r['next_run']}" if r["enabled"] else f"off ({r['why_not']})"
        click.echo(f"{r['job']:<{width}} {r['schedule']:<24} {state_text}")
        run = r["last_run"]
        pad = " " * (width + 1)
        if run:
            click.echo(f"{pad}last: {run['started_at']} {run['status']} {run['detail'] or ''}")
        else:
            click.echo(f"{pad}last: never")
    if attention:
        click.echo(f"Deliveries needing attention ({len(attention)}):")
        for a in attention:
            click.echo(f"  {a['key']} {a['status']} x{a['attempts']}: {a['last_error'] or ''}")


COMMANDS = [pulse, summary, jobs]
