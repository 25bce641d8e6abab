"""The `crm:` section of app.yaml, and the CRM connection from the environment.

Tokens are never in app.yaml: HUBSPOT_ACCESS_TOKEN (a private app's token, scope
crm.objects.companies.write) and SALESFORCE_ACCESS_TOKEN (an OAuth access token)
with SALESFORCE_INSTANCE_URL. HUBSPOT_API_URL overrides the API's base URL (tests
point it at a local fake, as SLACK_API_URL does for Slack).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DESTINATIONS = ("hubspot", "salesforce")
Destination = Literal["hubspot", "salesforce"]
# What can be pushed: the score's columns (scoring.persist.export_frame).
VALUES = ("health_score", "renewal_index", "upsell_index", "churn_probability")

ENV_HUBSPOT_TOKEN = "HUBSPOT_ACCESS_TOKEN"
ENV_HUBSPOT_URL = "HUBSPOT_API_URL"
DEFAULT_HUBSPOT_URL = "https://api.hubapi.com"
ENV_SALESFORCE_TOKEN = "SALESFORCE_ACCESS_TOKEN"
ENV_SALESFORCE_URL = "SALESFORCE_INSTANCE_URL"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmFields(_Strict):
    """Value -> the CRM field (property) it is written to; null = not pushed."""

    health_score: str | None = None
    renewal_index: str | None = None
    upsell_index: str | None = None
    churn_probability: str | None = None

    def mapping(self) -> dict[str, str]:
        return {name: field for name in VALUES if (field := getattr(self, name))}


class HubSpotSettings(_Strict):
    # A unique company property holding the key; null = the key is HubSpot's record id.
    id_property: str | None
    fields: CrmFields


class SalesforceSettings(_Strict):
    api_version: str = Field(pattern=r"^v\d{2,3}\.\d$")
    external_id_field: str = Field(min_length=1)   # an External ID field on Account
    fields: CrmFields


class CrmSettings(_Strict):
    # The column of your data whose value identifies the account in the CRM
    # (account_id, or a column you ingest, e.g. hubspot_company_id).
    key_column: str = Field(min_length=1)
    push_after_scoring: list[Destination]
    hubspot: HubSpotSettings
    salesforce: SalesforceSettings


DEFAULTS = {
    "key_column": "account_id",
    "push_after_scoring": [],
    "hubspot": {
        "id_property": "outcomes_account_id",
        "fields": {"health_score": "outcomes_health_score",
                   "renewal_index": "outcomes_renewal_index",
                   "upsell_index": "outcomes_upsell_index",
                   "churn_probability": "outcomes_churn_probability"},
    },
    "salesforce": {
        "api_version": "v61.0",
        "external_id_field": "Outcomes_Account_Id__c",
        "fields": {"health_score": "Outcomes_Health_Score__c",
                   "renewal_index": "Outcomes_Renewal_Index__c",
                   "upsell_index": "Outcomes_Upsell_Index__c",
                   "churn_probability": "Outcomes_Churn_Probability__c"},
    },
}


class CrmNotConfigured(Exception):
    """A token or URL the push needs is not in the environment; the message names it."""


@dataclass(frozen=True)
class Connection:
    base_url: str
    token: SecretStr


def connection(destination: str, env: Mapping[str, str] | None = None) -> Connection:
    """Base URL and token of a destination, from the environment only."""
    env = os.environ if env is None else env
    if destination == "hubspot":
        token, url = env.get(ENV_HUBSPOT_TOKEN, "").strip(), env.get(ENV_HUBSPOT_URL, "").strip()
        if not token:
            raise CrmNotConfigured(f"set {ENV_HUBSPOT_TOKEN} to a HubSpot private app token "
                                   "(scope crm.objects.companies.write)")
        return Connection((url or DEFAULT_HUBSPOT_URL).rstrip("/"), SecretStr(token))
    if destination == "salesforce":
        token, url = env.get(ENV_SALESFORCE_TOKEN, "").strip(), env.get(ENV_SALESFORCE_URL, "").strip()
        missing = [name for name, value in ((ENV_SALESFORCE_TOKEN, token), (ENV_SALESFORCE_URL, url))
                   if not value]
        if missing:
            raise CrmNotConfigured(f"set {' and '.join(missing)} (an OAuth access token and your "
                                   "org's instance URL, e.g. https://acme.my.salesforce.com)")
        return Connection(url.rstrip("/"), SecretStr(token))
    raise ValueError(f"unknown destination {destination!r}")
