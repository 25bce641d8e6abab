"""Use cases shared by the Slack listeners, the console and the scheduler.

Each takes the store and settings (and, when it talks to Slack, a WebClient) and
returns plain data; `messages/` turns that data into Block Kit. Expected problems
are `bot.services.errors.UserError`s carrying the words the user will read.
"""

from bot.services.core import Period, movement_direction, period, provisional
from bot.services.errors import (
    AccountNotFound,
    BadArguments,
    NotAllowed,
    NotScoredYet,
    Rescoring,
    UnknownCommand,
    UserError,
)
from bot.services.summary import CategoryLine, Movement, SummaryData, movement_rows, summary

__all__ = [
    "AccountNotFound", "BadArguments", "CategoryLine", "Movement", "NotAllowed", "NotScoredYet",
    "Period", "Rescoring", "SummaryData", "UnknownCommand", "UserError", "movement_direction",
    "movement_rows", "period", "provisional", "summary",
]
