"""Every default of the app in one place.

`app.yaml` overrides these key by key; `bot.config` validates the result. Nothing
else in the code base may hard-code a threshold, a category name, an emoji or a
schedule: read it from `Settings` instead.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CONFIG_FILE = "app.yaml"
DEFAULT_DB_FILE = "outcomes.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

DEFAULTS: dict[str, Any] = {
    # Source column name -> canonical name (see shared data contract).
    "columns": {},
    # Data components: the groups of metrics that Leading Indicators are reported on.
    "components": {
        "Product usage": [
            "logins_30d",
            "active_users",
            "seats_used",
            "feature_adoption_pct",
            "days_since_last_login",
        ],
        "Interaction frequency": ["meetings_90d", "emails_30d"],
        "Support": ["support_tickets_30d", "sev1_tickets_90d", "csat"],
        "Sentiment": ["nps"],
        "Billing": ["payment_late_days", "discount_pct"],
        "Firmographics": ["employees", "seats", "plan", "industry", "region"],
        "Marketing engagement": ["webinar_attendance", "email_open_rate"],
    },
    "horizon_days": 90,
    "upsell_growth": 0.10,
    "renewal_index": {
        # Best first; `min` is the lowest health score (0-100) of the band. Health is the
        # share of the book (same date) with a higher churn probability, so `min: 5`
        # means "not among the riskiest 5%".
        "bands": [
            {"name": "Likely to Renew", "min": 50, "emoji": ":large_green_circle:"},
            {"name": "Watch", "min": 20, "emoji": ":large_yellow_circle:"},
            {"name": "At Risk", "min": 5, "emoji": ":large_orange_circle:"},
            {"name": "Likely to Churn", "min": 0, "emoji": ":red_circle:"},
        ],
        # Dead band: an account keeps last period's category unless its health is more
        # than this many points beyond the band edge it crossed (no flips on noise).
        "hysteresis": 6.0,
    },
    "upsell_index": {
        "likely": {"name": "Likely to upsell", "emoji": ":rocket:"},
        "unlikely": {"name": "Not likely to upsell", "emoji": ":heavy_minus_sign:"},
        # Probability at or above which an account is "likely"; null = chosen on
        # validation data at training time (and recorded with the model).
        "threshold": None,
        # Dead band: keeps last period's category unless the probability is beyond the
        # threshold by more than this share of it (0.1 = 10%).
        "hysteresis": 0.25,
    },
    "scoring": {
        "seed": 42,
        "min_positive_labels": 30,
        "max_text_categories": 30,
    },
    "slack": {
        "command": "/outcome",
        "app_name": "Outcomes",
        "allowed_team_ids": [],
        "admins": [],
        "admin_channel": None,
        "summary_channel": None,
        "feedback_emoji": ["x", "-1"],
        "page_size": 10,
    },
    "schedule": {
        "timezone": "UTC",
        # APScheduler cron fields.
        "pulse": {"day_of_week": "mon", "hour": 9, "minute": 0},
        "summary": {"day_of_week": "mon", "hour": 9, "minute": 30},
        "inbox": {"hour": 6, "minute": 0},
    },
    "pulse": {
        # An owner none of whose accounts moved gets no DM (true: a one-line "all steady").
        "send_when_steady": False,
        # Movements shown per pulse, most important first; the rest are "and N more".
        "max_items": 10,
        # `/outcome snooze ACCOUNT` without a number of days.
        "snooze_days": 30,
    },
    "inbox": {"path": None},
    "smtp": {
        "host": None,
        "port": 587,
        "starttls": True,
        "username": None,
        "sender": None,
        "recipients": [],
    },
    # SQL sources by name (docs/sources.md): url (SQLAlchemy, no password), password_env,
    # query (may use :last_sync), schedule (cron fields; null = on demand only).
    "sources": {},
    # Scores written back to the CRM (docs/crm.md): `outcomes push --to ...`.
    "crm": {
        # The column of your data that identifies the account in the CRM.
        "key_column": "account_id",
        "push_after_scoring": [],      # e.g. [hubspot]: push after every scoring run
        "hubspot": {
            # A unique company property holding the key; null = the key is the record id.
            "id_property": "outcomes_account_id",
            "fields": {"health_score": "outcomes_health_score",
                       "renewal_index": "outcomes_renewal_index",
                       "upsell_index": "outcomes_upsell_index",
                       "churn_probability": "outcomes_churn_probability"},
        },
        "salesforce": {
            "api_version": "v61.0",
            "external_id_field": "Outcomes_Account_Id__c",   # an External ID field on Account
            "fields": {"health_score": "Outcomes_Health_Score__c",
                       "renewal_index": "Outcomes_Renewal_Index__c",
                       "upsell_index": "Outcomes_Upsell_Index__c",
                       "churn_probability": "Outcomes_Churn_Probability__c"},
        },
    },
}

# Environment variables: secrets live only here, never in app.yaml.
ENV_SLACK_BOT_TOKEN = "SLACK_BOT_TOKEN"
ENV_SLACK_SIGNING_SECRET = "SLACK_SIGNING_SECRET"
ENV_SLACK_APP_TOKEN = "SLACK_APP_TOKEN"
ENV_SLACK_API_URL = "SLACK_API_URL"
ENV_SMTP_PASSWORD = "OUTCOMES_SMTP_PASSWORD"
ENV_CONFIG = "OUTCOMES_CONFIG"
ENV_DB = "OUTCOMES_DB"
ENV_HUBSPOT_TOKEN = "HUBSPOT_ACCESS_TOKEN"
ENV_HUBSPOT_API_URL = "HUBSPOT_API_URL"
DEFAULT_HUBSPOT_API_URL = "https://api.hubapi.com"
ENV_SALESFORCE_TOKEN = "SALESFORCE_ACCESS_TOKEN"
ENV_SALESFORCE_INSTANCE_URL = "SALESFORCE_INSTANCE_URL"
