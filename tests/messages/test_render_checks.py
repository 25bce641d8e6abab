"""messages.render.checked refuses what Slack would answer with invalid_blocks."""

from __future__ import annotations

import pytest

from messages.render import InvalidMessage, checked, escape_mrkdwn


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, text: str = "Open", value: str = "v") -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, "value": value}


@pytest.mark.parametrize(
    ("blocks", "words"),
    [
        ([section("x")] * 51, "at most 50"),
        ([section("x" * 3001)], "3000"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "150"),
        ([{"type": "actions", "elements": [button("a"), button("a")]}], "action_id repeated"),
        ([{"type": "actions", "elements": [button("a", text="t" * 76)]}], "75"),
        ([{"type": "actions", "elements": [button(f"a{i}") for i in range(26)]}], "25"),
        ([section("a", block_id="b"), section("b", block_id="b")], "block_id repeated"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "fields"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "cannot exceed 10"),
    ],
)
def test_slack_limits_are_enforced(blocks: list[dict], words: str) -> None:
    with pytest.raises(InvalidMessage, match=words):
        checked("fallback", blocks)


def test_fallback_text_is_required() -> None:
    with pytest.raises(InvalidMessage, match="fallback"):
        checked(" ", [section("x")])


def test_escape_only_the_three_control_characters() -> None:
    assert escape_mrkdwn("R&D <b> *bold* @here") == "R&amp;D &lt;b&gt; *bold* @here"
