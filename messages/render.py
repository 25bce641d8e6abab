"""Jinja2 environment for Slack text, and the checks every outgoing message passes.

Templates produce mrkdwn text; Python builds the Block Kit structure around it.

One escaping rule for every mrkdwn text we send (top-level `text`, section, field and
context texts, thread replies, DMs, App Home): whatever a template interpolates with
`{{ ... }}` is escaped (`&`, `<`, `>`, and bidirectional-override characters removed),
unless it is the output of one of our own macros or already escaped. Mentions and links
therefore only appear where a template writes them literally (`<@{{ id | mrkdwn }}>`).
Python code that builds mrkdwn by hand escapes data with `escape_mrkdwn`. `plain_text`
objects (headers, buttons, options, modal titles) are never parsed by Slack and stay literal.
`checked()` checks the limits `slack_sdk.models` does not (blocks per message, field
counts and lengths, unique ids) on every message. Where `OUTCOMES_BLOCK_KIT_CHECKS=slack_sdk`
is set (the test suite sets it: tests/conftest.py) it also parses every block with
`slack_sdk.models` (which enforces most per-object limits on `to_dict()`) and requires
what it makes of the block to be the block as built, so each message the tests build is
valid Block Kit, byte for byte as it is sent. A message that would make Slack answer
`invalid_blocks` fails there, in our tests, instead. Off that switch (serving, `ask`, the
pulse) slack_sdk is not even imported: its validation cost about 5 ms a message, most of
a card's time.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import markupsafe

if TYPE_CHECKING:
    import jinja2

Surface = Literal["message", "modal", "home"]
MAX_BLOCKS: dict[str, int] = {"message": 50, "modal": 100, "home": 100}
MAX_TEXT = 40_000
# The block types our builders make; the cheap check refuses any other (slack_sdk would).
BLOCK_TYPES = frozenset({"section", "header", "context", "actions", "divider", "input", "image"})
FULL_CHECKS_ENV = "OUTCOMES_BLOCK_KIT_CHECKS"
LIMITS = {
    "section_text": 3000,
    "section_fields": 10,
    "field_text": 2000,
    "header_text": 150,
    "context_elements": 10,
    "actions_elements": 25,
    "button_text": 75,
    "button_value": 2000,
    "id": 255,
    "option_text": 75,
    "option_value": 150,
    "select_options": 100,
    "overflow_options": 5,
}


class InvalidMessage(ValueError):
    """A message Slack would reject; the text says where and why."""


@dataclass(frozen=True)
class Message:
    """What we send: the fallback `text` (notifications, screen readers) and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    surface: Surface = "message"

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


# Bidirectional embedding/override/isolate controls: in a name they can make text read in
# another order than it is written (a disguised link or amount). Dropped from data.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


# Any character escape_mrkdwn changes: most texts have none, and one regex search (in C)
# costs less than the translate and three replaces (a pulse run escapes 500,000 texts).
_TO_ESCAPE = re.compile("[&<>\u202a-\u202e\u2066-\u2069]")


def clean_text(value: object) -> str:
    """Data-provided text with the bidirectional controls removed (for plain_text too)."""
    return str(value).translate(_BIDI_CONTROLS)


def escape_mrkdwn(value: object) -> str:
    """Slack's three control characters, and nothing else, from data-provided text."""
    if isinstance(value, markupsafe.Markup):  # our own template output: already escaped
        return str(value)
    text = str(value)
    if _TO_ESCAPE.search(text) is None:
        return text
    return text.translate(_BIDI_CONTROLS).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def composed(text: str) -> markupsafe.Markup:
    """mrkdwn our own code composed (its data already escaped), for a template to insert as is."""
    return markupsafe.Markup(text)


def _escaped(value: object) -> markupsafe.Markup:
    """`{{ value }}` in a template: escaped once, marked so nothing escapes it again."""
    if isinstance(value, markupsafe.Markup):
        return value
    # str.__new__ is what Markup(text) ends in for a str, without its Python-level __new__.
    return str.__new__(markupsafe.Markup, escape_mrkdwn(value))


