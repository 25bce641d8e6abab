"""bot.listeners.common: ack_then_work (the ack first, the work after it, on the pool) and
answer_in_ack (the slash command's reply in the ack within the budget, else once after it)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bot.listeners.common import AckDeadline, ack_then_work, answer_in_ack, work_after_ack
from bot.services.errors import UserError
from messages.errors import bug_message, error_message, note_message


class Ack:
    def __init__(self) -> None:
        self.calls = 0
        self.replies: list[dict] = []

    def __call__(self, **reply) -> None:
        self.calls += 1
        self.replies.append(reply)


class Respond:
    """Bolt's `respond` (response_url): records what was sent, wakes a waiting test."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.event = threading.Event()

    def __call__(self, **reply) -> None:
        self.sent.append(reply)
        self.event.set()


def _listener(done: list, event: threading.Event):
    def work(body, respond, client) -> None:
        done.append(body["text"])
        event.set()

    return work


def test_work_starts_at_once_without_a_holder() -> None:
    """Socket Mode: the ack is on its way when the listener returns; the work starts."""
    done: list = []
    event = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        listener = ack_then_work(_listener(done, event), pool)
        ack = Ack()
        listener(ack, {"text": "acme", "response_url": "http://x"}, lambda **_: None, None)
        assert ack.calls == 1
        assert event.wait(5) and done == ["acme"]


def test_work_waits_for_the_ack_to_be_sent() -> None:
    """HTTP: inside work_after_ack the work is only handed back; it runs when started."""
    done: list = []
    event = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        listener = ack_then_work(_listener(done, event), pool)
        ack = Ack()
        with work_after_ack() as jobs:
            listener(ack, {"text": "acme", "response_url": "http://x"}, lambda **_: None, None)
        assert ack.calls == 1 and len(jobs) == 1
        assert not event.wait(0.2) and done == []  # nothing ran before the start
        jobs[0]()
        assert event.wait(5) and done == ["acme"]
    with work_after_ack() as outer:
        with work_after_ack() as inner:
            pass
        assert inner is not outer  # nested holders do not leak into each other


COMMAND = {"command": "/outcome", "text": "acme", "response_url": "http://x"}


def test_a_reply_ready_within_the_budget_is_the_ack() -> None:
    respond = Respond()
    with ThreadPoolExecutor(1) as pool:
        listener = answer_in_ack(lambda body, r, client: note_message("the card"), pool, budget=5)
        ack = Ack()
        listener(ack, COMMAND, respond, None)
    assert ack.replies == [{"text": "the card", "blocks": note_message("the card").blocks,
                            "response_type": "ephemeral"}]
    assert respond.sent == []


def test_past_the_budget_the_ack_is_empty_and_the_reply_follows_once() -> None:
    respond = Respond()
    release = threading.Event()

    def slow(body, r, client):
        r(text="note on the way")  # an interim note goes through response_url at once
        release.wait(5)
        return note_message("the card")

    with ThreadPoolExecutor(1) as pool:
        listener = answer_in_ack(slow, pool, budget=0.05)
        ack = Ack()
        started = time.monotonic()
        listener(ack, COMMAND, respond, None)
        assert 0.05 <= time.monotonic() - started < 1
        assert ack.replies == [{}]  # an empty ack
        release.set()
    assert [r["text"] for r in respond.sent] == ["note on the way", "the card"]
    assert respond.sent[1]["response_type"] == "ephemeral"


def test_the_race_at_the_budget_is_decided_once() -> None:
    """Many commands whose work ends right about when the budget does: one reply each."""
    with ThreadPoolExecutor(8) as pool:
        for i in range(200):
            respond = Respond()
            listener = answer_in_ack(lambda body, r, client: (time.sleep(0.001), note_message("x"))[1],
                                     pool, budget=0.001)
            ack = Ack()
            listener(ack, COMMAND, respond, None)
            if ack.replies[0]:
                time.sleep(0.01)
                assert respond.sent == [], i
            else:
                assert respond.event.wait(5), i
                time.sleep(0.01)
                assert len(respond.sent) == 1, i


