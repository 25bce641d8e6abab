"""The bot's named exceptions that the command line catches, in a module light enough
for `bot.cli` to import at start (no pydantic, no yaml, no http.client): `outcomes
--help` loads neither `bot.config` nor `bot.slack_client`, which raise them."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


class MissingSecret(Exception):
    """A secret the command needs is not in the environment."""
