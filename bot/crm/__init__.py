"""Scores written back to the CRM: `outcomes push --to hubspot|salesforce`.

settings.py  the `crm:` section of app.yaml and the environment (tokens, base URLs)
clients.py   the two HTTP APIs: HubSpot batch update, Salesforce sObject Collections
push.py      what changed since the last push (storage.crm_ledger), sent in batches
"""

DESTINATIONS = ("hubspot", "salesforce")  # where `outcomes push --to` writes
