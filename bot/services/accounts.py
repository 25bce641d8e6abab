"""Finding accounts by name, the account card, and filtered lists."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from bot.config import Settings
from bot.services.core import (
    Book,
    Requester,
    book,
    book_churn,
    guarded,
    movement_direction,
    period,
    provisional_reason,
)
from bot.services.errors import AccountNotFound, BadArguments
from messages.account import Card, Match
from messages.lists import AccountList, ListQuery
from storage import queries
from storage.store import Store

CHOICES_SHOWN = 10
SURE_SCORE = 90.0       # a fuzzy match this good, and clearly ahead, is the account
SUGGEST_SCORE = 60.0    # below this, a name is not worth suggesting
VERSION_TTL_SECONDS = 5.0
_SPACES = re.compile(r"\s+")


def name_key(text: str) -> str:
    """How names are compared: casefolded, whitespace collapsed (matches accounts.name_key)."""
    return _SPACES.sub(" ", text.strip()).casefold()


# -- the name index, cached per store and scoring version ------------------------------------


class _NameIndex:
    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self.ids = [r[0] for r in rows]
        self.names = [r[1] for r in rows]
        self.keys = [_SPACES.sub(" ", r[2]) for r in rows]


_indexes: dict[str, tuple[tuple[Any, ...], float, _NameIndex]] = {}
_index_lock = threading.Lock()


def _name_index(store: Store) -> _NameIndex:
    """Every account name, loaded once and reloaded when ingest or scoring changed the book."""
    now = time.monotonic()
    with _index_lock:
        cached = _indexes.get(store.path + str(id(store)))
    if cached and now - cached[1] < VERSION_TTL_SECONDS:
        return cached[2]
    version = queries.scoring_version(store)
    if cached and cached[0] == version:
        with _index_lock:
            _indexes[store.path + str(id(store))] = (version, now, cached[2])
        return cached[2]
    index = _NameIndex(queries.account_names(store))
    with _index_lock:
        _indexes[store.path + str(id(store))] = (version, now, index)
    return index


def forget_names(store: Store | None = None) -> None:
    """Drop cached name lists (after a rescoring in this process, or in tests)."""
    with _index_lock:
        if store is None:
            _indexes.clear()
        else:
            _indexes.pop(store.path + str(id(store)), None)


# -- lookup ------------------------------------------------------------------------------------------


def _confident(hits: list[tuple[str, float, int]]) -> bool:
    best = hits[0][1] if hits else 0.0
    runner_up = hits[1][1] if len(hits) > 1 else 0.0
    return best >= SURE_SCORE and best - runner_up >= 3


def _fuzzy(store: Store, key: str, limit: int) -> list[tuple[str, float, int]]:
    """Typos first with the fast whole-string ratio (~5 ms per 100k names); only when that
    finds nothing sure, the slower weighted ratio that also scores partial names."""
    from rapidfuzz import fuzz, process  # only for a name not found as typed

    index = _name_index(store)
    if not index.keys:
        return []
    quick = process.extract(key, index.keys, scorer=fuzz.QRatio, limit=limit,
                            score_cutoff=SUGGEST_SCORE)
    hits = [(index.ids[i], score, i) for _, score, i in quick]
    if _confident(hits):
        return hits
    thorough = process.extract(key, index.keys, scorer=fuzz.WRatio, limit=limit,
                               score_cutoff=SUGGEST_SCORE)
    better = [(index.ids[i], score, i) for _, score, i in thorough]
    return better if better and (not hits or better[0][1] >= hits[0][1]) else hits


def warm_names(store: Store) -> None:
    """Load the name index and compile the templates now (at server start), so the first
    users do not wait for either."""
    from messages.render import environment

    env = environment()
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)
    _name_index(store)


@guarded
def find_account(store: Store, query: str) -> Match:
    """Case-insensitive and forgiving: exact name or id, then name prefix, then fuzzy.

    One account -> Match.account. Several -> Match.choices (largest ARR first).
    None -> AccountNotFound with up to three "did you mean" suggestions (none when no name
    is close: scores below SUGGEST_SCORE are not suggested).
    """
    key = name_key(query)
    if not key:
        raise BadArguments("Which account? e.g. `/outcome acme`")
    exact = queries.accounts_by_key(store, key, raw=query.strip())
    if len(exact) == 1:
        return Match(query, account=exact[0], how="exact")
    if exact:
        return Match(query, choices=exact[:CHOICES_SHOWN], total=len(exact), how="exact")
    prefixed = queries.accounts_by_prefix(store, key, limit=CHOICES_SHOWN)
    if len(prefixed) == 1:
        return Match(query, account=prefixed[0], how="prefix")
    if prefixed:
        total = queries.count_by_prefix(store, key)
        return Match(query, choices=prefixed, total=total, how="prefix")
    hits = _fuzzy(store, key, limit=CHOICES_SHOWN)
    if _confident(hits):
        return Match(query, account=queries.account(store, hits[0][0]), how="fuzzy")
    # Only names that score at least SUGGEST_SCORE: "asdkjh 12 !!" resembles no account,
    # and suggesting the least unlike one would send people to an unrelated account.
    suggestions = queries.accounts_by_ids(store, [h[0] for h in hits[:3]])
    raise AccountNotFound(query, suggestions)


# -- the card ---------------------------------------------------------------------------------------


@guarded
def card(store: Store, settings: Settings, account_id: str, as_of: str | None = None, *,
         account: dict[str, Any] | None = None) -> Card:
    """Everything the account card shows, from a handful of primary-key reads. `account`:
    the account's row as the lookup (`find_account`) read it, so it is not read twice."""
    acct = account if account is not None and account["account_id"] == account_id \
        else queries.account(store, account_id)
    if acct is None:
        raise AccountNotFound(account_id)
    bk = book(store)
    p = bk.period(store) if as_of is None else period(store, as_of)
    current, previous = queries.score_and_previous(store, account_id, p.as_of)
    if current is None:  # not in the latest scoring (e.g. churned): show its last score
        last = queries.score_before(store, account_id, "9999-12-31")
        if last is not None:
            current, previous = queries.score_and_previous(store, account_id, last["as_of"])
    segment = None
    if current and current.get("segment_id") is not None:
        segment = bk.segment(store, current["churn_model"], int(current["segment_id"]))
    is_provisional, reason = bk.provisional_state(store)
    return Card(
        account=acct,
        score=current,
        previous=previous,
        history=queries.history(store, account_id),
        segment=segment,
        renewal_move=movement_direction(settings, previous and previous["renewal_index"],
                                        current and current["renewal_index"]),
        upsell_move=movement_direction(settings, previous and previous["upsell_index"],
                                       current and current["upsell_index"], "upsell"),
        as_of=p.as_of,
        provisional=is_provisional,
        provisional_reason=reason,
        book_churn=bk.churn(store, current["as_of"]) if current else None,
        horizon_days=settings.horizon_days,
        stale_since=_stale_since(acct, p.as_of) if current else None,
        upsell_threshold=_upsell_threshold(store, settings, current, bk),
    )


