"""`/outcome` text -> a Command (the dispatcher, `bot.dispatch`, turns it into a reply).

Grammar (the command name comes from settings.slack.command):
  /outcome <account>                      the account card
  /outcome list <category> [mine] [segment <n>] [owner @user|email] [page <n>]
  /outcome summary [mine] | segments | segment <n> | indicators (ingredients) | features
  /outcome share <account> | share list <category> ... | accuracy | help | rescore (admins)
  /outcome snooze <account> [days] | unsnooze <account> | snoozed
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from bot.config import Settings
from bot.services import accounts as acc
from bot.services import home
from bot.services.errors import BadArguments
from messages.render import escape_mrkdwn
from storage.store import Store

COMMANDS = ["help", "list", "summary", "segments", "segment", "indicators", "ingredients",
            "features", "share", "accuracy", "rescore", "snooze", "unsnooze", "snoozed"]
ALIASES = {"ingredients": "indicators", "": "help", "?": "help", "usage": "help"}
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_TOKEN = re.compile(r"<[^>]*>|\S+")


@dataclass(frozen=True)
class Command:
    name: str                         # account / help / list / summary / ...
    text: str                         # the text as typed (after the slash command)
    args: dict[str, Any] = field(default_factory=dict)
    maybe: str | None = None          # for an account lookup: a command the word resembles


def _category_aliases(settings: Settings) -> dict[str, tuple[str, str]]:
    r = settings.renewal_categories
    likely, unlikely = settings.upsell_categories
    out = {c.casefold(): (c, "renewal") for c in r}
    out.update({c.casefold(): (c, "upsell") for c in (likely, unlikely)})
    # Short words people type; bands are best first, so these follow the configured names.
    out.setdefault("renew", (r[0], "renewal"))
    out.setdefault("renewing", (r[0], "renewal"))
    out.setdefault("healthy", (r[0], "renewal"))
    out.setdefault("churn", (r[-1], "renewal"))
    out.setdefault("churning", (r[-1], "renewal"))
    if len(r) >= 3:
        out.setdefault("risk", (r[-2], "renewal"))
        out.setdefault("at-risk", (r[-2], "renewal"))
        out.setdefault("atrisk", (r[-2], "renewal"))
    out.setdefault("upsell", (likely, "upsell"))
    out.setdefault("upsells", (likely, "upsell"))
    out.setdefault("no upsell", (unlikely, "upsell"))
    out.setdefault("not upsell", (unlikely, "upsell"))
    return out


def parse_category(settings: Settings, words: str) -> tuple[str, str]:
    """A Renewal Index or Upsell Index category from forgiving words: (name, 'renewal'|'upsell')."""
    key = " ".join(words.replace("_", " ").split()).casefold()
    table = _category_aliases(settings)
    if key in table:
        return table[key]
    starts = {v for k, v in table.items() if k.startswith(key)} if key else set()
    if len(starts) == 1:
        return starts.pop()
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.7)
    if close:
        return table[close[0]]
    names = ", ".join(f"`{c}`" for c in [*settings.renewal_categories, *settings.upsell_categories])
    what = f"“{escape_mrkdwn(words)}” is not a category. " if key else "Which category? "
    raise BadArguments(f"{what}Use one of: {names}.")


def _int(word: str | None, what: str) -> int:
    try:
        return int(str(word).lstrip("#"))
    except (TypeError, ValueError):
        raise BadArguments(f"{what} needs a number, e.g. `{what} 2`.") from None


def parse_list(settings: Settings, rest: str) -> acc.ListQuery:
    tokens = _TOKEN.findall(rest)
    words: list[str] = []
    opts: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok, low = tokens[i], tokens[i].casefold()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if low in ("mine", "my"):
            opts["mine"] = True
        elif low == "segment":
            opts["segment_id"] = _int(nxt, "segment")
            i += 1
        elif low == "page":
            opts["page"] = _int(nxt, "page")
            i += 1
        elif low in ("owner", "owned", "by", "for"):
            if nxt is None:
                raise BadArguments("`owner` needs a person, e.g. `owner @maria`.")
            m = _MENTION.match(nxt)
            if m:
                opts["owner_slack_id"] = m.group(1)
            elif "@" in nxt.strip("<>"):
                opts["owner_email"] = nxt.strip("<>").removeprefix("mailto:").split("|")[0].lower()
            else:
                raise BadArguments("`owner` needs a Slack mention (`owner @maria`) or an email.")
            i += 1
        else:
            m = _MENTION.match(tok)
            if m:
                opts["owner_slack_id"] = m.group(1)
            elif tok.startswith("@") and len(tok) > 1:   # "@maria" typed as text (console, ask)
                opts["owner_email"] = tok.lower()
            else:
                words.append(tok)
        i += 1
    category, kind = parse_category(settings, " ".join(words))
    return acc.ListQuery(category=category, kind=kind, **opts)


_DAYS = re.compile(r"^(\d+)\s*(?:d|days?)?$", re.IGNORECASE)


def parse_snooze(settings: Settings, word: str, rest: str) -> dict[str, Any]:
    """`snooze acme 14` (days last, optional: `14`, `14d`, `14 days`), `unsnooze acme`."""
    if not rest:
        raise BadArguments(f"Which account? e.g. `{settings.slack.command} {word} acme"
                           f"{' 14' if word == 'snooze' else ''}`")
    args: dict[str, Any] = {"query": rest, "days": None}
    if word == "snooze":
        words = rest.split()
        for cut in (2, 1):   # "acme 14 days" / "acme 14"
            if len(words) > cut and _DAYS.match(" ".join(words[-cut:])):
                args = {"query": " ".join(words[:-cut]),
                        "days": int(_DAYS.match(" ".join(words[-cut:])).group(1))}
                break
    return args


def parse(settings: Settings, text: str) -> Command:
    """Parse what followed the slash command. Never raises for an unknown word: it may be a name."""
    text = " ".join((text or "").split())
    first, _, rest = text.partition(" ")
    word = ALIASES.get(first.casefold(), first.casefold())
    if word == "help":
        return Command("help", text)
    if word in ("summary", "segments", "indicators", "features", "accuracy", "rescore",
                "snoozed") and not rest:
        return Command(word, text)
    if word == "summary" and rest.casefold() in ("mine", "my", "my accounts"):
        return Command("summary", text, {"mine": True})
    if word == "segment" and rest:
        return Command("segment", text, {"segment_id": _int(rest.split()[0], "segment")})
    if word == "segments" and rest:  # "segments 2" = "segment 2"
        return Command("segment", text, {"segment_id": _int(rest.split()[0], "segment")})
    if word == "list":
        return Command("list", text, {"query": parse_list(settings, rest)})
    if word in ("snooze", "unsnooze"):
        return Command(word, text, parse_snooze(settings, word, rest))
    if word == "share":
        if not rest:
            raise BadArguments(f"Which account? e.g. `{settings.slack.command} share acme`")
        if rest.casefold().startswith("list "):  # share a list: a message about several accounts
            return Command("share", text, {"list": parse_list(settings, rest[5:])})
        return Command("share", text, {"query": rest})
    return Command("account", text, {"query": text}, maybe=_command_like(word))


@lru_cache(maxsize=4096)
def _command_like(word: str) -> str | None:
    """The command a word resembles ("sumary"), if any. Every account lookup asks (a card's
    name may be a mistyped command), so each first word is compared with the commands once:
    difflib costs ~0.1 ms a word, and the first words of names repeat."""
    maybe = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.75)
    return maybe[0] if maybe else None


# -- what answering needs ------------------------------------------------------------------


def with_owner_emails(store: Store, command: Command, client: Any = None) -> Command:
    """`list ... owner @maria`: the email Maria's accounts are filed under (from the book, the
    resolved-users table, or users.info with a client), so accounts known only by email match."""
    key = "query" if command.name == "list" else "list" if command.name == "share" else None
    if key is None or key not in command.args:
        return command
    q = command.args[key]
    if not q.owner_slack_id or q.owner_email:
        return command
    email = home.owner_email(store, q.owner_slack_id, client)
    if not email:
        return command
    return Command(command.name, command.text, {**command.args, key: replace(q, owner_email=email)},
                   command.maybe)


def needs_owner(command: Command) -> bool:
    """Whether answering needs the user's owner email (a users.info call in Slack)."""
    if command.name == "summary":
        return bool(command.args.get("mine"))
    if command.name == "share" and "list" in command.args:
        return command.args["list"].mine
    return command.name == "list" and command.args["query"].mine

