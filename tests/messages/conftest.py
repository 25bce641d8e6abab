"""The message builders are tested on the same seeded book as the Slack app."""

from tests.bot.conftest import empty_store, settings, store  # noqa: F401
