"""messages.render.checked refuses what Slack would answer with invalid_blocks."""

from __future__ import annotations

import pytest

from messages.render import FULL_CHECKS_ENV, InvalidMessage, checked, escape_mrkdwn, full_checks
from tests.bot.conftest import settings, store  # noqa: F401


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, text: str = "Open", value: str = "v") -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, "value": value}


@pytest.mark.parametrize(
    ("blocks", "words"),
    [
        ([section("x")] * 51, "at most 50"),
        ([section("x" * 3001)], "3000"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "150"),
        ([{"type": "actions", "elements": [button("a"), button("a")]}], "action_id repeated"),
        ([{"type": "actions", "elements": [button("a", text="t" * 76)]}], "75"),
        ([{"type": "actions", "elements": [button(f"a{i}") for i in range(26)]}], "25"),
        ([section("a", block_id="b"), section("b", block_id="b")], "block_id repeated"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "fields"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "cannot exceed 10"),
    ],
)
def test_slack_limits_are_enforced(blocks: list[dict], words: str) -> None:
    with pytest.raises(InvalidMessage, match=words):
        checked("fallback", blocks)


def test_fallback_text_is_required() -> None:
    with pytest.raises(InvalidMessage, match="fallback"):
        checked(" ", [section("x")])


def test_escape_only_the_three_control_characters() -> None:
    assert escape_mrkdwn("R&D <b> *bold* @here") == "R&amp;D &lt;b&gt; *bold* @here"


# -- slack_sdk.models in the tests, the cheap checks on hot paths ------------------------------


def test_the_tests_validate_every_message_with_slack_sdk() -> None:
    """tests/conftest.py switches the full checks on, so every builder tested is checked."""
    assert full_checks()


def test_slack_sdk_must_read_each_block_as_built() -> None:
    """A key slack_sdk.models drops (Slack would refuse or ignore it) fails the full checks."""
    with pytest.raises(InvalidMessage, match="slack_sdk.models reads it otherwise"):
        checked("fallback", [section("x", colour="red")])
    with pytest.raises(InvalidMessage, match="blocks\\[0\\]"):  # slack_sdk's own formation error
        checked("fallback", [{"type": "actions", "elements": [
            {**button("a"), "style": "loud"}]}])


@pytest.mark.parametrize(
    ("blocks", "words"),
    [
        ([section("x")] * 51, "at most 50"),
        ([section("x" * 3001)], "3000"),
        ([{"type": "actions", "elements": [button("a"), button("a")]}], "action_id repeated"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "context elements"),
        ([{"type": "carousel"}], "unknown block type"),
        ([{"type": "section"}], "needs text or fields"),
    ],
)
def test_hot_path_checks_without_slack_sdk(monkeypatch, blocks: list[dict], words: str) -> None:
    """Serving, `ask` and the pulse skip slack_sdk (5 ms a message) but keep Slack's limits."""
    monkeypatch.delenv(FULL_CHECKS_ENV)
    assert not full_checks()
    with pytest.raises(InvalidMessage, match=words):
        checked("fallback", blocks)


def test_hot_path_sends_what_the_full_checks_passed(monkeypatch, store, settings) -> None:
    """The card, list and summary are the same blocks with or without slack_sdk."""
    from bot.console import answer

    texts = ["/outcome Acme Analytics", "/outcome list at risk", "/outcome summary", "/outcome help"]
    full = [answer(store, settings, t) for t in texts]
    monkeypatch.delenv(FULL_CHECKS_ENV)
    assert [answer(store, settings, t) for t in texts] == full


# -- the templates' code ------------------------------------------------------------------------

INTERPOLATIONS = (
    '{% macro mention(id) %}<@{{ id | mrkdwn }}>{% endmacro %}'
    '{{ name }} · {{ mention(user) }} · {{ n | number }} · {{ (a or "n/a") | mrkdwn }}'
    '{% for x in xs %} {{ x }}{% endfor %}{% autoescape false %} {{ raw }}{% endautoescape %}'
)


def test_the_code_generator_renders_as_jinjas_own() -> None:
    """messages.render compiles `{{ x }}` without markupsafe's escape() around `finalize`
    (already Markup): every interpolation must read as with Jinja's own code generator."""
    import jinja2

    from messages import render

    env = render.environment()
    stock = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True,
                               finalize=render._escaped)
    stock.filters.update(env.filters)
    context = {"name": "R&D <Sons> \u202e", "user": "U1>x", "n": 12345.5, "a": None,
               "xs": ["<a>", 3, render.composed("*ok* &amp;")], "raw": "<raw & kept>"}
    ours = env.from_string(INTERPOLATIONS).render(**context)
    assert ours == stock.from_string(INTERPOLATIONS).render(**context)
    assert ours.startswith("R&amp;D &lt;Sons&gt;  · <@U1&gt;x> · 12,345.5 · n/a")
    source = env.compile(env.loader.get_source(env, "card.j2")[0], raw=True)
    assert "(environment.finalize(" in source and "escape(environment.finalize(" not in source
