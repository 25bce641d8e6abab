"""What every listener is handed (`Deps`) and what the app registered (`Registry`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from bot.config import Settings
from bot.listeners.common import ack_then_work, answer_in_ack
from messages.render import Message
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

    def acked(self, fn: Callable[..., None]) -> Callable[..., None]:
        """`fn(body, respond, client)` as a listener: ack at once, work on `pool` after."""
        return ack_then_work(fn, self.pool)

    def answered(self, fn: Callable[..., Message]) -> Callable[..., None]:
        """`fn(body, respond, client) -> Message` as a slash command listener: the reply in
        the ack when it is ready within the budget, else through response_url after it."""
        return answer_in_ack(fn, self.pool)
