"""One definition of the book's current accounts: every answer counts the same accounts.

The summary, the lists, the CRM export, the segments (their sizes and their members), the
pulse and App Home all count the accounts scored in the latest scored period. The demo book
has accounts that left without a 'churned' row (absent from the latest snapshot), which an
older definition ("seen within a horizon") still counted in some answers but not in others.
"""

from __future__ import annotations

import pytest

from bot import services
from bot.config import load_settings
from bot.pulse.build import build_pulses
from bot.services import accounts as acc
from bot.services import catalog, home
from bot.services.core import Requester
from scoring import persist
from storage.store import Store

pytestmark = pytest.mark.slow   # trains on the demo book (scored_db)


GONE_SILENTLY = (
    "SELECT count(*) FROM accounts WHERE (status IS NULL OR status != 'churned')"
    " AND last_as_of < (SELECT max(as_of) FROM snapshots)"
    " AND last_as_of >= date((SELECT max(as_of) FROM snapshots), '-90 days')")


def test_every_answer_counts_the_same_current_accounts(scored_db) -> None:
    db, _ = scored_db
    settings = load_settings(None, str(db), env={})
    with Store(db) as store:
        assert store.scalar(GONE_SILENTLY) > 0   # the case that used to disagree
        summary = services.summary(store, settings)
        total = summary.total_accounts
        assert total > 100
        assert sum(line.accounts for line in summary.renewal) == total
        assert sum(acc.list_accounts(store, settings, acc.ListQuery(c, "renewal")).total
                   for c in settings.renewal_categories) == total
        assert len(persist.export_frame(store)) == total

        segments = catalog.segments(store, settings).segments
        assert sum(s["size"] for s in segments) == total
        for s in segments:   # `/outcome segments` and `/outcome segment N` agree
            assert catalog.segment(store, settings, s["segment_id"]).members == s["size"]

        pulses = build_pulses(store, settings, include_sent=True)
        owned = store.scalar(
            "SELECT count(*) FROM scores s JOIN accounts a ON a.account_id = s.account_id"
            " WHERE s.as_of = (SELECT max(as_of) FROM scores)"
            " AND (a.owner_email IS NOT NULL OR a.owner_slack_id IS NOT NULL)")
        assert sum(p.accounts for p in pulses) == owned > 0
        for p in pulses[:3]:   # App Home shows an owner the accounts their pulse counts
            me = Requester(user_id=p.owner_slack_id, owner_email=p.owner_email)
            assert home.home(store, settings, me).summary.total_accounts == p.accounts
