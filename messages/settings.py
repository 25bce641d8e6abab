"""What the messages need to know to display things, as one plain typed object.

`bot.config` builds it from `app.yaml`; the category names and their order come from
scoring's settings (one place), the emoji and words shown around them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scoring.settings import ScoringSettings

# Shown for a category the current bands do not know (e.g. renamed since it was scored).
UNKNOWN_CATEGORY_EMOJI = ":grey_question:"


@dataclass(frozen=True)
class DisplaySettings:
    app_name: str
    command: str                      # the slash command, e.g. "/outcome"
    feedback_emoji: tuple[str, ...]   # reaction names (no colons) that flag a prediction
    emoji: Mapping[str, str]          # category name -> Slack emoji code
    scoring: ScoringSettings          # category names and order, band edges

    @property
    def renewal_categories(self) -> list[str]:
        """Renewal Index category names, best first."""
        return self.scoring.renewal_categories

    @property
    def upsell_categories(self) -> list[str]:
        return self.scoring.upsell_categories

    @property
    def upsell_likely(self) -> str:
        return self.scoring.upsell_likely

    def emoji_for(self, category: str) -> str:
        """The emoji of a known category; KeyError for any other name."""
        return self.emoji[category]

    def category_emoji(self, category: str | None) -> str:
        """Like emoji_for, but a missing or unknown category gets a neutral marker."""
        return self.emoji.get(category, UNKNOWN_CATEGORY_EMOJI) if category else UNKNOWN_CATEGORY_EMOJI
