from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    from bot.listeners.actions import (
        flag_account,
        flag_choose_account,
        flag_expect,
        health_graph,
        list_page,
        open_account,
        segment_csv,
        share_account,
        snooze_account,
    )

    for module in (open_account, health_graph, share_account, flag_account, flag_choose_account,
                   flag_expect, list_page, segment_csv, snooze_account):
        module.register(app, deps)
