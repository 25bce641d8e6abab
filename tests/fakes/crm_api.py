"""Fake HubSpot and Salesforce REST APIs on 127.0.0.1 that answer like the real ones.

    with FakeHubSpot(token="pat-na1-test", companies={"A1": {}}) as hub:
        hub.base_url          # what HUBSPOT_API_URL should be
        hub.calls             # every request: method, path, headers, body, status
        hub.companies["A1"]   # the properties written so far

Each checks the bearer token (401 otherwise), enforces the batch cap of its API
(HubSpot batch update: 100 inputs; Salesforce sObject Collections: 200 records)
and refuses duplicate keys and unknown properties/fields in a request, as the real
ones do. Partial failures come from the data: a company (account) the fake does
not know is a per-record error (HubSpot 207 OBJECT_NOT_FOUND; Salesforce
upsert of a new record without Name: REQUIRED_FIELD_MISSING). `rate_limit(n)`
makes the next n requests answer HubSpot's 429 with Retry-After, or
Salesforce's 403 REQUEST_LIMIT_EXCEEDED; `fail(n, status=500)` a server error.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_http import LocalHTTPFake

HUBSPOT_BATCH_UPDATE = "/crm/v3/objects/companies/batch/update"
HUBSPOT_MAX_INPUTS = 100
SALESFORCE_COLLECTION = re.compile(r"^/services/data/v(\d+\.\d)/composite/sobjects/Account/(\w+)$")
SALESFORCE_MAX_RECORDS = 200


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float


@dataclass
class _Injected:
    status: int
    retry_after: int | None
    times: int


@dataclass
class _FakeApi(LocalHTTPFake):
    methods = ("GET", "POST", "PATCH")
    token: str = "test-token"
    calls: list[Call] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)   # keys written, in order, once per write

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._injected: list[_Injected] = []
        self._ids = itertools.count(1001)

    # -- test controls -------------------------------------------------------------------

    def rate_limit(self, times: int = 1, retry_after: int | None = 1) -> None:
        with self._lock:
            self._injected.append(_Injected(self.RATE_LIMIT_STATUS, retry_after, times))

    def fail(self, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self._injected.append(_Injected(status, None, times))

    def reset_limits(self) -> None:
        with self._lock:
            self._injected.clear()

    def token_secret(self) -> Any:
        from pydantic import SecretStr

        return SecretStr(self.token)

    def writes(self) -> list[Call]:
        """The calls that reached the data (not refused for auth, caps or injected failures)."""
        with self._lock:
            return [c for c in self.calls if c.status in (200, 207)]

    # -- HTTP ------------------------------------------------------------------------------

    RATE_LIMIT_STATUS = 429

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in req.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            status, payload, extra = self._answer(req.command, req.path, headers, body)
            self.calls.append(Call(req.command, req.path, headers, body, status, time.time()))
        out = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(out)))
        for key, value in extra.items():
            req.send_header(key, value)
        req.end_headers()
        req.wfile.write(out)

    def _answer(self, method: str, path: str, headers: dict[str, str],
                body: Any) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._unauthorized()
        if self._injected:
            injected = self._injected[0]
            injected.times -= 1
            if injected.times <= 0:
                self._injected.pop(0)
            return self._injected_answer(injected)
        return self._route(method, path, body)

    def _unauthorized(self) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def _injected_answer(self, injected: _Injected) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


@dataclass
class FakeHubSpot(_FakeApi):
    """HubSpot CRM v3: batch update of companies, by record id or by a unique property."""

    token: str = "pat-na1-test"
    # The portal's companies, by the value of `id_property` (or by record id when None).
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_property: str | None = "outcomes_account_id"
    properties: set[str] = field(default_factory=lambda: {
        "outcomes_health_score", "outcomes_renewal_index", "outcomes_upsell_index",
        "outcomes_churn_probability"})

    def _unauthorized(self) -> tuple[int, Any, dict[str, str]]:
        return 401, {"status": "error", "category": "INVALID_AUTHENTICATION",
                     "message": "Authentication credentials not found."}, {}

    def _injected_answer(self, injected: _Injected) -> tuple[int, Any, dict[str, str]]:
        if injected.status == 429:
            extra = {"Retry-After": str(injected.retry_after)} if injected.retry_after else {}
            return 429, {"status": "error", "category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING",
                         "message": "You have reached your ten_secondly_rolling limit."}, extra
        return injected.status, {"status": "error", "category": "INTERNAL_ERROR",
                                 "message": "internal error"}, {}

    @staticmethod
    def _error(status: int, category: str, message: str) -> tuple[int, Any, dict[str, str]]:
        return status, {"status": "error", "category": category, "message": message}, {}

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if (method, path) != ("POST", HUBSPOT_BATCH_UPDATE):
            return self._error(404, "OBJECT_NOT_FOUND", f"no route {method} {path}")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return self._error(400, "VALIDATION_ERROR", "inputs: must not be empty")
        if len(inputs) > HUBSPOT_MAX_INPUTS:
            return self._error(400, "VALIDATION_ERROR",
                               f"Batch input size {len(inputs)} exceeds the limit of {HUBSPOT_MAX_INPUTS}")
        ids = [str(i.get("id")) for i in inputs]
        if len(set(ids)) != len(ids):
            return self._error(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
        for item in inputs:
            if item.get("idProperty") != self.id_property:
                return self._error(400, "VALIDATION_ERROR",
                                   f"idProperty {item.get('idProperty')!r} is not a unique property")
            unknown = set(item.get("properties") or {}) - self.properties
            if unknown:
                return self._error(400, "VALIDATION_ERROR", "Property values were not valid: "
                                   f"Property \"{sorted(unknown)[0]}\" does not exist")
        results, missing = [], []
        for item in inputs:
            key = str(item["id"])
            if key not in self.companies:
                missing.append(key)
                continue
            company = self.companies[key]
            company.setdefault("hs_object_id", str(next(self._ids)))
            company.update(item["properties"])
            self.applied.append(key)
            results.append({"id": company["hs_object_id"], "properties": dict(item["properties"]),
                            "updatedAt": "2026-11-02T06:00:00Z", "archived": False})
        payload: dict[str, Any] = {"status": "COMPLETE", "results": results,
                                   "startedAt": "2026-11-02T06:00:00Z",
                                   "completedAt": "2026-11-02T06:00:01Z"}
        if not missing:
            return 200, payload, {}
        payload["numErrors"] = 1
        payload["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                              "message": "Could not get some COMPANY objects, they may be deleted"
                                         " or not exist. Check that ids are valid.",
                              "context": {"ids": missing}}]
        return 207, payload, {}


@dataclass
class FakeSalesforce(_FakeApi):
    """Salesforce REST: sObject Collections upsert of Accounts on an external id field."""

    token: str = "00Dfake!session"
    external_id_field: str = "Outcomes_Account_Id__c"
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)   # by external id
    fields: set[str] = field(default_factory=lambda: {
        "Outcomes_Health_Score__c", "Outcomes_Renewal_Index__c", "Outcomes_Upsell_Index__c",
        "Outcomes_Churn_Probability__c"})

    RATE_LIMIT_STATUS = 403

    def _unauthorized(self) -> tuple[int, Any, dict[str, str]]:
        return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}

    def _injected_answer(self, injected: _Injected) -> tuple[int, Any, dict[str, str]]:
        if injected.status == 403:
            return 403, [{"message": "TotalRequests Limit exceeded.",
                          "errorCode": "REQUEST_LIMIT_EXCEEDED"}], {}
        return injected.status, [{"message": "An unexpected error occurred.",
                                  "errorCode": "UNKNOWN_EXCEPTION"}], {}

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        match = SALESFORCE_COLLECTION.match(path)
        if method != "PATCH" or not match:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
        if match.group(2) != self.external_id_field:
            return 400, [{"errorCode": "INVALID_FIELD", "message": f"Field {match.group(2)} is not"
                          " an External ID or indexed field for Account"}], {}
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return 400, [{"errorCode": "INVALID_FIELD", "message": "records: required"}], {}
        if len(records) > SALESFORCE_MAX_RECORDS:
            return 400, [{"errorCode": "EXCEEDED_ID_LIMIT", "message": "record limit reached. cannot"
                          f" submit more than {SALESFORCE_MAX_RECORDS} records into this call"}], {}
        keys = [str(r.get(self.external_id_field)) for r in records]
        if len(set(keys)) != len(keys):
            return 400, [{"errorCode": "INVALID_FIELD", "message": "duplicate external id in records"}], {}
        for record in records:
            if (record.get("attributes") or {}).get("type") != "Account":
                return 400, [{"errorCode": "INVALID_TYPE", "message": "attributes.type must be Account"}], {}
            unknown = set(record) - self.fields - {"attributes", self.external_id_field}
            if unknown:
                return 400, [{"errorCode": "INVALID_FIELD", "message": f"No such column "
                              f"'{sorted(unknown)[0]}' on sobject of type Account"}], {}
        results, writes = [], []
        for key, record in zip(keys, records, strict=True):
            if key not in self.accounts:   # an upsert would create it, but it has no Name
                results.append({"success": False, "errors": [{
                    "statusCode": "REQUIRED_FIELD_MISSING",
                    "message": "Required fields are missing: [Name]", "fields": ["Name"]}]})
                continue
            account = self.accounts[key]
            account.setdefault("Id", f"001FAKE{next(self._ids):08d}")
            writes.append((account, {k: v for k, v in record.items() if k != "attributes"}))
            results.append({"id": account["Id"], "success": True, "errors": [], "created": False})
        if body.get("allOrNone") and len(writes) < len(records):
            return 200, [{"success": False, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                                        "message": "Record rolled back"}]}
                         for _ in records], {}
        for account, values in writes:
            account.update(values)
            self.applied.append(str(values[self.external_id_field]))
        return 200, results, {}


def _serve(argv: list[str] | None = None) -> None:
    """`python -m tests.fakes.crm_api hubspot|salesforce [--port N] [--accounts-from DB]`:
    a fake CRM to try `outcomes push` against (docs/crm.md); Ctrl-C stops it."""
    import argparse
    import signal
    import sqlite3
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.fakes.crm_api")
    parser.add_argument("crm", choices=["hubspot", "salesforce"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--accounts-from", metavar="DB",
                        help="an Outcomes store whose account ids exist in the fake CRM")
    args = parser.parse_args(argv)
    ids: list[str] = []
    if args.accounts_from:
        with sqlite3.connect(f"file:{args.accounts_from}?mode=ro", uri=True) as conn:
            ids = [r[0] for r in conn.execute("SELECT account_id FROM accounts")]
    fake: _FakeApi = (FakeHubSpot(companies={i: {} for i in ids}) if args.crm == "hubspot"
                      else FakeSalesforce(accounts={i: {"Name": i} for i in ids}))
    fake.start(args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # `kill` ends it like Ctrl-C
    print(f"fake {args.crm} on {fake.base_url} (token {fake.token}), {len(ids)} accounts", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        written = len(fake.applied)
        fake.stop()
        print(f"{len(fake.calls)} requests, {written} records written", flush=True)


if __name__ == "__main__":
    _serve()
