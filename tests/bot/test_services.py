from __future__ import annotations

import sqlite3

import pytest

from bot.services import accounts as acc
from bot.services import catalog, home
from bot.services import feedback as fbs
from bot.services.core import Requester, movement_direction, reading
from bot.services.errors import AccountNotFound, BadArguments, NotAllowed, NotScoredYet, Rescoring
from bot.services.summary import summary
from storage import feedback as fb
from tests.bot.book import Acct, seed_book


@pytest.mark.parametrize(("query", "account_id", "how"), [
    ("Acme Analytics", "ACC-000001", "exact"), ("  ACME   analytics ", "ACC-000001", "exact"),
    ("acc-000004", "ACC-000004", "exact"), ("glob", "ACC-000003", "prefix"),
    ("acme anlytics", "ACC-000001", "fuzzy"), ("tyrell & <sons>", "ACC-000005", "exact"),
])
def test_find_account(store, query, account_id, how) -> None:
    acc.forget_names()
    match = acc.find_account(store, query)
    assert match.account["account_id"] == account_id and match.how == how


def test_several_matches_give_choices_by_arr(store) -> None:
    match = acc.find_account(store, "acme")
    assert match.account is None and match.total == 2
    assert [a["name"] for a in match.choices] == ["Acme Analytics", "Acme Logistics"]


def test_no_match_suggests(store) -> None:
    with pytest.raises(AccountNotFound) as err:
        acc.find_account(store, "globe heal")
    assert [s["name"] for s in err.value.suggestions] == ["Globex Health"]
    # Nothing alike: no "did you mean" to an unrelated account.
    for query in ("qqqqqqqq", "asdkjh 12 !!", "zz top"):
        with pytest.raises(AccountNotFound) as err:
            acc.find_account(store, query)
        assert err.value.suggestions == [], query


def test_name_index_follows_new_accounts(store) -> None:
    acc.forget_names()
    with pytest.raises(AccountNotFound):
        acc.find_account(store, "Zephyr Cloud Inc")
    seed_book(store, [Acct("ACC-9", "Zephyr Cloud", "a@example.com", None, 1.0, [50, 50, 50],
                           ["Likely to upsell"] * 3)], extras=False)
    acc._indexes.clear()  # the cache notices within VERSION_TTL_SECONDS; tests don't wait
    assert acc.find_account(store, "Zephyr Cloud Inc").account["account_id"] == "ACC-9"


def test_card_has_previous_period_and_movement(store, settings) -> None:
    card = acc.card(store, settings, "ACC-000001")
    assert card.score["renewal_index"] == "At Risk" and card.previous["renewal_index"] == "Watch"
    assert card.renewal_move == "down" and card.upsell_move is None
    assert [h["as_of"] for h in card.history] == ["2026-09-01", "2026-10-01", "2026-11-01"]
    assert card.segment["name"] == "Mid-market growth"
    assert len(card.score["drivers"]) == 3


def test_movement_direction(settings) -> None:
    assert movement_direction(settings, "Watch", "At Risk") == "down"
    assert movement_direction(settings, "At Risk", "Likely to Renew") == "up"
    assert movement_direction(settings, "Watch", "Watch") is None
    assert movement_direction(settings, "Not likely to upsell", "Likely to upsell", "upsell") == "up"


def test_list_paginates_by_arr(store, settings) -> None:
    small = settings.model_copy(update={"slack": settings.slack.model_copy(update={"page_size": 1})})
    q = acc.ListQuery(category="Watch", kind="renewal")
    first = acc.list_accounts(store, small, q)
    assert (first.total, first.pages, [r["name"] for r in first.rows]) == (2, 2, ["Northwind Energy"])
    second = acc.list_accounts(store, small, acc.ListQuery(category="Watch", kind="renewal", page=2))
    assert [r["name"] for r in second.rows] == ["Tyrell & <Sons>"]


def test_list_mine_needs_a_user(store, settings) -> None:
    with pytest.raises(BadArguments):
        acc.list_accounts(store, settings, acc.ListQuery(category="Watch", kind="renewal", mine=True))
    mine = acc.list_accounts(store, settings, acc.ListQuery(category="Likely to Churn", kind="renewal",
                                                            mine=True), Requester(user_id="UMARIA"))
    assert [r["name"] for r in mine.rows] == ["Globex Health"]
    by_email = acc.list_accounts(store, settings, acc.ListQuery(category="Likely to Renew", kind="renewal",
                                                                mine=True),
                                 Requester(owner_email="james.chen@example.com"))
    assert by_email.total == 2


def test_nothing_scored_is_a_user_error(empty_store, settings) -> None:
    with pytest.raises(NotScoredYet):
        summary(empty_store, settings)
    with pytest.raises(NotScoredYet):
        catalog.indicators(empty_store, settings)


def test_locked_database_says_rescoring() -> None:
    with pytest.raises(Rescoring), reading():
        raise sqlite3.OperationalError("database is locked")


def test_segments_and_csv(store, settings) -> None:
    assert [s["name"] for s in catalog.segments(store, settings).segments] == [
        "Mid-market growth", "Enterprise steady"]
    seg = catalog.segment(store, settings, 2)
    assert seg.members == 3 and seg.by_category["Likely to Churn"] == 1
    name, content = catalog.segment_csv(store, settings, 2)
    lines = content.decode().splitlines()
    assert name == "segment-2-2026-11-01.csv" and lines[0].startswith("account_id,name")
    assert len(lines) == 4 and "Northwind Energy" in lines[1]
    with pytest.raises(BadArguments, match="no segment 9"):
        catalog.segment(store, settings, 9)


