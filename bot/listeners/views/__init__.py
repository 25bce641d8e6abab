"""View submissions (modals). The app opens no modals yet; new ones register here."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    return None
