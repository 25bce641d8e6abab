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

from bot import defaults
from bot.crm import DESTINATIONS  # noqa: F401 - the destinations, named where the CLI reads them

Destination = Literal["hubspot", "salesforce"]
# What can be pushed: the score's columns (scoring.persist.export_frame).
VALUES = ("health_score", "renewal_index", "upsell_index", "churn_probability")



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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


class CrmNotConfigured(Exception):
    """A token or URL the push needs is not in the environment; the message names it."""


class CrmSecrets(_Strict):
    """What the environment says about the CRMs (never app.yaml)."""

    hubspot_token: SecretStr | None = None
    hubspot_api_url: str = defaults.DEFAULT_HUBSPOT_API_URL
    salesforce_token: SecretStr | None = None
    salesforce_instance_url: str | None = None


def crm_secrets(env: Mapping[str, str] | None = None) -> CrmSecrets:
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        return env.get(name, "").strip() or None

    hub, sf = get(defaults.ENV_HUBSPOT_TOKEN), get(defaults.ENV_SALESFORCE_TOKEN)
    return CrmSecrets(
        hubspot_token=SecretStr(hub) if hub else None,
        hubspot_api_url=get(defaults.ENV_HUBSPOT_API_URL) or defaults.DEFAULT_HUBSPOT_API_URL,
        salesforce_token=SecretStr(sf) if sf else None,
        salesforce_instance_url=get(defaults.ENV_SALESFORCE_INSTANCE_URL),
    )


@dataclass(frozen=True)
class Connection:
    base_url: str
    token: SecretStr


def connection(destination: str, secrets: CrmSecrets | Mapping[str, str] | None = None) -> Connection:
    """Base URL and token of a destination, from the environment only."""
    if not isinstance(secrets, CrmSecrets):
        secrets = crm_secrets(secrets)
    if destination == "hubspot":
        if secrets.hubspot_token is None:
            raise CrmNotConfigured(f"set {defaults.ENV_HUBSPOT_TOKEN} to a HubSpot private app "
                                   "token (scope crm.objects.companies.write)")
        return Connection(secrets.hubspot_api_url.rstrip("/"), secrets.hubspot_token)
    if destination == "salesforce":
        missing = [name for name, value in ((defaults.ENV_SALESFORCE_TOKEN, secrets.salesforce_token),
                                            (defaults.ENV_SALESFORCE_INSTANCE_URL,
                                             secrets.salesforce_instance_url)) if not value]
        if missing:
            raise CrmNotConfigured(f"set {' and '.join(missing)} (an OAuth access token and your "
                                   "org's instance URL, e.g. https://acme.my.salesforce.com)")
        assert secrets.salesforce_token is not None and secrets.salesforce_instance_url
        return Connection(secrets.salesforce_instance_url.rstrip("/"), secrets.salesforce_token)
    raise ValueError(f"unknown destination {destination!r}")
