"""Golden texts: the account card (moved, kept by the dead band, missing from the latest
snapshot), the summary, the owner pulse and the Leading Indicators on a fixed
book, exactly as `outcomes ask` / `outcomes pulse --dry-run` print them.

The book is tests/bot/book.py plus what scoring stores for explanations (structured
drivers, the previous period re-scored by the same model, the movement's reasons, data
gaps), so a change of wording, formatting or order shows up here as a diff.

After an intended change, regenerate the files and review the diff:

    UPDATE_GOLDEN=1 ./dev test tests/messages/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.console import answer, render
from messages.render import check_blocks
from tests.bot.book import CHURN_MODEL, DATES, seed_book

GOLDEN = Path(__file__).parent / "golden"
LATEST, PREVIOUS = DATES[-1], DATES[-2]

DRIVERS = [
    {"direction": "down", "component": "Product usage", "metric": "feature_adoption_pct",
     "label": "Feature adoption (%)", "unit": "percent", "value": 20.8, "typical": 74.7,
     "level": "Low", "sense": "bad", "points": -16.2, "change_3m_pct": -54},
    {"direction": "down", "component": "Product usage", "metric": "seats_used__ratio",
     "label": "Seats used (share of seats)", "unit": "share", "value": 0.4929,
     "typical": 0.83, "level": "Low", "sense": "bad", "points": -6.3, "change_3m_pct": None},
    {"direction": "down", "component": "Support", "metric": "sev1_tickets_90d",
     "label": "Sev1 tickets (90d)", "unit": None, "value": 3, "typical": 0, "level": "High",
     "sense": "bad", "points": -4.5, "change_3m_pct": None},
    {"direction": "up", "component": None, "metric": "ctx__arr", "label": "ARR",
     "unit": "money", "value": 1067860, "typical": 163799, "level": "High", "sense": "good",
     "points": 2.1, "change_3m_pct": None},
    {"direction": "up", "component": "Firmographics", "metric": "region", "label": "Region",
     "unit": None, "value": "EMEA", "typical": "NA", "level": None, "sense": "good",
     "points": 0.9, "change_3m_pct": None},
    # Exact for this account, but against (or without) the model's book-wide direction.
    {"direction": "unclear", "component": "Product usage", "metric": "active_users",
     "label": "Active users", "unit": None, "value": 75, "typical": 115, "level": "Low",
     "sense": "unclear", "points": 1.1, "change_3m_pct": None},
    {"direction": "unclear", "component": None, "metric": "ctx__n_products",
     "label": "Products in use", "unit": None, "value": 4, "typical": 3, "level": "High",
     "sense": "unclear", "points": -7.5, "change_3m_pct": None},
]
MOVEMENT = {
    "renewal": "down", "upsell": None, "from_as_of": PREVIOUS,
    "renewal_from": "Likely to Renew", "renewal_to": "At Risk",
    "upsell_from": "Likely to upsell", "upsell_to": "Not likely to upsell",
    "health_from": 82.0, "health_to": 42.0,
    "reasons": [{"metric": "feature_adoption_pct", "text": "Feature adoption (%) High → Low"},
                {"metric": "sev1_tickets_90d", "text": "Sev1 tickets (90d) 0 → 3"}],
    "upsell_reasons": [{"metric": "seats_used", "text": "Seats used 140 → 120"}],
}
GAPS = {"confidence": "low", "stale_since": None,
        "gaps": [{"component": "Product usage", "since": "2026-10-01", "weight": 0.7}]}
INDICATORS = [
    ("Product usage", 0.62, "lower churn risk with more seats used, higher feature adoption (%)"),
    ("Support", 0.21, "higher churn risk with more sev1 tickets (90d); lower with higher CSAT"),
    ("Billing", 0.17, "higher churn risk with more payment late days"),
]


@pytest.fixture()
def book(empty_store):
    seed_book(empty_store)
    with empty_store.transaction() as conn:
        # Acme Analytics (ACC-000001): Likely to Renew -> Watch under the same model,
        # with its reasons, structured drivers and a data gap.
        conn.execute(
            "UPDATE scores SET drivers = ?, movement = ?, data_gaps = ?, previous_as_of = ?,"
            " previous_health_score = 82, previous_renewal_index = 'Likely to Renew',"
            " previous_upsell_index = 'Likely to upsell' WHERE account_id = 'ACC-000001'"
            " AND as_of = ?",
            (json.dumps(DRIVERS), json.dumps(MOVEMENT), json.dumps(GAPS), PREVIOUS, LATEST))
        conn.execute("DELETE FROM indicators WHERE model_version = ?", (CHURN_MODEL,))
        for comp, weight, words in INDICATORS:
            conn.execute("INSERT INTO indicators (model_version, component, weight, direction, detail) VALUES (?, ?, ?, ?, ?)",
                         (CHURN_MODEL, comp, weight, words, json.dumps({})))
    return empty_store


@pytest.fixture()
def noted(book):
    """The book with a category kept by the dead band and an account missing from the
    latest snapshot."""
    with book.transaction() as conn:
        # Initech Labs (ACC-000004): health 48 kept in Likely to Renew by the dead band
        # (default edge 50, margin 4), upsell 0.38 kept likely (threshold 0.4, margin 10%).
        conn.execute(
            "UPDATE scores SET health_score = 48, renewal_index = 'Likely to Renew',"
            " upsell_probability = 0.38, previous_as_of = ?, previous_health_score = 57,"
            " previous_renewal_index = 'Likely to Renew',"
            " previous_upsell_index = 'Likely to upsell' WHERE account_id = 'ACC-000004'"
            " AND as_of = ?", (PREVIOUS, LATEST))
        # Acme Logistics (ACC-000002): in the previous snapshot, missing from the latest.
        conn.execute("DELETE FROM scores WHERE account_id = 'ACC-000002' AND as_of = ?",
                     (LATEST,))
        conn.execute("UPDATE accounts SET last_as_of = ? WHERE account_id = 'ACC-000002'",
                     (PREVIOUS,))
    return book


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"missing {path}: run UPDATE_GOLDEN=1 ./dev test {__file__}"
    assert text + "\n" == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended: UPDATE_GOLDEN=1 ./dev test tests/messages/test_golden.py")


def test_card_text(book, settings):
    exchange = answer(book, settings, "/outcome Acme Analytics")
    check_blocks(exchange.message.blocks)   # the "not counted" line too
    _check("card.txt", render(exchange))


def test_card_kept_by_the_dead_band_text(noted, settings):
    _check("card_kept.txt", render(answer(noted, settings, "/outcome Initech Labs")))


def test_card_missing_from_the_latest_snapshot_text(noted, settings):
    _check("card_missing.txt", render(answer(noted, settings, "/outcome Acme Logistics")))


def test_summary_text(noted, settings):
    _check("summary.txt", render(answer(noted, settings, "/outcome summary")))


def test_indicators_text(book, settings):
    _check("indicators.txt", render(answer(book, settings, "/outcome indicators")))


def test_pulse_text(book, settings):
    from bot.pulse.build import build_pulses
    from messages.pulse import pulse_text

    pulses = sorted(build_pulses(book, settings), key=lambda p: p.owner)
    _check("pulse.txt", "\n\n".join(f"--- {p.owner}\n{pulse_text(p)}" for p in pulses))
