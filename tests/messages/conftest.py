from __future__ import annotations

import pytest

from bot.config import load_settings
from storage.store import Store
from tests.bot.book import seed_book


@pytest.fixture()
def settings(tmp_path):
    return load_settings(config_path=None, db_path=str(tmp_path / "t.db"),
                         env={"OUTCOMES_CONFIG": "", "SLACK_BOT_TOKEN": "xoxb-test",
                              "SLACK_SIGNING_SECRET": "secret"})


@pytest.fixture()
def store():
    with Store() as s:
        seed_book(s)
        yield s


@pytest.fixture()
def empty_store():
    with Store() as s:
        yield s