def _stale_since(acct: dict[str, Any], as_of: str) -> str | None:
    """The account's last snapshot date when it is missing from the latest scored snapshot
    without being marked churned (so it is not a current account: `queries.current_scores`)."""
    last = acct.get("last_as_of")
    return last if acct.get("status") != "churned" and last and last < as_of else None


def _upsell_threshold(store: Store, settings: Settings, score: dict[str, Any] | None,
                      bk: Book) -> float | None:
    """The threshold the score's upsell model used: app.yaml's, else the one it chose."""
    if not score or score.get("upsell_probability") is None:
        return None
    if settings.for_scoring.upsell_threshold is not None:
        return settings.for_scoring.upsell_threshold
    row = bk.model(store, score["upsell_model"]) if score.get("upsell_model") else None
    value = (row or {}).get("metrics", {}).get("threshold")
    return float(value) if value is not None else None


# -- lists ------------------------------------------------------------------------------------------


def owner_by_handle(store: Store, handle: str) -> str:
    """'@maria' -> the one owner email whose name part is maria (maria@…, maria.lopez@…)."""
    name = handle.lstrip("@").casefold()
    emails = [o["owner_email"] for o in queries.owners(store) if o["owner_email"]]
    local = {e: e.split("@", 1)[0] for e in emails}
    for rule in (lambda part: part == name,
                 lambda part: re.split(r"[._+-]", part)[0] == name,
                 lambda part: len(name) >= 3 and part.startswith(name)):
        found = sorted(e for e, part in local.items() if rule(part))
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
            raise BadArguments(f"Several owners match {escape(handle)}: {listed}. Use the email.")
    raise BadArguments(f"No owner matches {escape(handle)}. Use a Slack mention or an owner's email.")


def escape(text: str) -> str:
    from messages.render import escape_mrkdwn

    return escape_mrkdwn(text)


@guarded
def list_accounts(store: Store, settings: Settings, q: ListQuery,
                  me: Requester | None = None) -> AccountList:
    """Accounts in one category (of the latest period), by ARR, one page at a time."""
    p = period(store)
    if q.segment_id is not None:
        from bot.services.catalog import require_segment

        require_segment(store, q.segment_id)   # "segment 9" means the same everywhere
    owner_email, owner_slack_id, label = q.owner_email, q.owner_slack_id, None
    if owner_email and owner_email.startswith("@"):   # "owner @maria" typed as text (console)
        owner_email = owner_by_handle(store, owner_email)
    if q.mine:
        if me is None or not (me.user_id or me.owner_email):
            raise BadArguments("I don't know which accounts are yours: `mine` needs a Slack user.")
        owner_email, owner_slack_id, label = me.owner_email, me.user_id, "yours"
    elif owner_slack_id:
        owner_email = owner_email or queries.owner_email_for_user(store, owner_slack_id)
        label = f"<@{owner_slack_id}>"
    elif owner_email:
        label = owner_email
    size = settings.slack.page_size
    column = {"renewal": "renewal_index", "upsell": "upsell_index"}[q.kind]
    rows, total = queries.list_accounts(
        store, p.as_of, **{column: q.category}, owner_email=owner_email,
        owner_slack_id=owner_slack_id, segment_id=q.segment_id,
        limit=size, offset=(max(q.page, 1) - 1) * size,
    )
    pages = max(1, -(-total // size))
    return AccountList(q, rows, total, min(max(q.page, 1), pages), pages, size, p.as_of, label,
                       book_churn=book_churn(store, p.as_of), horizon_days=settings.horizon_days,
                       provisional_reason=provisional_reason(store))
