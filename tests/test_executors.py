"""One executor suite, run on every built-in executor: in-process, the local process pool, and Dask (a
LocalCluster on 127.0.0.1).  Each must keep the protocol of ``nasdsl.executor``: a Future per trial, a lost
worker as its own outcome, any other exception stopping the search with the store intact."""

from __future__ import annotations

import os
from concurrent.futures import Future

import pytest

import nasdsl.search as search_pkg
from nasdsl.errors import NasdslError
from nasdsl.executor import Executor, ExecutorError, WorkerLost
from nasdsl.plugins import get_executor
from nasdsl.search import Outcome, Search
from nasdsl.store import Store

from ._crash_helper import crash_some, fail_some, kills_its_worker, raises
from .conftest import ROOT

NB201 = str(ROOT / "spaces" / "nasbench201.nas")
SMALL = {"C": 4, "N": 1}

EXECUTORS = [pytest.param(("inprocess", 1), id="inprocess"), pytest.param(("local", 2), id="local"),
             pytest.param(("dask", 2), id="dask")]


@pytest.fixture(params=EXECUTORS)
def executor(request):
    name, workers = request.param
    if name == "dask":
        pytest.importorskip("distributed")
    return name, workers


def _search(db, budget, executor, **kw):
    name, workers = executor
    s = Search(NB201, strategy="random", estimator="cost", budget=budget, store=db, executor=name,
               workers=workers, params=SMALL, **kw)
    try:
        return s.run()
    finally:
        s.close()


def _trials(db):
    with Store(db, readonly=True) as st:
        return st.trials()


def test_an_executor_keeps_the_protocol(executor, tmp_path):
    """``submit`` gives a concurrent.futures.Future whose result is the runner's Outcome."""
    name, workers = executor
    ex = get_executor(name)(workers=workers)
    try:
        assert isinstance(ex, Executor) and ex.workers == workers
        s = Search(NB201, strategy="random", estimator="cost", budget=1, store=tmp_path / "p.db", executor="inprocess",
                   params=SMALL)
        try:
            g = s.space.sample(0)
            fut = ex.submit(search_pkg.run_trial, s.payload(0, g, s.strategy.hash(g)))
            assert isinstance(fut, Future)
            out = fut.result(timeout=120)
        finally:
            s.close()
        assert isinstance(out, Outcome) and out.status == "completed" and out.metrics["params"] > 0
        assert (out.worker == f"pid{os.getpid()}") == (name == "inprocess")  # the pool's and Dask's run elsewhere
    finally:
        ex.shutdown()


def test_a_search_reaches_its_budget_and_resumes_without_repeating_a_trial(executor, tmp_path):
    db = tmp_path / "s.db"
    first = _search(db, 5, executor)
    assert first.counts["completed"] == 5
    kept = {t.number: (t.hash, t.value) for t in _trials(db)}
    second = _search(db, 8, executor, resume=True)
    assert second.counts["completed"] == 8
    trials = _trials(db)
    assert len({t.hash for t in trials if t.status == "completed"}) == 8  # no architecture twice
    assert all((t.hash, t.value) == kept[t.number] for t in trials if t.number in kept)


def test_a_failed_trial_is_stored_with_its_reason_and_the_search_goes_on(executor, tmp_path, monkeypatch):
    monkeypatch.setattr(search_pkg, "run_trial", fail_some)  # the loop reads the runner when the search runs
    db = tmp_path / "f.db"
    result = _search(db, 8, executor)
    assert result.counts["completed"] + result.counts["failed"] == 8
    for t in _trials(db):
        assert (t.status == "failed") == kills_its_worker(t.hash[:16]), (t.status, t.error)
        if t.status == "failed":
            assert "latency table /nonexistent/nasdsl-table.json does not exist" in t.error
    assert 0 < result.counts["failed"] < 8


def test_an_executor_that_fails_stops_the_search_and_keeps_the_store(executor, tmp_path, monkeypatch):
    """Not a trial's failure: the executor itself raising ends the search with a message (the loop cannot
    tell it from a dead cluster), and what finished before stays stored for --resume."""
    monkeypatch.setattr(search_pkg, "run_trial", raises)
    db = tmp_path / "x.db"
    with pytest.raises(NasdslError, match="failed: RuntimeError: the runner is gone.*--resume continues"):
        _search(db, 6, executor)
    done = [t for t in _trials(db) if t.status == "completed"]
    assert 1 <= len(done) <= 2 and all(t.number < 2 for t in done)


@pytest.mark.parametrize("name", ["local", "dask"])
def test_a_trial_that_kills_its_worker_is_stored_failed_and_the_others_complete(name, tmp_path, monkeypatch):
    """(In-process, the worker is the search itself: there is nothing to recover.)"""
    import contextlib

    settings = contextlib.nullcontext()
    if name == "dask":
        pytest.importorskip("distributed")
        import dask

        settings = dask.config.set({"distributed.scheduler.allowed-failures": 1})  # two dead workers: lost
    monkeypatch.setattr(search_pkg, "run_trial", crash_some)
    db = tmp_path / "k.db"
    with settings:
        result = _search(db, 4, (name, 2))
    assert result.counts["completed"] + result.counts["failed"] == 4  # the search survived every dead worker
    for t in _trials(db):
        killer = kills_its_worker(t.hash[:16])
        assert (t.status == "failed") == killer, (t.hash, t.status, t.error)
        if killer:
            assert "died" in t.error


def test_worker_lost_is_its_own_outcome_of_the_protocol():
    """The loop turns WorkerLost into a failed trial with the message as its reason; other errors pass."""
    from nasdsl.search.loop import _outcome

    lost: Future = Future()
    lost.set_exception(WorkerLost("its worker process died, also when it ran alone: SIGKILL"))
    out = _outcome(lost)
    assert out.status == "failed" and out.error.startswith("its worker process died")
    gone: Future = Future()
    gone.set_exception(OSError("scheduler gone"))
    with pytest.raises(ExecutorError, match="executor 'dask' failed: OSError: scheduler gone; the store keeps"):
        _outcome(gone, "dask")
    odd: Future = Future()
    odd.set_result({"status": "completed"})  # a dict, as run_trial gave before: not the protocol
    with pytest.raises(ExecutorError, match="gave dict for a trial, not its Outcome"):
        _outcome(odd)
