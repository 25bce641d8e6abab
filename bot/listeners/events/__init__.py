from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    from bot.listeners.events import app_home_opened, reaction_added

    reaction_added.register(app, deps)
    app_home_opened.register(app, deps)
