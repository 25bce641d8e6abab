from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    from bot.listeners.commands import outcome

    outcome.register(app, deps)
