"""The summary email: the same `SummaryData` as the channel summary, as HTML and plain text.

Its own Jinja2 environment: HTML autoescaping (account names come from data) and
StrictUndefined, with the number filters of the Slack environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import jinja2

from messages.render import environment as slack_environment

if TYPE_CHECKING:
    from messages.settings import DisplaySettings
    from messages.summary import SummaryData

MOVERS_SHOWN = 10


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("messages", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    shared = slack_environment().filters
    env.filters.update(money=shared["money"], pct=shared["pct"], number=shared["number"])
    return env


def summary_email(data: SummaryData, settings: DisplaySettings) -> EmailContent:
    groups = [("Worse", data.worsened), ("Better", data.improved),
              ("Newly likely to upsell", data.upsell_gained),
              ("No longer likely to upsell", data.upsell_lost)]
    context = {"data": data, "groups": groups, "movers": MOVERS_SHOWN,
               "app_name": settings.app_name}
    env = environment()
    subject = (f"{settings.app_name} summary {data.as_of}: {data.total_accounts:,} accounts, "
               f"{len(data.worsened)} worse, {len(data.improved)} better")
    return EmailContent(
        subject=subject,
        text=env.get_template("email_summary.txt.j2").render(**context).strip() + "\n",
        html=env.get_template("email_summary.html.j2").render(**context),
    )
