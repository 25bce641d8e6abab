"""The pulse message as a pure function of data: limits hold for any owner."""

from __future__ import annotations

import re

from messages.pulse import (
    MAX_MOVEMENTS_SHOWN,
    CategoryCount,
    Movement,
    Pulse,
    Upsell,
    pulse_message,
    pulse_text,
)
from messages.render import checked


def a_pulse(movements: int, name: str = "Acme") -> Pulse:
    moves = [Movement(f"A{i}", f"{name} {i} <&>", 1000.0 * (movements - i), "Watch",
                      "Likely to Churn", ":large_yellow_circle:", ":red_circle:", True)
             for i in range(movements)]
    cats = [CategoryCount("Likely to Renew", ":large_green_circle:", 2, 2000.0),
            CategoryCount("Watch", ":large_yellow_circle:", 0, 0.0),
            CategoryCount("At Risk", ":large_orange_circle:", 0, 0.0),
            CategoryCount("Likely to Churn", ":red_circle:", movements, 5e5)]
    return Pulse("ana@example.com", "ana@example.com", None, "2026-11-01", "2026-10-01",
                 movements + 2, 5e5, cats, 5e5, movements, "Likely to upsell", ":rocket:", 1,
                 2000.0, [Upsell("U1", "Umbra", 2000.0, True)], moves)


def test_many_movements_stay_within_slack_limits() -> None:
    msg = pulse_message(a_pulse(400, name="N" * 300))
    checked(msg.text, msg.blocks)
    (actions,) = [b for b in msg.blocks if b["type"] == "actions"]
    assert 0 < len(actions["elements"]) <= MAX_MOVEMENTS_SHOWN
    assert all(len(b["text"]["text"]) <= 75 for b in actions["elements"])
    assert re.search(r"…and \d+ more movements\.", msg.text)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in msg.blocks)


def test_data_text_is_escaped_and_worsened_lines_read_from_to() -> None:
    text = pulse_text(a_pulse(2))
    assert ":large_yellow_circle: Watch → :red_circle: Likely to Churn  *Acme 0 &lt;&amp;&gt;*" in text
    assert "<&>" not in text


def test_steady_is_one_line() -> None:
    msg = pulse_message(a_pulse(0))
    assert msg.text.count("\n") == 0 and msg.text.startswith("All steady")
    assert len(msg.blocks) == 1


def test_at_most_max_items_most_important_first_then_and_n_more() -> None:
    pulse = a_pulse(7)
    msg = pulse_message(pulse, max_items=3)
    checked(msg.text, msg.blocks)
    (actions,) = [b for b in msg.blocks if b["type"] == "actions"]
    assert [e["value"] for e in actions["elements"]] == [m.account_id for m in pulse.movements[:3]]
    assert "…and 4 more movements." in msg.text
    contexts = [b["elements"][0]["text"] for b in msg.blocks if b["type"] == "context"]
    assert "…and 4 more movements." in contexts
    one_more = pulse_message(a_pulse(4), max_items=3)
    assert "…and 1 more movement." in one_more.text
    assert "more movement" not in pulse_message(a_pulse(3), max_items=3).text