def test_features_lists_catalogue_components(store, settings) -> None:
    comps = {c["component"]: c for c in catalog.features(store, settings).components}
    assert comps["Product usage"]["connected"] and not comps["Sentiment"]["connected"]
    assert set(settings.components) <= set(comps)


def test_flag_reaction_once_and_answer(store, settings) -> None:
    fb.record_post(store, "C1", "1.1", "card", ["ACC-000003"])
    assert fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id="U1", reaction="tada") is None
    assert fbs.flag_reaction(store, settings, channel="C1", ts="9.9", user_id="U1", reaction="x") is None
    first = fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id="U1", reaction="x")
    again = fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id="U1",
                              reaction="-1::skin-tone-2")
    assert first.created and not again.created and first.flag.id == again.flag.id
    assert first.flag.predicted_renewal_index == "Likely to Churn"
    with pytest.raises(NotAllowed):
        fbs.answer_flag(store, settings, flag_id=first.flag.id, user_id="U2", renewal_index="Watch")
    flag = fbs.answer_flag(store, settings, flag_id=first.flag.id, user_id="U1", renewal_index="Watch")
    assert flag.expected_renewal_index == "Watch" and flag.answered_at
    with pytest.raises(BadArguments):
        fbs.answer_flag(store, settings, flag_id=first.flag.id, user_id="U1", renewal_index="Nope")


def test_accuracy_counts_flags(store, settings) -> None:
    fb.record_post(store, "C1", "1.1", "card", ["ACC-000003"])
    r = fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id="U1", reaction="x")
    fbs.answer_flag(store, settings, flag_id=r.flag.id, user_id="U1", renewal_index="Watch")
    data = fbs.accuracy(store, settings)
    assert (data.flags, data.answered, data.by_expected) == (1, 1, {"Watch": 1})
    assert data.known == 0 and data.pending == 0  # no live prediction recorded in this fixture


def test_home_for_an_owner(store, settings) -> None:
    fb.record_post(store, "C1", "1.1", "card", ["ACC-000003"])
    fbs.flag_reaction(store, settings, channel="C1", ts="1.1", user_id="UMARIA", reaction="x")
    data = home.home(store, settings, home.requester(store, settings, user_id="UMARIA"))
    assert data.owner_email == "maria.lopez@example.com"
    assert data.summary.total_accounts == 3
    assert [r["name"] for r in data.top["Likely to Churn"]] == ["Globex Health"]
    assert len(data.open_flags) == 1


def test_requester_accepts_an_email(store, settings) -> None:
    me = home.requester(store, settings, user_id="James.Chen@example.com")
    assert me.user_id is None and me.owner_email == "james.chen@example.com"


def test_score_and_previous_read_together(store) -> None:
    from storage import queries

    current, previous = queries.score_and_previous(store, "ACC-000001", "2026-11-01")
    assert current["as_of"] == "2026-11-01" and isinstance(current["drivers"], list)
    assert previous == queries.score_before(store, "ACC-000001", "2026-11-01")
    assert previous["as_of"] == "2026-10-01"
    assert queries.score_and_previous(store, "ACC-000001", "2026-11-15") == (None, None)
    first, none_before = queries.score_and_previous(store, "ACC-000001", "2026-09-01")
    assert first["as_of"] == "2026-09-01" and none_before is None
    # The previous period re-scored by the same model, when scoring stored it, comes first.
    store.conn.execute("UPDATE scores SET previous_as_of = '2026-10-01', previous_health_score = 1,"
                       " previous_renewal_index = 'Watch', previous_upsell_index = NULL"
                       " WHERE account_id = 'ACC-000001' AND as_of = '2026-11-01'")
    _, same_model = queries.score_and_previous(store, "ACC-000001", "2026-11-01")
    assert same_model["same_model"] and same_model["health_score"] == 1


def test_card_book_facts_follow_a_new_scoring(store, settings) -> None:
    card = acc.card(store, settings, "ACC-000001")
    assert not card.provisional and card.segment["name"] == "Mid-market growth"
    # What a scoring run writes: a new (provisional) model, its segments, the components.
    with store.transaction() as conn:
        conn.execute("UPDATE models SET active = 0")
        conn.execute("INSERT INTO models (kind, version, trained_at, data_fingerprint, features,"
                     " params, metrics, lib_versions, provisional, active, blob) VALUES ('churn',"
                     " 'churn-next', 'now', 'fp', '[]', '{}', '{\"provisional_reason\": \"few\"}',"
                     " '{}', 1, 1, x'00')")
        conn.execute("UPDATE segments SET name = 'Renamed'")
        conn.execute("UPDATE components SET updated_at = '2026-11-03T06:00:00+00:00'")
    card = acc.card(store, settings, "ACC-000001")
    assert card.provisional and card.provisional_reason == "few"
    assert card.segment["name"] == "Renamed"


def test_card_book_facts_are_per_store(settings) -> None:
    from storage.store import Store

    with Store() as one, Store() as other:
        seed_book(one)
        seed_book(other)
        # Same book, same scoring version, but another book-wide churn average.
        other.conn.execute("DELETE FROM scores WHERE account_id = 'ACC-000003'")
        assert acc.card(one, settings, "ACC-000001").book_churn != \
            acc.card(other, settings, "ACC-000001").book_churn


def test_requester_without_the_owner_email(store, settings) -> None:
    assert home.requester(store, settings, user_id="UMARIA").owner_email == "maria.lopez@example.com"
    me = home.requester(store, settings, user_id="UMARIA", with_email=False)
    assert me.user_id == "UMARIA" and me.owner_email is None
    me = home.requester(store, settings, user_id="James.Chen@example.com", with_email=False)
    assert me.owner_email == "james.chen@example.com"
