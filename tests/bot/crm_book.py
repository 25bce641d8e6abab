"""A scored book written straight into the tables, sized for the CRM batch caps."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.store import Store

AS_OF = "2026-11-01"
NOW = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
CATEGORIES = ["Likely to Renew", "Watch", "At Risk", "Likely to Churn"]


def account_id(i: int) -> str:
    return f"ACC-{i:05d}"


def score_book(store: Store, n: int, *, shift: dict[int, float] | None = None,
               company_ids: dict[int, str] | None = None) -> None:
    """n scored current accounts; `shift` moves some health scores (and their categories)."""
    shift = shift or {}
    with store.transaction() as conn:
        if company_ids is not None and "m_hubspot_company_id" not in store.snapshot_columns():
            conn.execute('ALTER TABLE snapshots ADD COLUMN "m_hubspot_company_id" TEXT')
        for i in range(n):
            health = (37 + i * 7) % 100 + shift.get(i, 0)
            band = CATEGORIES[0 if health >= 75 else 1 if health >= 50 else 2 if health >= 25 else 3]
            conn.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, NULL, 1000, NULL, NULL,"
                         " 'active', ?, ?)", (account_id(i), f"Company {i}", f"company {i}",
                                              "csm@example.com", AS_OF, AS_OF))
            conn.execute("INSERT OR REPLACE INTO snapshots (account_id, as_of) VALUES (?, ?)",
                         (account_id(i), AS_OF))
            if company_ids is not None and i in company_ids:
                conn.execute('UPDATE snapshots SET "m_hubspot_company_id" = ? WHERE account_id = ?',
                             (company_ids[i], account_id(i)))
            conn.execute(
                "INSERT OR REPLACE INTO scores (account_id, as_of, health_score, churn_probability,"
                " renewal_index, upsell_probability, upsell_index, churn_model, scored_at)"
                " VALUES (?, ?, ?, ?, ?, 0.2, ?, 'churn-v1', ?)",
                (account_id(i), AS_OF, health + 0.4, round(1 - health / 100, 4), band,
                 "Likely to upsell" if i % 3 == 0 else "Not likely to upsell", NOW.isoformat()))


