"""The card and the summary say why: a category kept by the dead band, and an account
missing from the latest snapshot (real SQLite store, the seeded book of tests/bot/book.py)."""

from __future__ import annotations

from bot import services
from bot.console import answer, render
from tests.bot.book import DATES, LIKELY, seed_book

LATEST, PREVIOUS = DATES[-1], DATES[-2]


def _score(store, account_id, **values):
    sets = ", ".join(f"{k} = ?" for k in values)
    with store.transaction() as conn:
        conn.execute(f"UPDATE scores SET {sets} WHERE account_id = ? AND as_of = ?",
                     (*values.values(), account_id, LATEST))


def _kept_in_renew(store):
    # Health 48 under the default bands (edge 50, margin 6) is Watch; last period was
    # Likely to Renew (the previous period re-scored by the same model), so it stays.
    _score(store, "ACC-000004", health_score=48.0, renewal_index="Likely to Renew",
           previous_as_of=PREVIOUS, previous_health_score=57.0,
           previous_renewal_index="Likely to Renew", previous_upsell_index=LIKELY)


def test_the_card_says_when_the_dead_band_kept_a_category(empty_store, settings):
    seed_book(empty_store)
    _kept_in_renew(empty_store)
    text = render(answer(empty_store, settings, "/outcome Initech Labs"))
    assert ("Kept in Likely to Renew: health 48 is within 6 points of the band's edge (50)"
            " and was Likely to Renew last period.") in text
    assert "Kept in Likely to upsell" not in text     # 0.7 is well above the threshold 0.4


def test_the_dead_band_note_takes_its_numbers_from_the_settings(empty_store, settings):
    seed_book(empty_store)
    _kept_in_renew(empty_store)
    def margin(points):
        return settings.model_copy(update={"renewal_index": settings.renewal_index.model_copy(
            update={"hysteresis": points})})

    wider = margin(8)
    assert "within 8 points of the band's edge (50)" in render(
        answer(empty_store, wider, "/outcome Initech Labs"))
    narrow = margin(1)
    assert "Kept in" not in render(answer(empty_store, narrow, "/outcome Initech Labs"))


def test_the_card_says_when_the_upsell_dead_band_kept_it(empty_store, settings):
    seed_book(empty_store)   # the upsell model chose the threshold 0.4
    _kept_in_renew(empty_store)
    _score(empty_store, "ACC-000004", upsell_probability=0.38, upsell_index=LIKELY)
    text = render(answer(empty_store, settings, "/outcome Initech Labs"))
    assert ("Kept in Likely to upsell: the upsell probability 38% is within 10 points of"
            " the threshold (40%) and was Likely to upsell last period.") in text
    # A category that differs from the plain bands for no reason the dead band gives
    # (far from the edge) gets no made-up explanation.
    _score(empty_store, "ACC-000004", health_score=30.0)
    assert "Kept in Likely to Renew" not in render(
        answer(empty_store, settings, "/outcome Initech Labs"))


def _drop_from_latest(store, account_id):
    """The account is in the previous snapshot but not in the latest, and not churned."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM scores WHERE account_id = ? AND as_of = ?",
                     (account_id, LATEST))
        conn.execute("UPDATE accounts SET last_as_of = ? WHERE account_id = ?",
                     (PREVIOUS, account_id))


def test_an_account_missing_from_the_latest_snapshot_is_reported(empty_store, settings):
    seed_book(empty_store)
    before = render(answer(empty_store, settings, "/outcome summary"))
    assert "missing from the latest" not in before
    _drop_from_latest(empty_store, "ACC-000002")   # Acme Logistics, $90k

    card = render(answer(empty_store, settings, "/outcome Acme Logistics"))
    assert f"Confidence low: no data since {PREVIOUS}" in card
    assert (f"Not in the latest snapshot ({LATEST}), so lists, the pulse and the summary"
            " leave it out.") in card
    assert "check that the export includes it" in card

    summary = render(answer(empty_store, settings, "/outcome summary"))
    assert (f"1 account in the {PREVIOUS} snapshot is missing from the latest ({LATEST})"
            " and not marked churned: Acme Logistics.") in summary
    assert "Check the export" in summary
    assert "5 accounts" in summary          # the current accounts are still the latest's
    assert "Acme Logistics" not in render(answer(empty_store, settings, "/outcome list watch"))
    # An owner's summary counts only their own missing accounts.
    assert services.summary(empty_store, settings, owner_email="james.chen@example.com"
                            ).missing_total == 1
    assert services.summary(empty_store, settings, owner_email="maria.lopez@example.com"
                            ).missing_total == 0

    with empty_store.transaction() as conn:   # marked churned: it left, nothing to check
        conn.execute("UPDATE accounts SET status = 'churned' WHERE account_id = 'ACC-000002'")
    assert "missing from the latest" not in render(answer(empty_store, settings, "/outcome summary"))
    assert "no data since" not in render(answer(empty_store, settings, "/outcome Acme Logistics"))


def test_a_current_account_has_no_staleness_note(empty_store, settings):
    seed_book(empty_store)
    card = render(answer(empty_store, settings, "/outcome Acme Logistics"))
    assert "no data since" not in card and "Not in the latest snapshot" not in card
