"""The Slack side of the CLI: serve, run, manifest, ask, console, feedback."""

from __future__ import annotations

import json
import logging
import sys

import click

from bot.commands.context import CliContext

log = logging.getLogger(__name__)


@click.command()
@click.option("--port", default=3000, show_default=True, envvar="PORT", help="Port to listen on.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")
@click.pass_obj
def serve(state: CliContext, port: int, host: str) -> None:
    """Serve the Slack app over HTTP (production server: uvicorn).

    Slack sends slash commands, events and button clicks to POST /slack/events;
    GET /healthz answers for load balancers. Needs SLACK_BOT_TOKEN and
    SLACK_SIGNING_SECRET; Web API calls go to SLACK_API_URL.
    """
    import uvicorn

    from bot.app import asgi_app, create_app, install_log_redaction, require_secrets

    settings = state.settings
    require_secrets(settings, "bot_token", "signing_secret")
    install_log_redaction()
    app = asgi_app(create_app(settings, state.store), state.store)
    from bot.scheduler import start_for_app  # the proactive jobs (pulse, summary, inbox)
    start_for_app(settings, state.store, state.closers)
    _warm(state)
    click.echo(f"Outcomes on http://{host}:{port}/slack/events (Web API: {settings.slack_api_url})",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)


@click.command()
@click.pass_obj
def run(state: CliContext) -> None:
    """Run the Slack app in Socket Mode (no public URL; needs SLACK_APP_TOKEN xapp-...)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app, install_log_redaction, require_secrets

    settings = state.settings
    require_secrets(settings, "bot_token", "app_token")
    install_log_redaction()
    app = create_app(settings, state.store, socket_mode=True)
    from bot.scheduler import start_for_app  # the proactive jobs (pulse, summary, inbox)
    start_for_app(settings, state.store, state.closers)
    _warm(state)
    click.echo("Outcomes connected in Socket Mode; Ctrl-C to stop.", err=True)
    assert settings.secrets.slack_app_token is not None
    SocketModeHandler(app, settings.secrets.slack_app_token.get_secret_value()).start()


@click.command()
@click.option("--url", "request_url", metavar="URL",
              help="Public request URL, e.g. https://outcomes.example.com/slack/events.")
@click.option("--socket-mode", is_flag=True, help="For `outcomes run` (no request URL needed).")
@click.pass_obj
def manifest(state: CliContext, request_url: str | None, socket_mode: bool) -> None:
    """Print the Slack app manifest (YAML) for https://api.slack.com/apps -> From a manifest."""
    from bot.manifest import manifest_yaml

    click.echo(manifest_yaml(state.settings, request_url=request_url, socket_mode=socket_mode), nl=False)


@click.command()
@click.argument("text")
@click.option("--user", metavar="U123|EMAIL", help="Ask as this Slack user id or owner email.")
@click.option("--json", "as_json", is_flag=True, help="Print the Block Kit JSON instead of text.")
@click.pass_obj
def ask(state: CliContext, text: str, user: str | None, as_json: bool) -> None:
    """Answer one `/outcome ...` TEXT offline, exactly as the Slack app would.

    \b
    Examples:
      outcomes ask "/outcome acme"
      outcomes ask "list at risk mine" --user maria.lopez@example.com
      outcomes ask "/outcome summary" --json
    """
    from bot.commands.context import hint
    from bot.console import answer, render

    exchange = answer(state.store, state.settings, text, user)
    click.echo(render(exchange, as_json) if as_json else hint(render(exchange)))
    if not exchange.ok:
        sys.exit(1)


@click.command()
@click.option("--user", metavar="U123|EMAIL", help="Talk as this Slack user id or owner email.")
@click.pass_obj
def console(state: CliContext, user: str | None) -> None:
    """Talk to Outcomes in the terminal (the same answers as in Slack).

    Without a terminal attached, shows a few sample exchanges and exits.
    """
    from bot.commands.context import hint
    from bot.console import run_console

    run_console(state.store, state.settings, user=user, out=lambda text: click.echo(hint(text)))


@click.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="Output format (to standard output).")
@click.pass_obj
def feedback(state: CliContext, fmt: str) -> None:
    """List prediction flags (who flagged which account, predicted vs expected outcome)."""
    from messages.spreadsheet import write_csv
    from storage.feedback import flag_rows

    rows = flag_rows(state.store)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    columns = ["id", "created_at", "user_id", "account_id", "account_name", "predicted_renewal_index",
               "predicted_upsell_index", "health_score", "model_version", "expected_renewal_index",
               "expected_upsell_index", "answered_at", "reaction", "channel", "message_ts", "note"]
    write_csv(sys.stdout, columns, rows)  # a file people open: spreadsheet-safe cells


def _warm(state: CliContext) -> None:
    """Load the account name index and the templates in the background (no first user
    waits for either), then freeze what the process holds by then out of the garbage
    collector's sight (`gc.freeze`): the app, its libraries and the 100,000 names of a
    large book are never garbage, yet each full collection walked them all, a pause of
    milliseconds in whichever request triggered it (the card's p99)."""
    import gc
    import threading

    from bot.services.accounts import warm_names

    def warm() -> None:
        try:
            warm_names(state.store)
        except Exception:  # an empty or locked store: the first lookup loads the names
            log.warning("could not preload account names", exc_info=True)
        gc.collect()
        gc.freeze()

    threading.Thread(target=warm, name="outcomes-warm", daemon=True).start()


COMMANDS = [serve, run, manifest, ask, console, feedback]
