"""Scores to the CRM: `outcomes push --to hubspot|salesforce [--dry-run]` (docs/crm.md)."""

from __future__ import annotations

import sys

import click

from bot.commands.context import CliContext
from bot.crm import DESTINATIONS


@click.command()
@click.option("--to", "destination", type=click.Choice(DESTINATIONS), required=True,
              help="The CRM to write to.")
@click.option("--dry-run", is_flag=True, help="Print what would change in the CRM; send nothing.")
@click.option("--show", default=50, show_default=True, metavar="N",
              help="Accounts --dry-run lists (0: all).")
@click.option("--all", "everything", is_flag=True,
              help="Send every value, not only changes (e.g. after the fields were edited or "
                   "recreated in the CRM).")
@click.pass_obj
def push(state: CliContext, destination: str, dry_run: bool, show: int, everything: bool) -> None:
    """Write the latest scores to HubSpot companies or Salesforce Accounts.

    Health score, Renewal Index, Upsell Index and churn probability go to the
    fields named in app.yaml 'crm'; only values that changed since the last
    successful push are sent, and what the CRM refused is sent again next time.
    Tokens come from the environment only (HUBSPOT_ACCESS_TOKEN; SALESFORCE_ACCESS_TOKEN
    and SALESFORCE_INSTANCE_URL).
    """
    from bot.crm.clients import CrmError
    from bot.crm.push import NothingToPush, describe, describe_plan, plan_push, run_push
    from bot.crm.settings import CrmNotConfigured, connection
    from storage.deliveries import LockHeld

    settings = state.settings
    try:
        plan = plan_push(state.store, settings.crm, destination, everything=everything)
        if dry_run:
            click.echo(describe_plan(plan, show))
            return
        connection(destination, settings.crm_secrets)   # the token is there before anything starts
        if not sys.stderr.isatty() or not plan.changes:
            report = run_push(state.store, settings, destination, plan=plan)
        else:
            with click.progressbar(length=len(plan.changes), label=f"Pushing to {destination}",
                                   file=sys.stderr, show_eta=False) as bar:
                def progress(done: int, total: int) -> None:
                    bar.update(done - bar.pos)

                report = run_push(state.store, settings, destination, progress=progress, plan=plan)
    except (NothingToPush, CrmNotConfigured, LockHeld, CrmError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(report))
    if not report.ok:
        sys.exit(1)


COMMANDS = [push]
