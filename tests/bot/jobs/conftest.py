"""Fixtures for the proactive jobs: a scored book written straight into the tables
(the scoring engineer's contract), settings pointing at a local fake Slack."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.config import Settings, load_settings
from bot.slack_client import make_client
from storage.store import Store
from tests.fakes.slack_api import FakeSlack

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
P1, P2, P3 = "2026-10-01", "2026-11-01", "2026-12-01"
ADMIN_CHANNEL = "CADMIN"
SUMMARY_CHANNEL = "CSUMMARY"


class Clock:
    """A settable clock: `clock()` is now; `clock.advance(minutes=5)` moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def insert_accounts(store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO accounts (account_id, name, name_key, owner_email, owner_slack_id, arr,"
            " first_as_of, last_as_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET owner_email = excluded.owner_email,"
            " owner_slack_id = excluded.owner_slack_id, arr = excluded.arr",
            [(r["account_id"], r.get("name", r["account_id"]), r.get("name", r["account_id"]).casefold(),
              r.get("owner_email"), r.get("owner_slack_id"), r.get("arr"), P1, P3) for r in rows],
        )


def insert_scores(store: Store, settings: Settings, as_of: str,
                  scores: Mapping[str, tuple[str, bool]]) -> None:
    """account_id -> (Renewal Index category, likely to upsell?) for one scored period."""
    band_min = {b.name: b.min for b in settings.renewal_index.bands}
    likely, unlikely = settings.upsell_index.likely.name, settings.upsell_index.unlikely.name
    rows = []
    for acc, (category, upsell) in scores.items():
        health = band_min[category] + 5.0
        rows.append((acc, as_of, health, 1 - health / 100, category, 0.7 if upsell else 0.1,
                     likely if upsell else unlikely, 1, "churn-v1", "upsell-v1",
                     f"{as_of}T00:00:00+00:00"))
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO scores (account_id, as_of, health_score, churn_probability, renewal_index,"
            " upsell_probability, upsell_index, segment_id, churn_model, upsell_model, scored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def write_config(folder: Path, **overrides: Any) -> Path:
    # The standard book's tests count Ben's "all steady" DM; by default steady owners get
    # none (tests/bot/jobs/test_noise.py).
    config = {"slack": {"admin_channel": ADMIN_CHANNEL, "summary_channel": SUMMARY_CHANNEL},
              "pulse": {"send_when_steady": True}}
    for key, value in overrides.items():
        config.setdefault(key, {}).update(value) if isinstance(value, dict) else config.update({key: value})
    path = folder / "app.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def make_settings(tmp_path: Path, api_url: str = "http://127.0.0.1:9/api/", **overrides: Any) -> Settings:
    return load_settings(write_config(tmp_path, **overrides), tmp_path / "outcomes.db",
                         env={"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": api_url})


# Owners of the standard book. Ana and Ben have Slack users found by email; Cy
# has an owner_slack_id in the data; Dee is not in Slack.
OWNERS = {"ana@example.com": "UANA", "ben@example.com": "UBEN"}
BOOK = [
    {"account_id": "A1", "name": "Acme", "owner_email": "ana@example.com", "arr": 120_000},
    {"account_id": "A2", "name": "Apex", "owner_email": "Ana@Example.com", "arr": 50_000},
    {"account_id": "A3", "name": "Atlas", "owner_email": "ana@example.com", "arr": 10_000},
    {"account_id": "B1", "name": "Beacon", "owner_email": "ben@example.com", "arr": 80_000},
    {"account_id": "B2", "name": "Birch <&> Co", "owner_email": "ben@example.com", "arr": 30_000},
    {"account_id": "C1", "name": "Cedar", "owner_email": "cy@example.com", "owner_slack_id": "UCY",
     "arr": 70_000},
    {"account_id": "D1", "name": "Delta", "owner_email": "dee@example.com", "arr": 5_000},
]
PERIOD1 = {"A1": ("Watch", False), "A2": ("Likely to Renew", False), "A3": ("At Risk", False),
           "B1": ("Likely to Renew", False), "B2": ("Watch", False), "C1": ("Watch", False),
           "D1": ("At Risk", False)}
PERIOD2 = {"A1": ("Likely to Churn", False), "A2": ("Likely to Renew", True), "A3": ("Watch", False),
           "B1": ("Likely to Renew", False), "B2": ("Watch", True), "C1": ("At Risk", False),
           "D1": ("Likely to Churn", False)}


def scored_book(store: Store, settings: Settings, periods: Sequence[Mapping[str, tuple[str, bool]]]
                = (PERIOD1, PERIOD2), dates: Sequence[str] = (P1, P2)) -> None:
    insert_accounts(store, BOOK)
    for as_of, scores in zip(dates, periods, strict=False):
        insert_scores(store, settings, as_of, scores)


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users=dict(OWNERS)) as server:
        yield server


@pytest.fixture()
def settings(tmp_path: Path, fake: FakeSlack) -> Settings:
    return make_settings(tmp_path, fake.api_url)


@pytest.fixture()
def store(settings: Settings) -> Iterator[Store]:
    with Store(settings.db_path) as s:
        yield s


@pytest.fixture()
def client(settings: Settings) -> WebClient:
    return make_client(settings)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def dms(fake: FakeSlack) -> dict[str, list[dict[str, Any]]]:
    """Delivered messages per DM channel (D...), oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in fake.posted:
        if m["channel"].startswith("D"):
            out.setdefault(m["channel"], []).append(m)
    return out


def owners_book(store: Store, settings: Settings, owners: int, per_owner: int = 3,
                dates: Sequence[str] = (P1, P2)) -> dict[str, str]:
    """`owners` owners (csm<i>@example.com, Slack id UCSM<i>), each with `per_owner` accounts
    and one movement per account between the two periods. Returns email -> Slack id."""
    cats = settings.renewal_categories
    rows, first, second = [], {}, {}
    for i in range(owners):
        for j in range(per_owner):
            acc = f"O{i:03d}-{j}"
            rows.append({"account_id": acc, "name": f"Owner{i} Account{j}",
                         "owner_email": f"csm{i}@example.com", "arr": 1000.0 * (j + 1)})
            first[acc] = (cats[(i + j) % len(cats)], False)
            second[acc] = (cats[(i + j + 1) % len(cats)], j == 0)
    insert_accounts(store, rows)
    insert_scores(store, settings, dates[0], first)
    insert_scores(store, settings, dates[1], second)
    return {f"csm{i}@example.com": f"UCSM{i}" for i in range(owners)}
