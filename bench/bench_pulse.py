"""Benchmark: build every Customer Owner Pulse of a large book (no Slack calls).

    .venv/bin/python bench/bench_pulse.py [--owners 5000] [--accounts 100000] [--seed 7]

Writes a synthetic scored book (accounts + two scored periods, straight into
the tables, seeded) to a temporary SQLite file, then times:
  build  - `bot.pulse.build.build_pulses` (all owners' data: totals, movements, upsells)
  render - `messages.pulse.pulse_message` for every pulse (Jinja2 + Block Kit + checks)
The target is build + render under 10 s for 5,000 owners and 100,000 accounts.
CPU time is printed too: on a shared, busy machine wall time says more about the
neighbours than about this code.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import load_settings
from bot.pulse.build import build_pulses, to_send
from messages.pulse import pulse_message
from storage.store import Store

PERIODS = ("2026-10-01", "2026-11-01")


def write_book(store: Store, settings, owners: int, accounts: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cats = settings.renewal_categories
    likely, unlikely = settings.upsell_index.likely.name, settings.upsell_index.unlikely.name
    owner_of = rng.integers(0, owners, accounts)
    owner_of[:owners] = np.arange(owners)           # every owner has at least one account
    arr = np.round(rng.lognormal(10.5, 1.0, accounts), -2)
    ids = [f"ACC{i:06d}" for i in range(accounts)]
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO accounts (account_id, name, name_key, owner_email, owner_slack_id, arr,"
            " first_as_of, last_as_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(ids[i], f"Account {i}", f"account {i}", f"csm{owner_of[i]}@example.com",
              f"U{owner_of[i]:07d}" if owner_of[i] % 2 else None, float(arr[i]),
              PERIODS[0], PERIODS[1]) for i in range(accounts)])
        health = rng.uniform(0, 100, accounts)
        for as_of in PERIODS:
            upsell = rng.random(accounts) < 0.15
            conn.executemany(
                "INSERT INTO scores (account_id, as_of, health_score, churn_probability,"
                " renewal_index, upsell_probability, upsell_index, segment_id, churn_model,"
                " upsell_model, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 'c1', 'u1', ?)",
                [(ids[i], as_of, float(health[i]), 1 - health[i] / 100,
                  settings.renewal_category(health[i]), 0.5 if upsell[i] else 0.1,
                  likely if upsell[i] else unlikely, as_of + "T00:00:00+00:00")
                 for i in range(accounts)])
            health = np.clip(health + rng.normal(0, 12, accounts), 0, 100)
    assert len(cats) >= 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="End with the figures as one JSON line.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pulse-") as tmp:
        settings = load_settings(None, Path(tmp) / "bench.db", env={})
        with Store(settings.db_path) as store:
            t = time.perf_counter()
            write_book(store, settings, args.owners, args.accounts, args.seed)
            setup = time.perf_counter() - t

            t, c = time.perf_counter(), time.process_time()
            pulses = build_pulses(store, settings)
            build, build_cpu = time.perf_counter() - t, time.process_time() - c

            t, c = time.perf_counter(), time.process_time()
            messages = [pulse_message(p) for p in to_send(pulses, settings)]
            render, render_cpu = time.perf_counter() - t, time.process_time() - c

    moves = sum(len(p.movements) for p in pulses)
    blocks = sum(len(m.blocks) for m in messages)
    print(f"book: {args.accounts:,} accounts, {args.owners:,} owners, 2 scored periods "
          f"(written in {setup:.1f} s)")
    print(f"pulses: {len(pulses):,} owners, {moves:,} movements, {len(messages):,} messages, "
          f"{blocks:,} blocks")
    print(f"build  {build:6.2f} s wall, {build_cpu:6.2f} s CPU")
    print(f"render {render:6.2f} s wall, {render_cpu:6.2f} s CPU "
          f"({1000 * render / max(len(messages), 1):.2f} ms per message)")
    print(f"total  {build + render:6.2f} s wall, {build_cpu + render_cpu:6.2f} s CPU (target < 10 s)")
    if args.json:
        print(json.dumps({"owners": len(pulses), "build_s": build, "render_s": render,
                          "total_s": build + render, "total_cpu_s": build_cpu + render_cpu}))


if __name__ == "__main__":
    main()
