"""bot.listeners.common.ack_then_work: the ack first, the work after it, on the pool."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bot.listeners.common import ack_then_work, work_after_ack


class Ack:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


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