def test_a_user_error_is_the_acks_reply() -> None:
    def unknown(body, r, client):
        raise UserError("No account matches *acme*.")

    with ThreadPoolExecutor(1) as pool:
        ack, respond = Ack(), Respond()
        answer_in_ack(unknown, pool, budget=5)(ack, COMMAND, respond, None)
    expected = error_message(UserError("No account matches *acme*."))
    assert ack.replies == [{"text": expected.text, "blocks": expected.blocks, "response_type": "ephemeral"}]
    assert respond.sent == []


def test_a_bug_is_logged_and_gets_one_short_reply(caplog) -> None:
    def bug(body, r, client):
        raise RuntimeError("kaboom")

    with ThreadPoolExecutor(1) as pool, caplog.at_level(logging.ERROR, logger="outcomes.listeners"):
        ack, respond = Ack(), Respond()
        answer_in_ack(bug, pool, budget=5)(ack, COMMAND, respond, None)
    assert [r["text"] for r in ack.replies] == [bug_message().text] and respond.sent == []
    (record,) = [r for r in caplog.records if r.exc_info]
    assert "kaboom" in str(record.exc_info[1]) and "/outcome" in record.getMessage()


class NoPool:
    """Over HTTP the slash command's answer is not handed to the pool."""

    def submit(self, *args, **kwargs):
        raise AssertionError("handed to the pool")


def test_over_http_the_answer_runs_on_the_acking_thread() -> None:
    ran_on, woken = [], []
    respond = Respond()

    def card(body, r, client):
        ran_on.append(threading.current_thread())
        return note_message("the card")

    deadline = AckDeadline(lambda: woken.append(1))
    ack = Ack()
    with work_after_ack(deadline):
        answer_in_ack(card, NoPool())(ack, COMMAND, respond, None)
    assert ran_on == [threading.current_thread()]
    assert ack.replies == [{"text": "the card", "blocks": note_message("the card").blocks,
                            "response_type": "ephemeral"}]
    deadline.expire()  # the HTTP layer's budget ends after the ack: nothing changes
    assert not deadline.empty and woken == [] and respond.sent == []


def test_over_http_past_the_budget_the_ack_is_empty_and_the_reply_follows_once() -> None:
    respond, ack = Respond(), Ack()
    woken = threading.Event()
    deadline = AckDeadline(woken.set)
    working, release = threading.Event(), threading.Event()

    def slow(body, r, client):
        working.set()
        release.wait(5)
        return note_message("the card")

    def command() -> None:
        with work_after_ack(deadline):
            answer_in_ack(slow, NoPool())(ack, COMMAND, respond, None)

    thread = threading.Thread(target=command)
    thread.start()
    assert working.wait(5)
    deadline.expire()  # what asgi_app does at the budget
    assert woken.wait(5) and deadline.empty  # the HTTP layer sends the empty ack now
    release.set()
    thread.join(5)
    assert ack.replies == [{}]  # the listener's own ack: empty (asgi_app drops it)
    assert [r["text"] for r in respond.sent] == ["the card"]


def test_over_http_a_command_that_starts_after_its_budget_replies_through_response_url() -> None:
    """A busy thread pool: the listener starts when the budget is over already."""
    respond, ack, woken = Respond(), Ack(), []
    deadline = AckDeadline(lambda: woken.append(1))
    deadline.expire()  # no listener yet: nothing decided, the HTTP layer waits for it
    assert not deadline.empty and woken == []
    with work_after_ack(deadline):
        answer_in_ack(lambda body, r, client: note_message("the card"), NoPool())(
            ack, COMMAND, respond, None)
    assert deadline.empty and woken == [1]
    assert ack.replies == [{}] and [r["text"] for r in respond.sent] == ["the card"]
