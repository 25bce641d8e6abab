"""The Slack app manifest, generated from what the code registers.

The commands, bot events, scopes and interactivity come from the listeners'
registry (see `bot.listeners.Registry`), so pasting the output at
https://api.slack.com/apps ("From an app manifest") creates an app that has
exactly what the code needs.
"""

from __future__ import annotations

from typing import Any

import yaml

from bot.config import Settings


def build_registry(settings: Settings) -> Any:
    """Register every listener on a throwaway app (no secrets, no network) and return the registry."""
    from slack_sdk import WebClient

    from bot.app import create_app, registry_of
    from storage.store import Store

    with Store() as store:
        app = create_app(settings, store, WebClient(token="xoxb-manifest", base_url="http://127.0.0.1:9/"),
                         signing_secret="manifest")
        return registry_of(app)


def job_scopes() -> set[str]:
    """The scopes the scheduled jobs need outside any listener (bot.delivery.SLACK_SCOPES)."""
    from bot.delivery import SLACK_SCOPES

    return set(SLACK_SCOPES)


def manifest(settings: Settings, *, request_url: str | None = None,
             socket_mode: bool = False) -> dict[str, Any]:
    reg = build_registry(settings)
    url = request_url or "https://YOUR-HOST/slack/events"
    app_name = settings.slack.app_name
    commands = []
    for c in reg.commands:
        entry = dict(c)
        entry["should_escape"] = True  # mentions arrive as <@U123|name>: `owner @maria` works
        if not socket_mode:
            entry["url"] = url
        commands.append(entry)
    event_settings: dict[str, Any] = {"bot_events": sorted(set(reg.events))}
    interactivity: dict[str, Any] = {"is_enabled": bool(reg.actions)}
    if not socket_mode:
        event_settings["request_url"] = url
        if reg.actions:
            interactivity["request_url"] = url
    return {
        "display_information": {
            "name": app_name,
            "description": "Predicted renewal and upsell outcomes of your accounts, in Slack",
            "background_color": "#1d3b5a",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": False,
                         "messages_tab_read_only_enabled": True},
            "bot_user": {"display_name": app_name, "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": sorted(reg.scopes | job_scopes())}},
        "settings": {
            "event_subscriptions": event_settings,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(settings: Settings, **kwargs: Any) -> str:
    return yaml.safe_dump(manifest(settings, **kwargs), sort_keys=False, allow_unicode=True)
