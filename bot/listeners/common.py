"""Small helpers the listeners share: sending a Message the one way, reading payloads."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Respond

from messages.render import Message


def action_pattern(action_id: str) -> re.Pattern[str]:
    """Matches the action id and its `:<n>` variants (unique ids within one block)."""
    return re.compile(rf"^{re.escape(action_id)}(:\d+)?$")


def send(respond: Respond, message: Message, *, replace: bool = False) -> None:
    """An ephemeral reply through response_url (seen only by the user)."""
    kwargs: dict[str, Any] = {"text": message.text, "blocks": message.blocks,
                              "response_type": "ephemeral"}
    kwargs["replace_original"] = replace
    respond(**kwargs)


def action_value(body: dict[str, Any]) -> str:
    action = (body.get("actions") or [{}])[0]
    if "selected_option" in action and action["selected_option"]:
        return str(action["selected_option"].get("value", ""))
    return str(action.get("value", ""))


def container_is_ephemeral(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def channel_of(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def message_ts_of(body: dict[str, Any]) -> str | None:
    return (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")


def user_of(body: dict[str, Any]) -> str | None:
    return (body.get("user") or {}).get("id") or body.get("user_id")


def team_of(body: dict[str, Any]) -> str | None:
    return (body.get("team") or {}).get("id") or body.get("team_id")
