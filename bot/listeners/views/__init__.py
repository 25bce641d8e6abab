"""View submissions (modals): the flag modal."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    from bot.listeners.views import flag_modal

    flag_modal.register(app, deps)
