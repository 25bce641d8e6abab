"""app.yaml is validated strictly: a wrong key or type names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.defaults import DEFAULTS


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.horizon_days == DEFAULTS["horizon_days"] == 90
    assert settings.renewal_categories == ["Likely to Renew", "Watch", "At Risk", "Likely to Churn"]
    assert [settings.renewal_category(s) for s in (100, 50, 49.9, 20, 19.9, 5, 4.9, 0)] == [
        "Likely to Renew", "Likely to Renew", "Watch", "Watch", "At Risk", "At Risk",
        "Likely to Churn", "Likely to Churn"]


def test_the_shipped_app_yaml_is_valid() -> None:
    settings = load_settings(Path(__file__).parents[2] / "app.yaml", env={})
    assert settings.columns["customer_id"] == "account_id"
    assert "Marketing engagement" in settings.components


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("horizon_dayz: 30\n", "unknown key 'horizon_dayz' (did you mean 'horizon_days'?)"),
        ("slack:\n  admns: [U1]\n", "unknown key 'slack.admns'"),
        ("horizon_days: soon\n", "horizon_days"),
        ("renewal_index:\n  bands:\n    - {name: A, min: 10, emoji: x}\n    - {name: B, min: 50, emoji: y}\n",
         "renewal_index.bands"),
        ("schedule:\n  timezone: Mars/Olympus\n", "unknown time zone"),
        ("- just\n- a list\n", "mapping"),
        ("slack: {command: outcome}\n", "slack.command"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(config(tmp_path, text), env={})
    assert words in str(err.value) and "app.yaml" in str(err.value)


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, "horizon_days: 60\n"),
                             env={"SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_API_URL": "http://127.0.0.1:9/api/"})
    assert settings.secrets.slack_bot_token.get_secret_value() == "xoxb-secret"
    assert "xoxb-secret" not in repr(settings)
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    with pytest.raises(ConfigError, match="secrets"):
        load_settings(config(tmp_path, "secrets: {slack_bot_token: x}\n"), env={})


def test_cron_specs_are_replaced_whole(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, "schedule:\n  pulse: {day: 1, hour: 8}\n"), env={})
    assert settings.schedule.pulse.day == 1 and settings.schedule.pulse.day_of_week is None
