"""A synthetic but realistic SaaS book of business, for the demo and benchmarks.

Every account has hidden traits that drive what happens to it, and the metrics
a CS team would export are noisy views of those traits. The causes, strongest
first, so tests can check that the models find them:

- churn (decided mostly at the yearly renewal): falling product usage (health
  trend -> logins, seat use, adoption, days since last login), late payments
  (billing), severe support tickets (support), low NPS (sentiment), and few
  meetings with the CSM (interaction frequency). Discounts and region are noise.
- upsell: high seat utilisation together with company growth (seats used near
  the seat count, rising active users and employees); an account paying late or
  hit by severe tickets rarely gets an expansion approved.

What no real book does, the generator does not do either (each was seen in the
models' explanations of an earlier version):

- customers in the first snapshot have been customers for a while (3 to 36
  months), so they renew and churn from the first month like the rest; an earlier
  version made them all brand new, which held churn in the first months of every
  book artificially low (half the later rate), and the first walk-forward models,
  trained on those months, under-predicted by half;
- products in use make an account a little stickier (each product beyond the
  second lowers churn, each below it raises it), instead of no effect at all, which
  let a model read chance differences between a few dozen accounts as "more
  products, more churn";
- support tickets come with friction as well as with size and the account's habit
  of contacting support (unhealthy accounts file more), and sev1 tickets come from
  the account's health alone; an earlier version drove both counts by the same
  support habit and tickets by nothing else, which made "more tickets at the same
  sev1 count means a healthier account" true of the book (the models learnt "more
  support tickets, lower churn risk");
- late payments and sev1 tickets lower the chance of an upsell instead of having
  no effect on it.

Values go missing where they would in real exports: NPS only for accounts that
answered the last survey, CSAT only with tickets, adoption not tracked on the
Starter plan, an occasional blank meeting count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and pandas load when a book is made: `outcomes --help` stays quick
    import numpy as np
    import pandas as pd

DEMO_END = date(2026, 11, 1)
OWNERS = [
    ("Maria Lopez", "maria.lopez"), ("James Chen", "james.chen"), ("Aisha Khan", "aisha.khan"),
    ("Tom Becker", "tom.becker"), ("Priya Nair", "priya.nair"), ("Lucas Martin", "lucas.martin"),
    ("Sofia Rossi", "sofia.rossi"), ("Daniel Kim", "daniel.kim"), ("Emma Wilson", "emma.wilson"),
    ("Noah Schmidt", "noah.schmidt"), ("Olivia Brown", "olivia.brown"), ("Ravi Patel", "ravi.patel"),
]
EMAIL_DOMAIN = "example.com"
_PREFIX = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka",
           "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Gringotts", "Oscorp",
           "Pied Piper", "Dunder", "Massive", "Blue Sky", "Red Rock", "Silver Lake", "Bright",
           "Summit", "Harbor", "Cobalt", "Evergreen", "Falcon", "Granite", "Horizon", "Ironwood",
           "Juniper", "Keystone", "Lumen", "Meridian", "Nimbus", "Orion", "Pinnacle", "Quantum",
           "Redwood", "Sequoia", "Tidal", "Vertex", "Willow", "Zenith", "Atlas", "Beacon", "Cedar"]
_SUFFIX = ["Analytics", "Logistics", "Health", "Labs", "Foods", "Energy", "Retail", "Media",
           "Robotics", "Finance", "Travel", "Systems", "Software", "Capital", "Studios", "Motors",
           "Bio", "Networks", "Foundry", "Partners", "Works", "Group", "Corp", "Industries"]
PLANS = ["Starter", "Growth", "Enterprise"]
PRICE_PER_SEAT = {"Starter": 300.0, "Growth": 600.0, "Enterprise": 1100.0}
INDUSTRIES = ["Software", "Retail", "Healthcare", "Finance", "Manufacturing", "Education", "Media"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
PRODUCTS = ["Core", "Analytics", "Automation", "Integrations", "Mobile"]
NOTES = ["QBR held", "champion left", "exec sponsor engaged", "asked about pricing",
         "renewal call booked", "onboarding done", "migration in progress", "no contact"]


@dataclass(frozen=True)
class DemoSpec:
    accounts: int = 400
    owners: int = 12
    months: int = 18
    end: date = DEMO_END
    seed: int = 42
    # Share of accounts already customers at the first snapshot; the rest join later.
    at_start: float = 0.75
    # Churn level (added to every account's churn log-odds) and its change per month
    # (negative: churn drifting down), for simulated low-churn and drifting books.
    churn_shift: float = 0.0
    churn_drift: float = 0.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    import numpy as np

    combos = [f"{p} {s}" for p in _PREFIX for s in _SUFFIX]
    picks = rng.permutation(len(combos))
    names = [combos[i % len(combos)] + ("" if i < len(combos) else f" {i // len(combos) + 1}")
             for i in (picks[j % len(picks)] + (j // len(picks)) * len(combos) for j in range(n))]
    return np.array(names, dtype=object)


def _owners(spec: DemoSpec) -> list[tuple[str, str]]:
    base = list(OWNERS)
    extra = [(f"CSM {i}", f"csm{i}") for i in range(len(base) + 1, spec.owners + 1)]
    return [(name, f"{local}@{EMAIL_DOMAIN}") for name, local in (base + extra)[: spec.owners]]


def generate(spec: DemoSpec = DemoSpec()) -> pd.DataFrame:
    """All monthly snapshots of the book, one row per (account, month)."""
    import pandas as pd

    return pd.concat(list(iter_months(spec)), ignore_index=True)


def iter_months(spec: DemoSpec = DemoSpec()) -> Iterator[pd.DataFrame]:
    """The book one monthly snapshot at a time (what `generate` concatenates), so a
    benchmark book of millions of rows can be written without holding it whole."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(spec.seed)
    n, months = spec.accounts, spec.months
    dates = pd.date_range(end=pd.Timestamp(spec.end), periods=months, freq="MS")
    owners = _owners(spec)

    # Hidden traits.
    joined = np.where(rng.random(n) < spec.at_start, 0, rng.integers(1, max(months - 2, 2), n))
    # Months as a customer before the first snapshot: 3 to 36 for those already there
    # (drawn from a stream of its own, so every other draw is what it was).
    tenure0 = np.where(joined == 0, np.random.default_rng([spec.seed, 1]).integers(3, 37, n), 0)
    health0 = rng.normal(0.6, 0.9, n)
    trend = rng.normal(0.0, 0.03, n)
    # A third of the accounts start sliding at some point (before, during or after the
    # window), so the book always holds some newly declining accounts.
    slide_start = rng.integers(-6, months + 6, n)
    slide = (rng.random(n) < 0.35) * rng.uniform(0.12, 0.25, n)
    billing_trouble = rng.random(n) < 0.12
    support_load = rng.gamma(2.0, 0.5, n)
    engagement = 0.6 * health0 + rng.normal(0, 0.8, n)
    growth = rng.normal(0.01, 0.015, n)                                 # employees per month
    employees0 = np.exp(rng.normal(5.0, 1.2, n)).round() + 5
    plan_idx = np.clip(np.digitize(np.log(employees0) + rng.normal(0, 0.6, n), [4.5, 6.0]), 0, 2)
    plan = np.array(PLANS, dtype=object)[plan_idx]
    seats0 = np.maximum(3, (employees0 * rng.uniform(0.05, 0.3, n)).round())
    price = np.array([PRICE_PER_SEAT[p] for p in plan]) * rng.lognormal(0, 0.25, n)
    renewal_month = rng.integers(0, 12, n)
    industry = rng.choice(INDUSTRIES, n)
    region = rng.choice(REGIONS, n)
    discount = np.round(np.clip(rng.normal(8, 6, n), 0, 30), 1)
    owner_idx = rng.integers(0, len(owners), n)
    n_products = np.clip(1 + plan_idx + rng.integers(0, 2, n), 1, len(PRODUCTS))
    names = _names(rng, n)
    ids = np.array([f"ACC-{i + 1:06d}" for i in range(n)], dtype=object)

    alive = np.ones(n, dtype=bool)
    seats = seats0.copy()
    arr = seats * price
    employees = employees0.copy()
    for t, when in enumerate(dates):
        present = alive & (joined <= t)
        age = t - joined
        months_customer = age + tenure0
        sliding = slide * np.clip(t - slide_start, 0, 12)
        health = health0 + trend * age - sliding + rng.normal(0, 0.25, n)
        employees = np.maximum(5, employees * np.exp(growth + rng.normal(0, 0.01, n)))
        utilisation = np.clip(_sigmoid(0.9 + 0.9 * health + rng.normal(0, 0.2, n)), 0.02, 1.0)
        seats_used = np.minimum(seats, np.round(seats * utilisation))
        active_users = np.round(seats_used * rng.uniform(0.7, 1.0, n))
        logins = np.round(active_users * np.exp(1.6 + 0.35 * health + rng.normal(0, 0.3, n)))
        adoption = np.round(100 * _sigmoid(0.2 + 0.7 * health + rng.normal(0, 0.4, n)), 1)
        days_idle = np.round(rng.exponential(np.exp(1.2 - 0.9 * health)))
        tickets = rng.poisson(support_load * np.sqrt(seats) * 0.3 * np.exp(-0.3 * health))
        sev1 = rng.poisson(0.15 * np.exp(-0.6 * health))
        csat = np.round(np.clip(4.2 + 0.4 * health - 0.5 * sev1 + rng.normal(0, 0.4, n), 1, 5), 1)
        nps = np.clip(np.round(7 + 1.6 * health + rng.normal(0, 1.3, n)), 0, 10)
        meetings = rng.poisson(np.exp(0.6 + 0.5 * engagement))
        emails = rng.poisson(np.exp(1.5 + 0.4 * engagement))
        late = np.where(billing_trouble & (rng.random(n) < 0.6), rng.integers(10, 75, n), 0)
        late = np.where(rng.random(n) < 0.03, rng.integers(1, 20, n), late)

        # Renewal decisions in the renewal month (the month `renewal_date` names): a
        # leaver is marked churned in, or missing from, that month's snapshot. A little
        # churn happens in between, mostly among unhealthy accounts.
        at_renewal = (when.month == renewal_month + 1) & (months_customer > 0)
        risk = (-1.2 - 1.8 * health + 0.8 * (sliding > 0) + 1.5 * (late > 0) + 0.7 * sev1
                - 0.3 * (nps - 7) - 0.3 * np.minimum(meetings, 4) - 0.3 * (n_products - 2)
                + rng.normal(0, 0.3, n) + spec.churn_shift + spec.churn_drift * t)
        p_churn = np.where(at_renewal, _sigmoid(risk), _sigmoid(risk - 2.0))
        # Every account shows in at least one snapshot before it can leave.
        churns = present & (rng.random(n) < p_churn) & (months_customer > 1) & (age > 0)
        p_up = _sigmoid(-4.4 + 4.0 * (utilisation - 0.8) + 60 * growth + 0.6 * health
                        - 1.0 * (late > 0) - 0.5 * sev1)
        upsells = present & ~churns & (rng.random(n) < p_up)
        seats = np.where(upsells, np.round(seats * rng.uniform(1.15, 1.5, n)), seats)
        arr = seats * price

        renew_year = when.year + ((renewal_month + 1) <= when.month)
        renewal = pd.to_datetime(
            {"year": np.where((renewal_month + 1) > when.month, when.year, renew_year),
             "month": renewal_month + 1, "day": 1}
        )
        rows = present.copy()
        # Half of the leavers show a last snapshot marked churned; the rest just vanish.
        marked = churns & (rng.random(n) < 0.5)
        status = np.where(marked, "churned", "active")
        frame = pd.DataFrame({
            "account_id": ids, "as_of": when.strftime("%Y-%m-%d"), "name": names,
            "owner_email": [owners[i][1] for i in owner_idx],
            "arr": np.round(arr, 2), "renewal_date": renewal.dt.strftime("%Y-%m-%d"),
            "products": [";".join(PRODUCTS[:k]) for k in n_products],
            "status": status,
            "logins_30d": logins, "active_users": active_users, "seats": seats,
            "seats_used": seats_used,
            "feature_adoption_pct": np.where(plan == "Starter", np.nan, adoption),
            "days_since_last_login": days_idle,
            "meetings_90d": np.where(rng.random(n) < 0.03, np.nan, meetings),
            "emails_30d": emails,
            "support_tickets_30d": tickets, "sev1_tickets_90d": sev1,
            "csat": np.where(tickets > 0, csat, np.nan),
            "nps": np.where(rng.random(n) < 0.35, nps, np.nan),
            "payment_late_days": late, "discount_pct": discount,
            "employees": np.round(employees), "plan": plan, "industry": industry,
            "region": region,
            "notes": [f"{NOTES[k]} (#{i})" for i, k in enumerate(rng.integers(0, len(NOTES), n))],
        })[rows & ~(churns & ~marked)]
        alive &= ~churns
        yield frame.reset_index(drop=True)


def owner_directory(spec: DemoSpec = DemoSpec()) -> list[dict[str, str]]:
    """The demo's CSMs (name, email), e.g. for a fake Slack user directory."""
    return [{"name": name, "email": email} for name, email in _owners(spec)]


def write_csv(book: pd.DataFrame, folder: str | Path) -> list[Path]:
    """One CSV per snapshot month, as a CRM export would arrive."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for as_of, rows in book.groupby("as_of", sort=True):
        path = out / f"snapshots-{as_of[:7]}.csv"
        rows.to_csv(path, index=False, float_format="%.6g")
        paths.append(path)
    return paths
