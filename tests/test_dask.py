"""The Dask executor with real parts on 127.0.0.1: a LocalCluster the search starts, and a `dask scheduler`
with two `dask worker` processes started by the test, one of them SIGKILLed mid-search."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasdsl.search import Search, SearchError
from nasdsl.store import Store

from .conftest import ROOT

pytest.importorskip("distributed")

NB201 = str(ROOT / "spaces" / "nasbench201.nas")
SMALL = {"C": 4, "N": 1}
BIN = Path(sys.executable).parent


def _search(db, budget, **kw):
    s = Search(NB201, strategy="random", budget=budget, store=db, executor="dask", params=SMALL, **kw)
    try:
        return s.run()
    finally:
        s.close()


def _finished(db):
    with Store(db, readonly=True) as st:
        return [t for t in st.trials() if t.status in ("completed", "failed")]


def test_a_search_on_a_local_cluster_runs_its_trials_on_the_workers_and_resumes(tmp_path):
    db = tmp_path / "l.db"
    result = _search(db, 6, estimator="cost", workers=2)
    done = _finished(db)
    assert result.counts["completed"] == 6 and len({t.hash for t in done}) == 6
    assert {t.worker for t in done} - {f"pid{os.getpid()}"} == {t.worker for t in done}  # not in the driver
    assert len({t.worker for t in done}) >= 1
    _search(db, 9, estimator="cost", workers=2, resume=True)  # a new cluster, the same store
    done = _finished(db)
    assert len(done) == 9 and len({t.hash for t in done}) == 9


def test_an_unreachable_scheduler_stops_the_search_with_a_message(tmp_path):
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.time()
    with pytest.raises(Exception) as e:
        _search(tmp_path / "u.db", 2, estimator="cost",
                executor_options={"scheduler": f"tcp://127.0.0.1:{port}", "timeout": 2})
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in str(e.value)
    assert time.time() - t < 60
    with pytest.raises(SearchError, match="executor 'dask' has no option schedular; its options: scheduler, timeout, threads"):
        Search(NB201, strategy="random", estimator="cost", budget=1, store=tmp_path / "v.db", executor="dask",
               executor_options={"schedular": "tcp://x:1"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, limit: float = 90.0) -> list[int]:
    from distributed import Client

    with Client(address, timeout=30) as c:
        c.wait_for_workers(n, timeout=limit)
        return sorted(c.run(os.getpid).values())


@pytest.mark.slow
def test_a_worker_sigkilled_mid_search_loses_and_repeats_nothing(tmp_path):
    """A `dask scheduler` and two `dask worker`s on 127.0.0.1; one worker is SIGKILLed while trials run:
    the budget is reached, every architecture finishes once, and the search never stalls."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              cwd=ROOT)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--no-dashboard", "--no-nanny"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env={**env, "OMP_NUM_THREADS": "1"}, cwd=ROOT))
        pids = _wait_for_workers(address, 2)
        assert len(pids) == 2
        db = tmp_path / "k.db"
        killed = []

        def kill_one(rec) -> None:
            if not killed and rec.status in ("completed", "failed"):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        s = Search(NB201, strategy="random", estimator="train", budget=8, store=db, executor="dask", params=SMALL,
                   estimator_options={"epochs": 1, "max_steps": 4}, executor_options={"scheduler": address})
        try:
            t = time.time()
            result = s.run(on_trial=kill_one)
            assert time.time() - t < 600
        finally:
            s.close()
        assert killed
        done = _finished(db)
        assert result.counts["completed"] + result.counts["failed"] == 8 == len(done)
        assert len({t.hash for t in done}) == 8  # nothing trained twice
        assert all(t.status == "completed" for t in done), [t.error for t in done if t.status != "completed"]
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)
