"""pipeline._each_model: a model kind's work on a thread of its own, results by kind."""

from __future__ import annotations

import threading

import pytest

from scoring import parallel, pipeline
from scoring.errors import ModelError


def test_the_kinds_run_side_by_side_when_there_are_two_cores(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    both = threading.Barrier(2, timeout=10)   # passes only when both kinds run at once

    def work(kind: str) -> tuple[str, str]:
        both.wait()
        return kind, threading.current_thread().name

    done = pipeline._each_model(work, ["churn", "upsell"])
    assert list(done) == ["churn", "upsell"]
    assert [d[0][0] for d in done.values()] == ["churn", "upsell"]
    assert len({d[0][1] for d in done.values()}) == 2
    assert [d[1] for d in done.values()] == [[], []]


def test_one_core_runs_one_kind_after_the_other(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    running, most = [0], [0]
    lock = threading.Lock()

    def work(kind: str) -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1
        return kind.upper()

    assert pipeline._each_model(work, ["churn", "upsell"]) == {"churn": ("CHURN", []),
                                                                "upsell": ("UPSELL", [])}
    assert most[0] == 1


@pytest.mark.parametrize("cores", [1, 2])
def test_a_failing_kind_returns_its_error_and_the_other_its_result(monkeypatch, cores):
    monkeypatch.setattr(parallel, "cores", lambda: cores)

    def work(kind: str) -> str:
        if kind == "upsell":
            raise ModelError("upsell: no account has a known positive outcome")
        return "trained"

    done = pipeline._each_model(work, ["churn", "upsell"])
    assert done["churn"] == ("trained", [])
    assert isinstance(done["upsell"], ModelError) and "no account" in str(done["upsell"])


def test_each_kind_runs_openmp_on_one_thread(monkeypatch):
    # OpenMP's thread count is per thread: a worker would otherwise run the trees on every
    # core while the other kind's worker does the same (two threads per core).
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    both = threading.Barrier(2, timeout=10)

    def work(kind: str) -> int:
        both.wait()
        return _openmp_effective_n_threads()

    pieces = (lambda result: [_openmp_effective_n_threads] * 3)
    assert pipeline._each_model(work, ["churn", "upsell"], pieces) == {
        "churn": (1, [1, 1, 1]), "upsell": (1, [1, 1, 1])}


def test_a_kinds_pieces_start_when_its_work_is_done_and_either_thread_takes_them(monkeypatch):
    # upsell's work is quick, churn's slow: upsell's pieces run while churn still works,
    # and once churn is done its pieces are shared by both threads.
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    churn_may_finish = threading.Event()
    log: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(kind: str) -> str:
        if kind == "churn":
            assert churn_may_finish.wait(10)
        return kind

    def pieces(kind: str) -> list:
        def piece(i: int) -> int:
            with lock:
                log.append((kind, threading.current_thread().name))
                if kind == "upsell" and i == 2:
                    churn_may_finish.set()
            threading.Event().wait(0.02)
            return i
        return [lambda i=i: piece(i) for i in range(3 if kind == "upsell" else 8)]

    done = pipeline._each_model(work, ["churn", "upsell"], pieces)
    assert done == {"churn": ("churn", list(range(8))), "upsell": ("upsell", [0, 1, 2])}
    assert [k for k, _ in log[:3]] == ["upsell"] * 3          # while churn was still working
    assert len({name for k, name in log if k == "churn"}) == 2  # churn's pieces on both threads


def test_a_failing_piece_is_its_kinds_error(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)

    def pieces(kind: str) -> list:
        def bad() -> None:
            raise ValueError("piece 2 of upsell")
        return [lambda: 1, bad] if kind == "upsell" else [lambda: 1]

    done = pipeline._each_model(lambda kind: kind, ["churn", "upsell"], pieces)
    assert done["churn"] == ("churn", [1])
    assert isinstance(done["upsell"], ValueError)
