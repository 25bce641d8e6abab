"""A small scored book written straight into the tables, following the scoring contract.

Tests use this instead of running the models: it is fast, and it pins exactly
what each account's scores are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from storage.store import Store

DATES = ["2026-09-01", "2026-10-01", "2026-11-01"]
CHURN_MODEL = "churn-2026-11-01-a1b2"
UPSELL_MODEL = "upsell-2026-11-01-c3d4"
RENEWAL = ["Likely to Renew", "Watch", "At Risk", "Likely to Churn"]
LIKELY, UNLIKELY = "Likely to upsell", "Not likely to upsell"


@dataclass
class Acct:
    account_id: str
    name: str
    owner_email: str | None
    owner_slack_id: str | None
    arr: float
    health: list[float]            # one per DATES entry (None = not scored that date)
    upsell: list[str]
    segment_id: int = 1
    products: str = "Core;Analytics"
    renewal_date: str = "2027-03-01"
    extra: dict[str, Any] = field(default_factory=dict)


def band(health: float) -> str:
    return RENEWAL[0] if health >= 75 else RENEWAL[1] if health >= 50 else RENEWAL[2] if health >= 25 else RENEWAL[3]


BOOK = [
    Acct("ACC-000001", "Acme Analytics", "maria.lopez@example.com", "UMARIA", 240_000,
         [82, 71, 42], [LIKELY, UNLIKELY, UNLIKELY]),
    Acct("ACC-000002", "Acme Logistics", "james.chen@example.com", None, 90_000,
         [60, 64, 80], [UNLIKELY, UNLIKELY, LIKELY]),
    Acct("ACC-000003", "Globex Health", "maria.lopez@example.com", "UMARIA", 150_000,
         [30, 28, 20], [UNLIKELY, UNLIKELY, UNLIKELY], segment_id=2),
    Acct("ACC-000004", "Initech Labs", "james.chen@example.com", None, 60_000,
         [90, 91, 93], [LIKELY, LIKELY, LIKELY], segment_id=2),
    Acct("ACC-000005", "Tyrell & <Sons>", "maria.lopez@example.com", "UMARIA", 30_000,
         [55, 52, 51], [UNLIKELY, UNLIKELY, UNLIKELY]),
    Acct("ACC-000006", "Northwind Energy", "aisha.khan@example.com", None, 500_000,
         [77, 78, 60], [UNLIKELY, LIKELY, UNLIKELY], segment_id=2),
]


def drivers_for(a: Acct) -> list[dict[str, Any]]:
    return [
        {"direction": "down", "component": "Product usage", "metric": "logins_30d",
         "label": "Logins (30d)", "value": 12, "typical": 40, "level": "Low",
         "text": "Logins (30d): Low for its segment - 12 vs 40 typical"},
        {"direction": "down", "component": "Support", "metric": "sev1_tickets_90d",
         "label": "Sev-1 tickets (90d)", "value": 3, "typical": 0, "level": "High",
         "text": "Sev-1 tickets (90d): High for its segment - 3 vs 0 typical"},
        {"direction": "up", "component": "Interaction frequency", "metric": "meetings_90d",
         "label": "Meetings (90d)", "value": 6, "typical": 4, "level": "Medium",
         "text": "Meetings (90d): Medium for its segment - 6 vs 4 typical"},
    ]


def seed_book(store: Store, book: list[Acct] = BOOK, dates: list[str] = DATES,
              provisional: bool = False, extras: bool = True) -> None:
    now = "2026-11-02T06:00:00+00:00"
    with store.transaction() as conn:
        for a in book:
            conn.execute(
                "INSERT INTO accounts (account_id, name, name_key, owner_email, owner_slack_id, arr,"
                " renewal_date, products, status, first_as_of, last_as_of)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                (a.account_id, a.name, a.name.casefold(), a.owner_email, a.owner_slack_id, a.arr,
                 a.renewal_date, a.products, dates[0], dates[-1]),
            )
            for i, d in enumerate(dates):
                h = a.health[i]
                if h is None:
                    continue
                conn.execute(
                    "INSERT INTO scores (account_id, as_of, health_score, churn_probability,"
                    " renewal_index, upsell_probability, upsell_index, segment_id, drivers, levels,"
                    " churn_model, upsell_model, scored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (a.account_id, d, h, 1 - h / 100, band(h),
                     0.7 if a.upsell[i] == LIKELY else 0.1, a.upsell[i], a.segment_id,
                     json.dumps(drivers_for(a)) if i == len(dates) - 1 else None,
                     json.dumps({"logins_30d": "Low", "meetings_90d": "Medium"}),
                     CHURN_MODEL, UPSELL_MODEL, now),
                )
        if not extras:
            return
        for kind, version, auc in (("churn", CHURN_MODEL, 0.81), ("upsell", UPSELL_MODEL, 0.74)):
            conn.execute(
                "INSERT INTO models (kind, version, trained_at, train_start, train_end, data_fingerprint,"
                " features, params, metrics, lib_versions, provisional, active, blob)"
                " VALUES (?, ?, ?, '2025-06-01', '2026-08-01', 'fp', '[]', '{}', ?, '{}', ?, 1, x'00')",
                (kind, version, now, json.dumps({"roc_auc": auc, "threshold": 0.4}), int(provisional)),
            )
        weights = {CHURN_MODEL: [("Product usage", 0.45, "more usage, less churn"),
                                 ("Support", 0.25, "severe tickets raise churn"),
                                 ("Interaction frequency", 0.2, "more meetings, less churn"),
                                 ("Billing", 0.1, "late payments raise churn")],
                   UPSELL_MODEL: [("Product usage", 0.6, "seats near the limit"),
                                  ("Firmographics", 0.4, "growing companies expand")]}
        for version, rows in weights.items():
            for comp, w, words in rows:
                conn.execute("INSERT INTO indicators (model_version, component, weight, direction, detail) VALUES (?, ?, ?, ?, ?)",
                             (version, comp, w, words, json.dumps({"logins_30d": w})))
        for sid, name in ((1, "Mid-market growth"), (2, "Enterprise steady")):
            members = [a for a in book if a.segment_id == sid]
            conn.execute(
                "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sid, CHURN_MODEL, name, len(members), sum(a.arr for a in members) / max(1, len(members)),
                 json.dumps(["Core", "Analytics"]), 0.12 if sid == 1 else 0.05, 0.2,
                 json.dumps({"logins_30d": {"low": 20, "median": 40, "high": 80}}),
                 json.dumps({"plan": "Growth"})),
            )
        for comp, cols, present, connected, cov in (
            ("Product usage", ["logins_30d", "seats_used"], ["logins_30d", "seats_used"], 1, 0.98),
            ("Support", ["support_tickets_30d"], ["support_tickets_30d"], 1, 0.7),
            ("Marketing engagement", ["webinar_attendance"], [], 0, 0.0),
        ):
            conn.execute("INSERT INTO components VALUES (?, ?, ?, ?, ?, ?)",
                         (comp, json.dumps(cols), json.dumps(present), connected, cov, now))
