"""Every Slack listener, split by kind, one per file; each kind has `register(app, deps)`.

Listeners parse, call `bot.services` / `bot.router`, render with `messages`, send.
The slash command is registered with `deps.answered(work)`: its reply is the ack's body
when it is ready within `ACK_REPLY_BUDGET_SECONDS`, else it follows through response_url.
Every other listener is registered with `deps.acked(work)`: Slack gets its ack at once,
the work runs on the app's thread pool.
What they register is recorded in `deps.registry`, which `outcomes manifest` reads,
so the manifest always matches the code.
"""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps, Registry


def register(app: App, deps: Deps) -> Registry:
    from bot.listeners import actions, commands, events, views

    for kind in (commands, actions, events, views):
        kind.register(app, deps)
    return deps.registry
