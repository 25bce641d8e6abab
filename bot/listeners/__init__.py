"""Every Slack listener, split by kind, one per file; each kind has `register(app, deps)`.

Listeners parse, call `bot.services` / `bot.router`, render with `messages`, send;
each is registered with `deps.acked(work)`: Slack gets its ack at once, the work
runs on the app's thread pool.
What they register is recorded in `deps.registry`, which `outcomes manifest` reads,
so the manifest always matches the code.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App

from bot.config import Settings
from storage.store import Store


@dataclass
class Registry:
    """What the app registered: the manifest is generated from this."""

    commands: list[dict[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    scopes: set[str] = field(default_factory=set)

    def command(self, name: str, description: str, usage_hint: str, scopes: set[str]) -> None:
        self.commands.append({"command": name, "description": description, "usage_hint": usage_hint})
        self.scopes |= {"commands", *scopes}

    def event(self, name: str, scopes: set[str]) -> None:
        self.events.append(name)
        self.scopes |= scopes

    def action(self, action_id: str, scopes: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.actions.append(action_id)
        self.scopes |= set(scopes)


@dataclass
class Deps:
    settings: Settings
    store: Store
    pool: Executor
    registry: Registry = field(default_factory=Registry)
    extra: dict[str, Any] = field(default_factory=dict)

    def acked(self, fn: Callable[..., None]) -> Callable[..., None]:
        """`fn(body, respond, client)` as a listener: ack at once, work on `pool` after."""
        from bot.listeners.common import ack_then_work

        return ack_then_work(fn, self.pool)


def register(app: App, deps: Deps) -> Registry:
    from bot.listeners import actions, commands, events, views

    for kind in (commands, actions, events, views):
        kind.register(app, deps)
    return deps.registry
