"""App Home, and who a Slack user is in the book."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.services.core import Requester, guarded, period
from bot.services.summary import summary
from messages.home import HomeData
from storage import feedback as fb
from storage import queries
from storage.store import Store

if TYPE_CHECKING:  # slack_sdk loads only where a client is used: `outcomes ask` has none
    from slack_sdk import WebClient

log = logging.getLogger(__name__)
EMAIL_TTL_SECONDS = 3600.0
_emails: dict[str, tuple[float, str | None]] = {}
_emails_lock = threading.Lock()


def owner_email(store: Store, user_id: str | None, client: WebClient | None = None) -> str | None:
    """The owner email a Slack user stands for: from the book, else users.info (cached)."""
    if not user_id:
        return None
    email = queries.owner_email_for_user(store, user_id)
    if email or client is None:
        return email
    now = time.monotonic()
    with _emails_lock:
        hit = _emails.get(user_id)
    if hit and now - hit[0] < EMAIL_TTL_SECONDS:
        return hit[1]
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        resp = client.users_info(user=user_id)
        email = ((resp.get("user") or {}).get("profile") or {}).get("email")
        email = email.lower() if email else None
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("users.info for %s failed: %s", user_id, exc)
        email = None
    with _emails_lock:
        _emails[user_id] = (now, email)
    return email


def requester(store: Store, settings: Settings, *, user_id: str | None, team_id: str | None = None,
              channel_id: str | None = None, client: WebClient | None = None,
              resolve_email: bool = False, with_email: bool = True) -> Requester:
    """Who is asking. `user_id` may also be an owner email (the console's --user).
    `with_email=False`: the answer does not need the owner email a Slack user stands for,
    so it is not looked up (an email given as `user_id` is still theirs)."""
    email = None
    if user_id and "@" in user_id:
        email, user_id = user_id.lower(), None
    elif user_id and with_email:
        # From the book (cheap); users.info only when the answer needs it.
        email = owner_email(store, user_id, client if resolve_email else None)
    return Requester(user_id=user_id, team_id=team_id, channel_id=channel_id, owner_email=email)


@guarded
def home(store: Store, settings: Settings, me: Requester, per_category: int = 5) -> HomeData:
    """The user's own accounts by category, recent movements, and the flags they left open."""
    flags = fb.flags(store, user_id=me.user_id, open_only=True) if me.user_id else []
    names = {a["account_id"]: a["name"] for a in
             queries.accounts_by_ids(store, sorted({f.account_id for f in flags if f.account_id}))}
    if queries.latest_as_of(store) is None or not (me.user_id or me.owner_email):
        return HomeData(me.user_id, me.owner_email, None, {}, flags, names)
    data = summary(store, settings, owner_email=me.owner_email, owner_slack_id=me.user_id)
    if data.total_accounts == 0:
        return HomeData(me.user_id, me.owner_email, None, {}, flags, names)
    p = period(store)
    top = {}
    for cat in settings.renewal_categories:
        rows, _ = queries.list_accounts(store, p.as_of, renewal_index=cat,
                                        owner_email=me.owner_email, owner_slack_id=me.user_id,
                                        limit=per_category)
        top[cat] = rows
    return HomeData(me.user_id, me.owner_email, data, top, flags, names)
