"""`/outcome list <category> ...`: one page of accounts, by ARR, with paging buttons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from messages import blocks as b
from messages.account import emoji_lookup
from messages.actions import LIST_PAGE, OPEN_ACCOUNT
from messages.render import Message, checked

if TYPE_CHECKING:
    from messages.settings import DisplaySettings


@dataclass(frozen=True)
class ListQuery:
    category: str                 # a Renewal Index or Upsell Index category name
    kind: str                     # renewal / upsell
    mine: bool = False
    segment_id: int | None = None
    owner_slack_id: str | None = None
    owner_email: str | None = None
    page: int = 1


@dataclass(frozen=True)
class AccountList:
    query: ListQuery
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    page_size: int
    as_of: str
    owner_label: str | None = None
    book_churn: float | None = None          # the book's mean churn probability on as_of
    horizon_days: int = 90
    provisional_reason: str | None = None    # set when the scores are provisional


def list_message(lst: AccountList, settings: DisplaySettings, *, shared_by: str | None = None) -> Message:
    """One page of a list; `shared_by`: posted in a channel (no paging; reactions flag)."""
    t = b.macros("lists.j2")
    e = emoji_lookup(settings)
    blocks = [b.section(b.text_of(t.title(lst, e(lst.query.category))))]
    if not lst.rows:
        blocks.append(b.context(b.text_of(t.empty())))
    first = (lst.page - 1) * lst.page_size
    for n, r in enumerate(lst.rows, start=first + 1):
        blocks.append(b.section(b.text_of(t.row(n, r, e, lst)),
                                accessory=b.button("Open", OPEN_ACCOUNT, r["account_id"])))
    if lst.provisional_reason:
        blocks.append(b.context(b.text_of(t.provisional(lst.provisional_reason))))
    rest = lst.total - first - len(lst.rows)
    if rest > 0:
        blocks.append(b.context(f"…and {rest:,} more"))
    if shared_by:
        blocks.append(b.context(b.text_of(t.shared_by(shared_by))))
    elif lst.pages > 1:
        q = lst.query
        state = {"c": q.category, "k": q.kind, "m": q.mine, "s": q.segment_id,
                 "o": q.owner_slack_id, "e": q.owner_email}
        nav = []
        if lst.page > 1:
            nav.append(b.button("◀ Previous", LIST_PAGE, json.dumps({**state, "p": lst.page - 1})))
        if lst.page < lst.pages:
            nav.append(b.button("Next ▶", LIST_PAGE, json.dumps({**state, "p": lst.page + 1})))
        blocks.append(b.actions(nav, block_id="list_nav"))
    return checked(b.text_of(t.fallback(lst)), blocks)
