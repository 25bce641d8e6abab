"""What the router got wrong for a new user: each bad input gets one clear answer, exit 1
from `ask`, and nothing stored."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from bot.cli import main
from storage.store import Store
from tests.bot.book import seed_book

NO_SECRETS = {"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "",
              "OUTCOMES_CONFIG": "", "OUTCOMES_DB": "", "OUTCOMES_PROG": ""}


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "router.db"
    with Store(path) as store:
        seed_book(store)
    return path


def fingerprint(path) -> str:
    with Store(path) as store:
        return hashlib.sha256("\n".join(store.conn.iterdump()).encode()).hexdigest()


def ask(db, text: str, *extra: str):
    return CliRunner().invoke(main, ["--db", str(db), "ask", text, *extra], env=NO_SECRETS,
                              catch_exceptions=False)


@pytest.mark.parametrize(("text", "message"), [
    ("asdkjh 12 !!", "No account matches “asdkjh 12 !!”."),
    ("list watch segment 9", "There is no segment 9. Segments: 1, 2."),
    ("list at risk owner @nobody", "No owner matches @nobody."),
    ("list watch owner @a", "No owner matches @a."),
])
def test_bad_input_one_clear_answer_nothing_stored(db, text: str, message: str) -> None:
    before = fingerprint(db)
    result = ask(db, text)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Did you mean" not in result.output
    assert fingerprint(db) == before


def test_segment_means_the_same_in_list_and_segment(db) -> None:
    assert "There is no segment 9" in ask(db, "segment 9").output
    assert "There is no segment 9" in ask(db, "list watch segment 9").output
    assert ask(db, "list watch segment 2").exit_code == 0


def test_a_typo_still_gets_did_you_mean(db) -> None:
    result = ask(db, "globe heal")
    assert result.exit_code == 1 and "Did you mean" in result.output and "Globex Health" in result.output


@pytest.mark.parametrize("text", ["list watch owner @maria", "list watch @maria",
                                  "list watch owner @Maria.Lopez"])
def test_owner_typed_as_text_finds_their_accounts(db, text: str) -> None:
    """In the console there are no Slack mentions: @maria is the owner maria.lopez@…"""
    result = ask(db, text)
    assert result.exit_code == 0, result.output
    assert "owned by maria.lopez@example.com" in result.output
    assert "Tyrell" in result.output and "Acme Logistics" not in result.output


def test_an_ambiguous_handle_names_the_owners(db) -> None:
    with Store(db) as store:
        store.conn.execute("UPDATE accounts SET owner_email = 'maria.diaz@example.com'"
                           " WHERE account_id = 'ACC-000002'")
    result = ask(db, "list watch owner @maria")
    assert result.exit_code == 1
    assert "Several owners match @maria: maria.diaz@example.com, maria.lopez@example.com" in result.output
