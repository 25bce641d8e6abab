"""Every test runs with the full Block Kit checks: each message built (and each message the
app started by an end-to-end test sends, since the environment is inherited) is parsed
with slack_sdk.models and must be what that library makes of it (messages.render)."""

import os

from messages.render import FULL_CHECKS_ENV

os.environ[FULL_CHECKS_ENV] = "slack_sdk"
