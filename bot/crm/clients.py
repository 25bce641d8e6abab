"""The two CRM APIs, each a batch write keyed by an id the account already has.

HubSpot: `POST /crm/v3/objects/companies/batch/update`, at most 100 inputs, each
matched by a unique company property (`idProperty`) or the record id; 200 when all
were written, 207 with `errors[].context.ids` naming the ones that were not.
Salesforce: sObject Collections upsert, `PATCH /services/data/vXX.X/composite/
sobjects/Account/<ExternalIdField>`, at most 200 records, `allOrNone: false`, one
result per record in order.

Both: a whole request refused for its token or its content raises CrmError (the
push stops, nothing is marked sent); HubSpot 429 waits Retry-After, Salesforce 403
REQUEST_LIMIT_EXCEEDED and server errors back off exponentially, MAX_ATTEMPTS
tries in all, then CrmRateLimited / CrmError. Plain httpx: two endpoints do not
need either vendor's SDK, and the retry and partial-failure rules stay in view.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.crm.settings import Connection, HubSpotSettings, SalesforceSettings

MAX_ATTEMPTS = 5
MAX_WAIT_SECONDS = 60.0
TIMEOUT_SECONDS = 30.0
USER_AGENT = "outcomes-crm-push"

Sleep = Callable[[float], None]


class CrmError(Exception):
    """A request the CRM refused as a whole, or could not be reached: the push stops."""


class CrmAuthError(CrmError):
    """The token was refused or lacks the permission."""


class CrmRateLimited(CrmError):
    """Still rate limited after backing off; the rest waits for the next run."""


@dataclass(frozen=True)
class Record:
    key: str                    # the account's id in the CRM's terms
    values: dict[str, Any]      # CRM field -> value


@dataclass
class BatchResult:
    written: list[str] = field(default_factory=list)          # keys the CRM acknowledged
    failed: dict[str, str] = field(default_factory=dict)      # key -> why not


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Client:
    name = "CRM"
    max_batch = 1

    def __init__(self, conn: Connection, *, sleep: Sleep = time.sleep,
                 timeout: float = TIMEOUT_SECONDS, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.base_url = conn.base_url
        self._sleep = sleep
        self._attempts = max_attempts
        self.waited: list[float] = []
        self.requests = 0
        self._http = httpx.Client(
            base_url=conn.base_url, timeout=timeout,
            headers={"Authorization": f"Bearer {conn.token.get_secret_value()}",
                     "User-Agent": USER_AGENT, "Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait when the response says 'slow down' (0 = the API gives no hint)."""
        raise NotImplementedError

    def _wait(self, seconds: float) -> None:
        self.waited.append(seconds)
        self._sleep(seconds)

    def _request(self, method: str, path: str, body: Any) -> httpx.Response:
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            backoff = min(MAX_WAIT_SECONDS, 2.0 ** attempt)
            self.requests += 1
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise CrmError(f"{self.name}: cannot reach {self.base_url}: {exc}") from None
                self._wait(backoff)
                continue
            hint = self._rate_limit_wait(response)
            if hint is not None:
                wait = hint or backoff
                if last or wait > MAX_WAIT_SECONDS:
                    raise CrmRateLimited(f"{self.name}: rate limited ({response.status_code}"
                                         f"{f', retry after {wait:.0f} s' if hint else ''}): "
                                         f"{_message(response)}")
                self._wait(wait)
                continue
            if response.status_code >= 500:
                if last:
                    raise CrmError(f"{self.name}: server error {response.status_code}: "
                                   f"{_message(response)}")
                self._wait(backoff)
                continue
            if response.status_code in (401, 403):
                raise CrmAuthError(f"{self.name}: the token was refused ({response.status_code}): "
                                   f"{_message(response)}")
            if response.status_code >= 400:
                raise CrmError(f"{self.name}: request refused ({response.status_code}): "
                               f"{_message(response)}")
            return response
        raise AssertionError("unreachable")

    def send(self, records: Sequence[Record]) -> BatchResult:
        raise NotImplementedError


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return "; ".join(f"{e.get('errorCode', '')}: {e.get('message', '')}" for e in body[:3])
    if isinstance(body, dict):
        return str(body.get("message") or body)[:300]
    return str(body)[:300]


class HubSpotClient(_Client):
    name = "HubSpot"
    max_batch = 100
    path = "/crm/v3/objects/companies/batch/update"

    def __init__(self, conn: Connection, settings: HubSpotSettings, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self.id_property = settings.id_property

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        if response.status_code != 429:
            return None
        return _retry_after(response.headers.get("Retry-After")) or 0.0

    @staticmethod
    def _value(value: Any) -> str:
        """HubSpot property values are text: numbers as plain decimals, booleans as words."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def send(self, records: Sequence[Record]) -> BatchResult:
        if len(records) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} records per request")
        id_part = {"idProperty": self.id_property} if self.id_property else {}
        inputs = [{"id": r.key, **id_part,
                   "properties": {k: self._value(v) for k, v in r.values.items()}} for r in records]
        response = self._request("POST", self.path, {"inputs": inputs})
        keys = [r.key for r in records]
        if response.status_code == 200:
            return BatchResult(written=keys)
        body = response.json()
        failed: dict[str, str] = {}
        unattributed = []
        for error in body.get("errors") or []:
            ids = (error.get("context") or {}).get("ids") or []
            reason = f"{error.get('category', 'error')}: {error.get('message', '')}".strip()
            for key in ids:
                failed[str(key)] = reason
            if not ids:
                unattributed.append(reason)
        if unattributed:   # cannot tell which: none counts as written, all are retried
            return BatchResult(failed={k: failed.get(k, unattributed[0]) for k in keys})
        return BatchResult(written=[k for k in keys if k not in failed], failed=failed)


class SalesforceClient(_Client):
    name = "Salesforce"
    max_batch = 200

    def __init__(self, conn: Connection, settings: SalesforceSettings, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self.external_id_field = settings.external_id_field
        self.path = (f"/services/data/{settings.api_version}/composite/sobjects/Account/"
                     f"{settings.external_id_field}")

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        if response.status_code != 403:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        codes = {e.get("errorCode") for e in body if isinstance(e, dict)} if isinstance(body, list) else set()
        return 0.0 if "REQUEST_LIMIT_EXCEEDED" in codes else None

    def send(self, records: Sequence[Record]) -> BatchResult:
        if len(records) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} records per request")
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, self.external_id_field: r.key, **r.values}
            for r in records]}
        response = self._request("PATCH", self.path, body)
        results = response.json()
        if not isinstance(results, list) or len(results) != len(records):
            return BatchResult(failed={r.key: "unexpected answer: no result per record"
                                       for r in records})
        out = BatchResult()
        for record, result in zip(records, results, strict=True):
            if result.get("success"):
                out.written.append(record.key)
            else:
                errors = result.get("errors") or [{}]
                out.failed[record.key] = "; ".join(
                    f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}" for e in errors)
        return out


def make_client(destination: str, conn: Connection, settings: Any, **kwargs: Any) -> _Client:
    """The client of a destination; `settings` is the app's CrmSettings."""
    if destination == "hubspot":
        return HubSpotClient(conn, settings.hubspot, **kwargs)
    if destination == "salesforce":
        return SalesforceClient(conn, settings.salesforce, **kwargs)
    raise ValueError(f"unknown destination {destination!r}")
