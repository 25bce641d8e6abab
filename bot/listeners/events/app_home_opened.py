"""`app_home_opened`: publish the user's App Home (their accounts, movements, open flags)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.listeners.deps import Deps
from bot.services import home
from messages.home import home_view


def register(app: App, deps: Deps) -> None:
    settings, store = deps.settings, deps.store
    deps.registry.event("app_home_opened", {"users:read", "users:read.email"})

    def app_home_opened(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        me = home.requester(store, settings, user_id=user_id, client=client, resolve_email=True)
        client.views_publish(user_id=user_id, view=home_view(home.home(store, settings, me), settings.for_messages))

    app.event("app_home_opened")(deps.acked(app_home_opened))
