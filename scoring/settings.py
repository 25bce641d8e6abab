"""What scoring needs to know, as one plain typed object.

`bot.config` reads and validates `app.yaml` and hands scoring this part of it; scoring
never reads the configuration itself. The category names and their order (best first)
live here, so every layer above takes them from one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RenewalBand:
    """A Renewal Index category: health scores from `min` (0-100) up to the next band."""

    name: str
    min: int


@dataclass(frozen=True)
class ScoringSettings:
    horizon_days: int
    upsell_growth: float
    renewal_bands: tuple[RenewalBand, ...]   # best first, the last starts at 0
    upsell_likely: str
    upsell_unlikely: str
    # Probability at or above which an account is likely to upsell; None = the
    # threshold chosen on validation data at training time.
    upsell_threshold: float | None
    seed: int
    min_positive_labels: int
    components: Mapping[str, tuple[str, ...]]   # data component -> its metric columns
    # Dead bands (see scoring.indexes.sticky_indexes): an account keeps its previous
    # Renewal Index unless its health is more than `renewal_hysteresis` points beyond
    # the crossed band edge, and its Upsell Index unless its probability is beyond the
    # threshold by more than `upsell_hysteresis` of the threshold.
    renewal_hysteresis: float = 6.0
    upsell_hysteresis: float = 0.25

    @property
    def renewal_categories(self) -> list[str]:
        """Renewal Index category names, best first."""
        return [b.name for b in self.renewal_bands]

    @property
    def renewal_ranks(self) -> dict[str, int]:
        """Renewal Index category -> its place, 0 = the best (Likely to Renew)."""
        return {name: i for i, name in enumerate(self.renewal_categories)}

    def renewal_rank(self, category: str | None) -> int | None:
        """The place of a Renewal Index category (0 = best); None for none or an unknown one."""
        return self.renewal_ranks.get(category) if category else None

    @property
    def upsell_categories(self) -> list[str]:
        """Upsell Index category names, likely first."""
        return [self.upsell_likely, self.upsell_unlikely]

    def renewal_category(self, health_score: float) -> str:
        """The Renewal Index category of a 0-100 health score."""
        for band in self.renewal_bands:
            if health_score >= band.min:
                return band.name
        return self.renewal_bands[-1].name

    def component_of(self, column: str) -> str | None:
        """The data component a metric column belongs to, if the catalogue names it."""
        for comp, cols in self.components.items():
            if column in cols:
                return comp
        return None
