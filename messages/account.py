"""The account card, the choice list when a name matches several accounts, and the chart."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from messages import blocks as b
from messages.actions import FLAG_ACCOUNT, HEALTH_GRAPH, OPEN_ACCOUNT, SHARE_ACCOUNT, SNOOZE_ACCOUNT
from messages.render import Message, _truncate, checked, clean_text, escape_mrkdwn

if TYPE_CHECKING:
    from messages.settings import DisplaySettings
    from scoring.settings import ScoringSettings


@dataclass(frozen=True)
class Match:
    """What a name matched: one account, or several to choose from (`total` of them)."""

    query: str
    account: dict[str, Any] | None = None
    choices: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    how: str = "exact"  # exact / id / prefix / fuzzy


@dataclass(frozen=True)
class Card:
    account: dict[str, Any]
    score: dict[str, Any] | None            # latest period; None when not scored then
    previous: dict[str, Any] | None         # the account's previous scored period
    history: list[dict[str, Any]]           # oldest first
    segment: dict[str, Any] | None
    renewal_move: str | None                # up / down / None
    upsell_move: str | None
    as_of: str
    provisional: bool = False
    provisional_reason: str | None = None
    book_churn: float | None = None     # the book's mean churn probability on the score's date
    horizon_days: int = 90
    # The account's last snapshot date when it is older than the latest scored period and
    # the account was not marked churned: it is not among the current accounts.
    stale_since: str | None = None
    upsell_threshold: float | None = None   # the threshold the upsell model scored with

    @property
    def account_id(self) -> str:
        return self.account["account_id"]

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None]) -> str:
    """Health 0-100 as ▁..█ (a gap for a missing value)."""
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            out.append(SPARK[min(len(SPARK) - 1, max(0, int(float(v) / 100 * len(SPARK))))])
    return "".join(out)


def dead_band(card: Card, s: ScoringSettings) -> list[dict[str, Any]]:
    """Why a category differs from the plain bands for its score: the dead band of
    `scoring.indexes.sticky_indexes` kept last period's category. One entry per index
    kept (band edges, threshold and margins from the settings the score was made with)."""
    score, prev = card.score, card.previous
    if not score or not prev or card.account.get("status") == "churned":
        return []
    out: list[dict[str, Any]] = []
    cat, health = score.get("renewal_index"), score.get("health_score")
    ranks = s.renewal_ranks
    if health is not None and cat in ranks and cat == prev.get("renewal_index"):
        plain = s.renewal_category(float(health))
        if plain != cat:
            i = ranks[cat]   # kept above its plain band: its own edge; below it: the next one up
            edge = s.renewal_bands[i].min if ranks[plain] > i else s.renewal_bands[i - 1].min
            if abs(float(health) - edge) <= s.renewal_hysteresis:   # else not the dead band
                out.append({"index": "renewal", "category": cat, "health": float(health),
                            "edge": edge, "margin": s.renewal_hysteresis})
    ucat, p, t = score.get("upsell_index"), score.get("upsell_probability"), card.upsell_threshold
    if p is not None and t and ucat in s.upsell_categories and ucat == prev.get("upsell_index"):
        plain = s.upsell_likely if float(p) >= t else s.upsell_unlikely
        if plain != ucat and abs(float(p) - t) <= t * s.upsell_hysteresis:
            out.append({"index": "upsell", "category": ucat, "probability": float(p),
                        "threshold": t, "band": t * s.upsell_hysteresis})
    return out


def emoji_lookup(settings: DisplaySettings):
    return settings.category_emoji


def card_blocks(card: Card, settings: DisplaySettings, *, shared_by: str | None = None,
                buttons: bool = True) -> list[dict[str, Any]]:
    t = b.macros("card.j2")
    e = emoji_lookup(settings)
    blocks = [b.header(card.account["name"]),
              b.section(b.text_of(t.status(card, e, dead_band(card, settings.scoring))))]
    blocks.append(b.fields([b.text_of(f) for f in str(t.facts(card)).split("|||")]))
    drivers = (card.score or {}).get("drivers") or []
    down = [d for d in drivers if d.get("direction") == "down"][:3]
    up = [d for d in drivers if d.get("direction") not in ("down", "unclear")][:3]
    unclear = [d for d in drivers if d.get("direction") == "unclear"][:3]
    lines = [b.text_of(t.drivers_title("down")), *(b.text_of(t.driver(d)) for d in down)] if down else []
    if up:
        lines += [b.text_of(t.drivers_title("up")), *(b.text_of(t.driver(d)) for d in up)]
    if unclear:
        lines.append(b.text_of(t.unclear_drivers(unclear)))
    if lines:
        blocks.append(b.section("\n".join(lines)))
    notes = [b.text_of(t.history(card, sparkline([h["health_score"] for h in card.history])))]
    if card.provisional:
        notes.append(b.text_of(t.provisional(card.provisional_reason)))
    if shared_by:
        notes.append(b.text_of(t.shared_by(shared_by)))
    blocks.append(b.context(*notes))
    if buttons:
        aid = card.account_id
        els = [b.button(":chart_with_upwards_trend: Health graph", HEALTH_GRAPH, aid)]
        if not shared_by:
            els.append(b.button(":loudspeaker: Share to channel", SHARE_ACCOUNT, aid))
        els.append(b.button(":x: Flag prediction", FLAG_ACCOUNT, aid))
        if not shared_by:   # snoozing is the owner's choice, not a channel's
            els.append(b.button(":zzz: Snooze", SNOOZE_ACCOUNT, aid))
        blocks.append(b.actions(els, block_id=f"card:{aid}"[:255]))
    return blocks


def card_message(card: Card, settings: DisplaySettings, *, shared_by: str | None = None) -> Message:
    """The account card: status at the top, facts, drivers, history, buttons."""
    t = b.macros("card.j2")
    return checked(b.text_of(t.fallback(card)), card_blocks(card, settings, shared_by=shared_by))


def choices_message(match: Match, settings: DisplaySettings) -> Message:
    """Several accounts match: one line each with an Open button (action `open_account`)."""
    t = b.macros("card.j2")
    shown = match.choices[:10]
    blocks = [b.section(b.text_of(t.choices_title(match, len(shown))))]
    for a in shown:
        blocks.append(b.section(b.text_of(t.choice(a, emoji_lookup(settings), None)),
                                accessory=b.button("Open", OPEN_ACCOUNT, a["account_id"])))
    if match.total > len(shown):
        blocks.append(b.context(f"…and {match.total - len(shown):,} more"))
    return checked(f"{match.total} accounts match “{escape_mrkdwn(match.query)}”", blocks)


CHART_NAME_CHARS = 60


def _chart_label(value: object, limit: int) -> str:
    """Text from data for the chart: one line, without control characters, at most `limit`."""
    text = "".join(ch if ch.isprintable() else " " for ch in clean_text(value))
    return _truncate(" ".join(text.split()), limit)


def health_chart_png(card: Card, settings: DisplaySettings) -> bytes:
    """The health score history as a PNG, with the Renewal Index bands shaded."""
    fig = health_chart(card, settings)
    out = io.BytesIO()
    with warnings.catch_warnings():  # an emoji in a name has no glyph in the font: drawn as a box
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(out, format="png")
    return out.getvalue()


MAX_DATE_LABELS = 8


def month_label(as_of: str) -> str:
    """'2026-11-01' -> 'Nov 2026' (the date as is when it is not one)."""
    from datetime import date

    try:
        return date.fromisoformat(as_of[:10]).strftime("%b %Y")
    except ValueError:
        return as_of


def health_chart(card: Card, settings: DisplaySettings) -> Any:
    """The chart as a matplotlib Figure: at most MAX_DATE_LABELS date labels, slanted."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), dpi=100)
    ax = fig.add_subplot()
    colours = ["#2eb67d", "#ecb22e", "#f2994a", "#e01e5a"]
    bands = settings.scoring.renewal_bands
    top = 100.0
    for i, band in enumerate(bands):
        ax.axhspan(band.min, top, color=colours[min(i, len(colours) - 1)], alpha=0.12, lw=0)
        ax.text(0.005, (band.min + top) / 2, _chart_label(band.name, 40), parse_math=False,
                transform=ax.get_yaxis_transform(), fontsize=7, va="center", alpha=0.7)
        top = band.min
    dates = [h["as_of"] for h in card.history]
    values = [h["health_score"] for h in card.history]
    ax.plot(range(len(dates)), values, marker="o", color="#1d1c1d", lw=2)
    step = max(1, math.ceil(len(dates) / MAX_DATE_LABELS))
    monthly = len({d[:7] for d in dates}) == len(dates)  # else weekly or daily: full dates
    labels = [month_label(d) if monthly else d for d in dates[::step]]
    ax.set_xticks(range(0, len(dates), step), labels, fontsize=8, rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("Health score")
    # Names from data are drawn literally: no math text (`$...$`), cut to fit the title.
    ax.set_title(f"{_chart_label(card.account['name'], CHART_NAME_CHARS)}: health score",
                 fontsize=10, parse_math=False)
    with warnings.catch_warnings():  # an emoji in a name has no glyph in the font: drawn as a box
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
    return fig
