"""Small pure helpers that build Block Kit dicts; views compose them and call `checked()`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from messages.render import LIMITS, _truncate, clean_text, environment

Block = dict[str, Any]


def macros(template: str) -> Any:
    """The macros of a template in messages/templates, callable from Python."""
    return environment().get_template(template).module


def text_of(rendered: Any) -> str:
    return str(rendered).strip()


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text",
                                       "text": _truncate(clean_text(text), LIMITS["header_text"]),
                                       "emoji": True}}


def section(text: str, accessory: Block | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section",
                    "text": {"type": "mrkdwn", "text": _truncate(text, LIMITS["section_text"])}}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields(items: Sequence[str]) -> Block:
    return {"type": "section", "fields": [
        {"type": "mrkdwn", "text": _truncate(t, LIMITS["field_text"])} for t in items[: LIMITS["section_fields"]]
    ]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": _truncate(t, LIMITS["section_text"])} for t in texts[: LIMITS["context_elements"]]
    ]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    el: Block = {"type": "button", "text": {"type": "plain_text",
                                            "text": _truncate(clean_text(text), LIMITS["button_text"]),
                                            "emoji": True},
                 "action_id": action_id, "value": value[: LIMITS["button_value"]]}
    if style:
        el["style"] = style
    return el


def actions(elements: Iterable[Block], block_id: str | None = None) -> Block:
    els = list(elements)[: LIMITS["actions_elements"]]
    # Slack wants action_ids unique within a block.
    seen: dict[str, int] = {}
    for el in els:
        aid = el["action_id"]
        if aid in seen:
            seen[aid] += 1
            el["action_id"] = f"{aid}:{seen[aid]}"
        else:
            seen[aid] = 0
    block: Block = {"type": "actions", "elements": els}
    if block_id:
        block["block_id"] = block_id
    return block


def lines_within(lines: Sequence[str], limit: int = LIMITS["section_text"],
                 max_lines: int | None = None, more: str = "…and {n} more") -> str:
    """Join lines into one mrkdwn text within `limit` chars, ending with 'and N more' if cut."""
    out: list[str] = []
    used = 0
    cap = len(lines) if max_lines is None else min(max_lines, len(lines))
    for i, line in enumerate(lines[:cap]):
        rest = len(lines) - i - 1
        reserve = len(more.format(n=rest)) + 1 if rest else 0
        if used + len(line) + 1 + reserve > limit:
            break
        out.append(line)
        used += len(line) + 1
    hidden = len(lines) - len(out)
    if hidden:
        out.append(more.format(n=f"{hidden:,}"))
    return "\n".join(out)
