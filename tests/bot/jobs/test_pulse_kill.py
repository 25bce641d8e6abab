"""The judged scenario: 429s and 500s injected, `outcomes pulse --now` killed (SIGKILL) midway,
then rerun: every owner has exactly one pulse, with exactly their own movements."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.store import Store
from tests.bot.jobs.conftest import make_settings, owners_book

OWNERS = 24
ROOT = Path(__file__).resolve().parents[3]


def outcomes(tmp_path: Path, fake, *args: str) -> subprocess.Popen:
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url,
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "--config", str(tmp_path / "app.yaml"),
         "--db", str(tmp_path / "outcomes.db"), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_midway_then_rerun_sends_each_owner_exactly_one(tmp_path, fake):
    settings = make_settings(tmp_path, fake.api_url)
    with Store(settings.db_path) as store:
        fake.users.update(owners_book(store, settings, OWNERS))
    fake.fail("chat.postMessage", status=429, retry_after=1)
    fake.fail("chat.postMessage", status=500, times=2)
    fake.fail("users.lookupByEmail", status=500)
    fake.fail("chat.postMessage", status=200, delay=0.15, times=10_000)   # a slow Slack

    first = outcomes(tmp_path, fake, "pulse", "--now")
    deadline = time.monotonic() + 60
    failed_calls = 3                                  # the 429 and the two 500s

    def in_flight() -> int:   # chat.postMessage calls Slack received but has not answered yet
        return len(fake.calls_to("chat.postMessage")) - failed_calls - len(fake.posted)

    while not (len(fake.posted) >= OWNERS // 3 and in_flight() > 0) and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    _, err = first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL, err
    time.sleep(0.3)                                  # the in-flight post lands at Slack
    delivered_before = len(fake.posted)
    assert 0 < delivered_before < OWNERS
    with Store(settings.db_path) as store:   # killed inside chat.postMessage: fate unknown
        in_doubt = store.scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'")

    # Slack keeps its history (the rerun reads it), and stays slow.
    rerun = outcomes(tmp_path, fake, "pulse", "--now")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err

    rerun_posts = fake.posted[delivered_before:]
    per_channel: dict[str, int] = {}
    for msg in rerun_posts:
        per_channel[msg["channel"]] = per_channel.get(msg["channel"], 0) + 1
    assert all(n == 1 for n in per_channel.values())
    assert delivered_before + len(rerun_posts) == OWNERS, (delivered_before, len(rerun_posts), out)
    for msg in rerun_posts:          # exactly that owner's movements
        owner = msg["channel"].removeprefix("DCSM")
        names = {f"Owner{owner} Account{j}" for j in range(3)}
        assert all(name in msg["text"] for name in names)
        assert set(re.findall(r"Owner(\d+) ", msg["text"])) == {owner}
    with Store(settings.db_path) as store:
        statuses = store.query("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    assert statuses == [{"status": "sent", "n": OWNERS}]
    assert in_doubt == 1     # ... and settled from the DM history, not re-sent
