"""CRM write-back against local fake HubSpot and Salesforce APIs (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from bot.crm.clients import HubSpotClient, Record
from bot.crm.push import NothingToPush, plan_push, push
from bot.crm.settings import Connection, CrmNotConfigured, CrmSettings, connection
from bot.defaults import DEFAULTS as APP_DEFAULTS
from storage import crm_ledger
from storage.store import Store
from tests.bot.crm_book import NOW, account_id, score_book
from tests.fakes.crm_api import FakeHubSpot, FakeSalesforce

DEFAULTS = APP_DEFAULTS["crm"]


def crm_settings(**changes: object) -> CrmSettings:
    return CrmSettings.model_validate({**DEFAULTS, **changes})


@pytest.fixture()
def store() -> Iterator[Store]:
    with Store() as s:
        yield s


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def keys_sent(fake: FakeHubSpot | FakeSalesforce) -> Counter:
    """How often each account key was written in the CRM."""
    return Counter(fake.applied)


def hub(n: int, missing: tuple[int, ...] = ()) -> FakeHubSpot:
    return FakeHubSpot(companies={account_id(i): {} for i in range(n) if i not in missing})


def test_hubspot_gets_every_value_in_batches_of_100_then_only_changes(store: Store) -> None:
    score_book(store, 250)
    crm = crm_settings()
    with hub(250) as fake:
        conn = Connection(fake.base_url, fake.token_secret())
        report = push(store, crm, "hubspot", conn, clock=lambda: NOW)
        assert report.ok and (report.written, report.fields_written) == (250, 1000)
        assert [len(c.body["inputs"]) for c in fake.calls] == [100, 100, 50]
        assert all(c.headers["authorization"] == "Bearer pat-na1-test" for c in fake.calls)
        first = fake.calls[0].body["inputs"][0]
        assert first["idProperty"] == "outcomes_account_id"
        assert fake.companies[account_id(0)] == {
            "hs_object_id": fake.companies[account_id(0)]["hs_object_id"],
            "outcomes_health_score": "37", "outcomes_renewal_index": "At Risk",
            "outcomes_upsell_index": "Likely to upsell", "outcomes_churn_probability": "0.63"}

        again = push(store, crm, "hubspot", conn, clock=lambda: NOW)
        assert (again.plan.changes, again.requests, len(fake.calls)) == ([], 0, 3)

        score_book(store, 250, shift={4: 1, 7: -30})    # 4: a point; 7: to another band
        plan = plan_push(store, crm, "hubspot")
        assert {c.account_id: c.values for c in plan.changes} == {
            account_id(4): {"outcomes_health_score": 66, "outcomes_churn_probability": 0.34},
            account_id(7): {"outcomes_health_score": 56, "outcomes_renewal_index": "Watch",
                            "outcomes_churn_probability": 0.44},
        }
        assert plan.changes[0].before["outcomes_health_score"] == 65
        push(store, crm, "hubspot", conn, clock=lambda: NOW)
        assert [sorted(i["id"] for i in fake.calls[-1].body["inputs"])] == [[account_id(4), account_id(7)]]
        assert max(keys_sent(fake).values()) == 2


def test_hubspot_partial_failures_are_retried_next_run_and_never_duplicated(store: Store) -> None:
    score_book(store, 120)
    with hub(120, missing=(5, 110)) as fake:
        conn = Connection(fake.base_url, fake.token_secret())
        report = push(store, crm_settings(), "hubspot", conn, clock=lambda: NOW)
        assert [c.status for c in fake.calls] == [207, 207]
        assert report.written == 118 and set(report.failed) == {account_id(5), account_id(110)}
        assert "OBJECT_NOT_FOUND" in report.failed[account_id(5)] and not report.ok
        assert (account_id(5), "outcomes_health_score") not in crm_ledger.pushed(store, "hubspot")

        fake.companies[account_id(5)] = {}
        fake.companies[account_id(110)] = {}
        retry = push(store, crm_settings(), "hubspot", conn, clock=lambda: NOW)
        assert retry.ok and retry.written == 2
        assert sorted(i["id"] for i in fake.calls[-1].body["inputs"]) == [account_id(5), account_id(110)]
        assert set(keys_sent(fake).values()) == {1}


def test_hubspot_429_waits_retry_after_and_sends_each_batch_once(store: Store) -> None:
    score_book(store, 150)
    sleeps = Sleeps()
    with hub(150) as fake:
        fake.rate_limit(times=2, retry_after=3)
        conn = Connection(fake.base_url, fake.token_secret())
        report = push(store, crm_settings(), "hubspot", conn, sleep=sleeps,
                      clock=lambda: NOW)
        assert report.ok and report.written == 150 and sleeps == [3, 3]
        assert [c.status for c in fake.calls] == [429, 429, 200, 200]
        assert set(keys_sent(fake).values()) == {1}

        score_book(store, 150, shift={i: 1 for i in range(150)})
        fake.rate_limit(times=10, retry_after=1)
        stopped = push(store, crm_settings(), "hubspot", conn, sleep=sleeps,
                       clock=lambda: NOW)
        assert stopped.stopped and "rate limited" in stopped.stopped
        assert (stopped.written, stopped.not_sent) == (0, 150)
        fake.reset_limits()
        later = push(store, crm_settings(), "hubspot", conn, sleep=sleeps,
                     clock=lambda: NOW)
        assert later.ok and later.written == 150


def test_a_refused_token_stops_the_push_and_records_nothing(store: Store) -> None:
    score_book(store, 3)
    with hub(3) as fake:
        from pydantic import SecretStr

        report = push(store, crm_settings(), "hubspot", Connection(fake.base_url, SecretStr("bad")), clock=lambda: NOW)
        assert report.stopped and "token was refused (401)" in report.stopped
        assert crm_ledger.pushed(store, "hubspot") == {}


def test_hubspot_key_from_an_ingested_column_and_record_ids(store: Store) -> None:
    score_book(store, 4, company_ids={0: "9001", 1: "9002", 3: "9004"})
    crm = crm_settings(key_column="hubspot_company_id",
                       hubspot={**DEFAULTS["hubspot"], "id_property": None})
    with FakeHubSpot(companies={"9001": {}, "9002": {}, "9004": {}}, id_property=None) as fake:
        plan = plan_push(store, crm, "hubspot")
        assert plan.without_key == [account_id(2)]
        push(store, crm, "hubspot", Connection(fake.base_url, fake.token_secret()), clock=lambda: NOW)
        assert [i["id"] for i in fake.calls[0].body["inputs"]] == ["9001", "9002", "9004"]
        assert "idProperty" not in fake.calls[0].body["inputs"][0]
        assert fake.companies["9004"]["outcomes_health_score"] == "58"


def test_salesforce_collections_of_200_partial_failures_and_request_limit(store: Store) -> None:
    score_book(store, 250)
    sleeps = Sleeps()
    accounts = {account_id(i): {"Name": f"Company {i}"} for i in range(250) if i != 9}
    with FakeSalesforce(accounts=accounts) as fake:
        fake.rate_limit(times=2)
        conn = Connection(fake.base_url, fake.token_secret())
        report = push(store, crm_settings(), "salesforce", conn, sleep=sleeps,
                      clock=lambda: NOW)
        assert [c.status for c in fake.calls] == [403, 403, 200, 200]
        assert sleeps == [1.0, 2.0]   # exponential: the 403 gives no Retry-After
        assert [len(c.body["records"]) for c in fake.writes()] == [200, 50]
        assert all(c.method == "PATCH" and c.path == "/services/data/v61.0/composite/sobjects/"
                   "Account/Outcomes_Account_Id__c" for c in fake.calls)
        assert all(c.body["allOrNone"] is False for c in fake.writes())
        assert report.written == 249 and "REQUIRED_FIELD_MISSING" in report.failed[account_id(9)]
        assert fake.accounts[account_id(1)]["Outcomes_Health_Score__c"] == 44   # numbers stay numbers
        assert fake.accounts[account_id(1)]["Outcomes_Churn_Probability__c"] == 0.56

        fake.accounts[account_id(9)] = {"Name": "Company 9"}
        retry = push(store, crm_settings(), "salesforce", conn, sleep=sleeps,
                     clock=lambda: NOW)
        assert retry.ok and retry.written == 1 and set(keys_sent(fake).values()) == {1}


def test_the_fakes_enforce_the_batch_caps_and_the_token() -> None:
    import httpx

    with FakeHubSpot() as fake:
        too_many = {"inputs": [{"id": str(i), "idProperty": "outcomes_account_id",
                                "properties": {}} for i in range(101)]}
        answer = httpx.post(fake.base_url + "/crm/v3/objects/companies/batch/update",
                            json=too_many, headers={"Authorization": "Bearer pat-na1-test"})
        assert answer.status_code == 400 and "exceeds the limit of 100" in answer.text
        assert httpx.post(fake.base_url + "/crm/v3/objects/companies/batch/update",
                          json={"inputs": []}).status_code == 401
        with HubSpotClient(Connection(fake.base_url, fake.token_secret()),
                           crm_settings().hubspot) as client:
            with pytest.raises(ValueError):
                client.send([Record(str(i), {}) for i in range(101)])
    with FakeSalesforce() as fake:
        body = {"allOrNone": False, "records": [{"attributes": {"type": "Account"},
                                                 "Outcomes_Account_Id__c": str(i)} for i in range(201)]}
        answer = httpx.patch(fake.base_url + "/services/data/v61.0/composite/sobjects/Account/"
                             "Outcomes_Account_Id__c", json=body,
                             headers={"Authorization": f"Bearer {fake.token}"})
        assert answer.status_code == 400 and "EXCEEDED_ID_LIMIT" in answer.text


def test_tokens_come_only_from_the_environment() -> None:
    with pytest.raises(CrmNotConfigured, match="HUBSPOT_ACCESS_TOKEN"):
        connection("hubspot", {})
    with pytest.raises(CrmNotConfigured, match="SALESFORCE_INSTANCE_URL"):
        connection("salesforce", {"SALESFORCE_ACCESS_TOKEN": "t"})
    hub_conn = connection("hubspot", {"HUBSPOT_ACCESS_TOKEN": "pat", "HUBSPOT_API_URL": "http://127.0.0.1:9/"})
    assert hub_conn.base_url == "http://127.0.0.1:9" and "pat" not in repr(hub_conn)
    assert connection("hubspot", {"HUBSPOT_ACCESS_TOKEN": "pat"}).base_url == "https://api.hubapi.com"


def test_nothing_to_push_without_scores(store: Store) -> None:
    with pytest.raises(NothingToPush, match="outcomes score"):
        plan_push(store, crm_settings(), "hubspot")
