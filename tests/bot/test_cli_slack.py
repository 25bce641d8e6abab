"""`outcomes ask / console / manifest / feedback / serve / run` through the real CLI."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from storage import feedback as fb
from storage.store import Store
from tests.bot.book import seed_book

NO_SECRETS = {"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "",
              "OUTCOMES_CONFIG": "", "OUTCOMES_DB": ""}


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "cli.db"
    with Store(path) as store:
        seed_book(store)
    return str(path)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={**NO_SECRETS, **(env or {})},
                              catch_exceptions=False)


def test_ask_prints_the_card(db) -> None:
    result = run("--db", db, "ask", "/outcome acme analytics")
    assert result.exit_code == 0, result.output
    assert "Acme Analytics" in result.output and "At Risk" in result.output
    assert "Previous Period" in result.output and "[📈 Health graph]" in result.output


def test_ask_json_is_block_kit(db) -> None:
    result = run("--db", db, "ask", "list watch", "--json")
    payload = json.loads(result.output)
    assert payload["text"] and payload["blocks"][0]["type"] == "section"


def test_ask_as_a_user(db) -> None:
    result = run("--db", db, "ask", "list churn mine", "--user", "UMARIA")
    assert "Globex Health" in result.output
    result = run("--db", db, "ask", "list renew mine", "--user", "james.chen@example.com")
    assert "Initech Labs" in result.output and "Globex" not in result.output


def test_ask_unknown_exits_1_with_did_you_mean(db) -> None:
    result = run("--db", db, "ask", "globe heal")
    assert result.exit_code == 1 and "Did you mean" in result.output


def test_console_without_a_terminal_shows_samples_and_exits(db) -> None:
    result = run("--db", db, "console")
    assert result.exit_code == 0
    assert "no terminal attached" in result.output
    prompts = [line for line in result.output.splitlines() if line.startswith("> /outcome")]
    assert len(prompts) == 4
    assert "Book summary" in result.output and "Leading Indicators" in result.output


def test_interactive_console_reads_lines(db, settings) -> None:
    from bot.console import interactive

    out: list[str] = []
    with Store(db) as store:
        interactive(store, settings, ["/outcome initech", "", "summary", "quit", "never"], out.append)
    assert any("Initech Labs" in o for o in out) and any("Book summary" in o for o in out)
    assert not any("never" in o for o in out)


def test_manifest_matches_what_is_registered() -> None:
    result = run("manifest", "--url", "https://outcomes.example.com/slack/events")
    data = yaml.safe_load(result.output)
    (cmd,) = data["features"]["slash_commands"]
    assert cmd["command"] == "/outcome" and cmd["url"].endswith("/slack/events")
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == {"reaction_added", "app_home_opened"}
    assert {"commands", "chat:write", "reactions:read", "files:write", "users:read",
            "users:read.email"} <= set(data["oauth_config"]["scopes"]["bot"])
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is False
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    socket = yaml.safe_load(run("manifest", "--socket-mode").output)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["event_subscriptions"]


def test_feedback_lists_flags(db) -> None:
    with Store(db) as store:
        fb.record_post(store, "C1", "1.1", "card", ["ACC-000001"])
        fb.record_flag(store, channel="C1", message_ts="1.1", user_id="U1", reaction="x",
                       account_id="ACC-000001", predicted_renewal_index="At Risk",
                       predicted_upsell_index="Not likely to upsell", health_score=42.0,
                       model_version="m1")
    csv_out = run("--db", db, "feedback").output.splitlines()
    assert csv_out[0].startswith("id,created_at,user_id,account_id,account_name")
    assert "Acme Analytics" in csv_out[1] and "At Risk" in csv_out[1]
    rows = json.loads(run("--db", db, "feedback", "--format", "json").output)
    assert rows[0]["account_name"] == "Acme Analytics"


def test_serve_and_run_need_their_secrets(db) -> None:
    result = run("--db", db, "serve")
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN" in result.output and "SLACK_SIGNING_SECRET" in result.output
    result = run("--db", db, "serve", env={"SLACK_BOT_TOKEN": "xoxb-1"})
    assert result.exit_code == 1 and "SLACK_SIGNING_SECRET" in result.output
    assert "SLACK_BOT_TOKEN" not in result.output
    result = run("--db", db, "run", env={"SLACK_BOT_TOKEN": "xoxb-1"})
    assert result.exit_code == 1 and "SLACK_APP_TOKEN" in result.output


@pytest.mark.parametrize("text", ["share acme analytics", "share list watch", "share acme",
                                  "summary mine", "list at risk owner <@UMARIA>", "rescore"])
def test_ask_every_shape_of_command(db, text) -> None:
    result = run("--db", db, "ask", text, "--user", "UMARIA")
    assert result.exit_code in (0, 1) and result.output.strip()
