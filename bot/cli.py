"""The `outcomes` command line.

Exit codes: 0 done, 1 a user error (a message, no traceback), 2 a usage error.
Library code raises named exceptions; only this layer turns them into messages
and exit codes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from bot.commands.context import CliContext, command_name, hint
from bot.errors import ConfigError, MissingSecret
from scoring.errors import ScoringError
from storage.errors import IngestError, SqlSourceError
from storage.store import StoreError

# Errors whose message is meant for the person at the keyboard.
USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, IngestError, StoreError, MissingSecret,
                                            ScoringError, SqlSourceError)


class OutcomesGroup(click.Group):
    """Turns user errors into a message and exit code 1."""

    def main(self, *args: Any, prog_name: str | None = None, **kwargs: Any) -> Any:
        return super().main(*args, prog_name=prog_name or command_name(), **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.secho(f"Error: {hint(str(exc))}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=OutcomesGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="FILE", envvar="OUTCOMES_CONFIG",
              help="Configuration file [default: ./app.yaml; env OUTCOMES_CONFIG].")
@click.option("--db", "db_path", metavar="FILE", envvar="OUTCOMES_DB",
              help="SQLite database [default: ./outcomes.db, or ./demo.db while outcomes.db "
                   "has no data; env OUTCOMES_DB].")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to stderr).")
@click.version_option(package_name="outcomes")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_path: str | None, verbose: bool) -> None:
    """Outcomes: predicted customer outcomes (Renewal Index, Upsell Index) in Slack.

    Start with `outcomes demo`, or ingest your own snapshots with `outcomes ingest`.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    state = CliContext(config_path, db_path)
    ctx.obj = state
    ctx.call_on_close(lambda: [close() for close in state.closers])


def _register() -> None:
    from bot.commands import crm, data, pulse, scoring, slack

    for module in (data, slack, pulse, scoring, crm):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

