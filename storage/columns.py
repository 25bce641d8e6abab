"""Column names as the data contract compares them. A module of its own, without numpy or
pyarrow, so reading app.yaml (`bot.config`) stays light for `outcomes --help` and `ask`."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_column(name: str) -> str:
    """Column names are case-insensitive and trimmed; punctuation becomes '_'."""
    return _NON_WORD.sub("_", str(name).strip().lower()).strip("_")