def _money(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    amount = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= limit:
            return f"${amount / limit:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"${amount:,.0f}"


def _pct(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * float(value):.{digits}f}%"


def _number(value: float | str | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, str):
        return value
    as_float = float(value)
    return f"{as_float:,.0f}" if as_float.is_integer() else f"{as_float:,.{digits}f}"


_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


def _truncate(value: str, limit: int, marker: str = "…") -> str:
    """At most `limit` characters; an escaped text is never cut inside `&amp;`/`&lt;`/`&gt;`."""
    if len(value) <= limit:
        return value
    cut = _PARTIAL_ENTITY.sub("", str(value)[: max(0, limit - len(marker))]) + marker
    return markupsafe.Markup(cut) if isinstance(value, markupsafe.Markup) else cut


_DICT_ATTRIBUTES = frozenset(dir(dict))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja2 environment for Slack text.

    StrictUndefined, so a missing value is a bug, not a blank. Autoescaping is on with
    `finalize` doing Slack's escaping (`_escaped`), so every `{{ ... }}` is escaped exactly
    once and macro output (already escaped) is not escaped again; markupsafe's own HTML
    escaping then sees only safe values and changes nothing.

    Compiled templates are kept in Jinja2's bytecode cache (a folder of this user's in
    the temp folder, keyed by each template's source), so a one-off `outcomes ask` does
    not compile the templates it uses again (about 0.15 s of its start-up).
    """
    import jinja2
    from jinja2.compiler import CodeGenerator

    class SlackTextCodeGenerator(CodeGenerator):
        def _output_child_pre(self, node: Any, frame: Any, finalize: Any) -> None:
            """`{{ x }}` compiles to `(environment.finalize(x))` where Jinja writes
            `escape(environment.finalize(x))`: `finalize` (`_escaped`) returns Markup,
            which markupsafe's escape hands back unchanged after three more calls (about
            1 us an interpolation, some 50 of them in a card)."""
            if finalize.src == "environment.finalize(" and frame.eval_ctx.autoescape \
                    and not frame.eval_ctx.volatile:
                self.write("(" + finalize.src)
            else:
                super()._output_child_pre(node, frame, finalize)

    class SlackTextEnvironment(jinja2.Environment):
        code_generator_class = SlackTextCodeGenerator

        def getattr(self, obj: Any, attribute: str) -> Any:
            """`row.name` in a template, where the row is a plain dict (a query's row) and
            `name` is not a dict method: the item at once. Jinja's own rule ends the same
            way, after getattr() has raised AttributeError (~40 of them per card)."""
            if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
                try:
                    return obj[attribute]
                except KeyError:
                    pass  # Jinja's own rule: StrictUndefined names what is missing
            return super().getattr(obj, attribute)

    env = SlackTextEnvironment(
        loader=jinja2.PackageLoader("messages", "templates"),
        bytecode_cache=_bytecode_cache(),
        # Templates ship with the code: no stat() of each template file at every render.
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        finalize=_escaped,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        mrkdwn=_escaped, money=_money, pct=_pct, number=_number, truncate_to=_truncate
    )
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    import jinja2

    try:
        # Its own file names: code compiled by SlackTextCodeGenerator, not by Jinja's own.
        return jinja2.FileSystemBytecodeCache(pattern="__outcomes_slack_text_%s.cache")
    except (OSError, RuntimeError):  # no usable temp folder: compile every time
        return None


def render_text(template: str, /, **context: Any) -> str:
    """Render a template from messages/templates to text (surrounding blank lines trimmed)."""
    return environment().get_template(template).render(**context).strip()


# -- validation ------------------------------------------------------------------------


def _fail(where: str, problem: str) -> None:
    raise InvalidMessage(f"{where}: {problem}")


def _text_of(obj: Mapping[str, Any] | None) -> str:
    return "" if not obj else str(obj.get("text", ""))


def _check_element(el: Mapping[str, Any], where: str) -> None:
    kind = el.get("type")
    for key in ("action_id", "block_id"):
        if len(str(el.get(key, ""))) > LIMITS["id"]:
            _fail(where, f"{key} longer than {LIMITS['id']}")
    if kind == "button":
        if len(_text_of(el.get("text"))) > LIMITS["button_text"]:
            _fail(where, f"button text longer than {LIMITS['button_text']}")
        if len(str(el.get("value", ""))) > LIMITS["button_value"]:
            _fail(where, f"button value longer than {LIMITS['button_value']}")
    options = list(el.get("options", []))
    for group in el.get("option_groups", []):
        options.extend(group.get("options", []))
    limit = LIMITS["overflow_options"] if kind == "overflow" else LIMITS["select_options"]
    if len(options) > limit:
        _fail(where, f"{len(options)} options (at most {limit})")
    for i, opt in enumerate(options):
        if len(_text_of(opt.get("text"))) > LIMITS["option_text"]:
            _fail(f"{where}.options[{i}]", f"option text longer than {LIMITS['option_text']}")
        if len(str(opt.get("value", ""))) > LIMITS["option_value"]:
            _fail(f"{where}.options[{i}]", f"option value longer than {LIMITS['option_value']}")


def _check_block(block: Mapping[str, Any], where: str) -> None:
    kind = block.get("type")
    if len(str(block.get("block_id", ""))) > LIMITS["id"]:
        _fail(where, f"block_id longer than {LIMITS['id']}")
    if kind == "section":
        if len(_text_of(block.get("text"))) > LIMITS["section_text"]:
            _fail(where, f"section text longer than {LIMITS['section_text']}")
        fields = block.get("fields") or []
        if len(fields) > LIMITS["section_fields"]:
            _fail(where, f"{len(fields)} fields (at most {LIMITS['section_fields']})")
        for i, f in enumerate(fields):
            if len(_text_of(f)) > LIMITS["field_text"]:
                _fail(f"{where}.fields[{i}]", f"longer than {LIMITS['field_text']}")
        if not block.get("text") and not fields:
            _fail(where, "section needs text or fields")
        if block.get("accessory"):
            _check_element(block["accessory"], f"{where}.accessory")
    elif kind == "header":
        if len(_text_of(block.get("text"))) > LIMITS["header_text"]:
            _fail(where, f"header text longer than {LIMITS['header_text']}")
    elif kind == "context":
        if len(block.get("elements", [])) > LIMITS["context_elements"]:
            _fail(where, f"more than {LIMITS['context_elements']} context elements")
    elif kind == "actions":
        elements = block.get("elements", [])
        if len(elements) > LIMITS["actions_elements"]:
            _fail(where, f"more than {LIMITS['actions_elements']} actions")
        ids = [el["action_id"] for el in elements if el.get("action_id")]
        if len(ids) != len(set(ids)):
            _fail(where, "action_id repeated within the block (Slack wants them unique)")
        for i, el in enumerate(elements):
            _check_element(el, f"{where}.elements[{i}]")
    elif kind == "input" and block.get("element"):
        _check_element(block["element"], f"{where}.element")


def check_blocks(blocks: Sequence[Mapping[str, Any]], surface: Surface = "message") -> list[dict[str, Any]]:
    """Validate blocks as Slack would; return them as plain dicts."""
    if len(blocks) > MAX_BLOCKS[surface]:
        raise InvalidMessage(f"{len(blocks)} blocks (a {surface} takes at most {MAX_BLOCKS[surface]})")
    block_ids = [b["block_id"] for b in blocks if b.get("block_id")]
    if len(block_ids) != len(set(block_ids)):
        raise InvalidMessage("block_id repeated in one message (Slack wants them unique)")
    full = full_checks()
    out = []
    for i, raw in enumerate(blocks):
        where = f"blocks[{i}]"
        block = dict(raw)
        if full:
            _slack_sdk_check(block, where)
        elif block.get("type") not in BLOCK_TYPES:
            _fail(where, f"unknown block type {block.get('type')!r}")
        _check_block(block, where)
        out.append(block)
    return out


def full_checks() -> bool:
    """Whether every block is also parsed with slack_sdk.models (tests; see the module doc)."""
    return os.environ.get(FULL_CHECKS_ENV) == "slack_sdk"


def _slack_sdk_check(block: dict[str, Any], where: str) -> None:
    """slack_sdk.models' validation of one block, which must give back the block as built."""
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.blocks import Block

    parsed = Block.parse(dict(block))
    if parsed is None or block.get("type") not in BLOCK_TYPES:
        _fail(where, f"unknown block type {block.get('type')!r}")
    try:
        as_dict = parsed.to_dict()
    except SlackObjectFormationError as exc:
        raise InvalidMessage(f"{where}: {exc}") from None
    if as_dict != block:
        _fail(where, f"slack_sdk.models reads it otherwise: {as_dict!r} (built: {block!r})")


def checked(text: str, blocks: Iterable[Mapping[str, Any]], surface: Surface = "message") -> Message:
    """A Message that passed every check; raises InvalidMessage otherwise."""
    if not text or not text.strip():
        raise InvalidMessage("text: a fallback text is required with blocks")
    if len(text) > MAX_TEXT:
        text = _truncate(text, MAX_TEXT)
    return Message(text=text, blocks=check_blocks(list(blocks), surface), surface=surface)
