"""Block Kit as readable terminal text, for `outcomes ask` and the console."""

from __future__ import annotations

import re
from typing import Any

from messages.render import Message

_EMOJI = {
    "large_green_circle": "🟢", "large_yellow_circle": "🟡", "large_orange_circle": "🟠",
    "red_circle": "🔴", "rocket": "🚀", "heavy_minus_sign": "➖", "arrow_upper_right": "↗",
    "arrow_lower_right": "↘", "small_red_triangle_down": "🔻", "small_green_triangle": "🔺",
    "warning": "⚠️", "white_check_mark": "✅", "x": "❌", "information_source": "ℹ️",
    "chart_with_upwards_trend": "📈", "loudspeaker": "📢", "page_facing_up": "📄", "boom": "💥",
    "grey_question": "❔", "-1": "👎", "+1": "👍", "hourglass_flowing_sand": "⏳",
    "black_circle": "⚫", "zzz": "💤", "bell": "🔔",
}
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")
_LINK_RE = re.compile(r"<([^|>]+)\|([^>]+)>")
_MENTION_RE = re.compile(r"<@([A-Z0-9]+)>")
_BOLD_RE = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC_RE = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


def plain(text: str) -> str:
    """mrkdwn -> terminal text: emoji, mentions and links readable; escapes undone."""
    text = _EMOJI_RE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), text)
    text = _LINK_RE.sub(r"\2 (\1)", text)
    text = _MENTION_RE.sub(r"@\1", text)
    text = _ITALIC_RE.sub(r"\1", _BOLD_RE.sub(r"\1", text))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element(el: dict[str, Any]) -> str:
    if el.get("type") == "button":
        return f"[{plain(el['text']['text'])}]"
    if el.get("type") == "static_select":
        return "[" + " | ".join(plain(o["text"]["text"]) for o in el.get("options", [])[:10]) + "]"
    return plain(el.get("text", "")) if isinstance(el.get("text"), str) else ""


def blocks_to_text(blocks: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = plain(block["text"]["text"])
            out += [title, "=" * min(len(title), 60)]
        elif kind == "section":
            if block.get("text"):
                text = plain(block["text"]["text"])
                acc = block.get("accessory")
                out.append(text + (f"  {_element(acc)}" if acc else ""))
            if block.get("fields"):
                out.append("   ".join(plain(f["text"]).replace("\n", ": ", 1) for f in block["fields"]))
        elif kind == "context":
            out.append("  " + " · ".join(plain(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "actions":
            out.append("  " + " ".join(_element(e) for e in block.get("elements", [])))
        elif kind == "divider":
            out.append("-" * 40)
    return "\n".join(out)


def message_to_text(message: Message) -> str:
    return blocks_to_text(message.blocks) if message.blocks else plain(message.text)
