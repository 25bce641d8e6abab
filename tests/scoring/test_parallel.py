"""scoring.parallel.in_child: work run in a forked child while this process goes on, with
the work run here instead whenever no child can run or it fails."""

from __future__ import annotations

import os
import time

import pytest

from scoring import parallel


@pytest.fixture
def forkable(monkeypatch):
    """As in `outcomes score`: no other thread (pytest's fakes may have some) and two cores."""
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(parallel, "_memory_for_a_copy", lambda: True)


def _where_and_what(n: int) -> tuple[int, list[int]]:
    return os.getpid(), [i * i for i in range(n)]


def test_the_work_runs_in_a_child_and_its_result_comes_back(forkable):
    with parallel.in_child(lambda: _where_and_what(100_000)) as pending:
        assert pending._pid > 0
        pid, squares = pending.result()
    assert pid not in (os.getpid(), 0)
    assert squares == [i * i for i in range(100_000)]


def test_with_other_threads_or_one_core_the_work_runs_here(monkeypatch):
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    with parallel.in_child(lambda: _where_and_what(3)) as pending:
        assert pending._pid == 0
        assert pending.result() == (os.getpid(), [0, 1, 4])
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    with parallel.in_child(lambda: _where_and_what(3)) as pending:
        assert pending.result()[0] == os.getpid()


def test_without_the_memory_for_a_copy_the_work_runs_here(forkable, monkeypatch):
    monkeypatch.setattr(parallel, "_memory_for_a_copy", lambda: False)
    with parallel.in_child(lambda: _where_and_what(3)) as pending:
        assert pending._pid == 0
        assert pending.result()[0] == os.getpid()


def test_a_test_process_has_the_memory_for_a_copy():
    # The real check on the test machine: a test process of a few hundred MB on 24 GB.
    assert parallel._memory_for_a_copy()


def test_an_error_in_the_child_is_raised_here_by_running_the_work_here(forkable):
    calls = []

    def work():
        calls.append(os.getpid())
        raise ValueError("no drivers for you")

    with pytest.raises(ValueError, match="no drivers for you"), \
            parallel.in_child(work) as pending:
        pending.result()
    assert calls == [os.getpid()]   # the child's call happened in the child's memory


def test_a_result_that_does_not_pickle_is_computed_here(forkable):
    with parallel.in_child(lambda: (os.getpid(), lambda: None)) as pending:
        pid, _ = pending.result()
    assert pid == os.getpid()


def test_a_child_still_running_when_the_block_fails_is_stopped(forkable):
    with pytest.raises(RuntimeError), parallel.in_child(lambda: time.sleep(60)) as pending:
        pid = pending._pid
        raise RuntimeError("the parent failed")
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)   # reaped: no such child any more
