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
    address, procs = _cluster(2)
    try:
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
        _end(procs)


def _cluster(n_workers: int, *worker_args: str) -> tuple[str, list[subprocess.Popen]]:
    """A `dask scheduler` and ``n_workers`` `dask worker` processes (one thread each) on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              cwd=ROOT)]
    for _ in range(n_workers):
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                       "--no-dashboard", "--no-nanny", *worker_args], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env={**env, "OMP_NUM_THREADS": "1"}, cwd=ROOT))
    try:
        _wait_for_workers(address, n_workers)
    except BaseException:
        _end(procs)
        raise
    return address, procs


def _end(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait(timeout=30)


def test_a_trial_asking_for_resources_no_worker_has_stops_the_search_fast(tmp_path):
    """-X resources=GPU=1 on a LocalCluster of CPU workers: the trial could wait forever; it stops the search
    with a message saying what is missing and how to start workers that have it."""
    t = time.time()
    with pytest.raises(Exception) as e:
        _search(tmp_path / "g.db", 2, estimator="cost", workers=1,
                executor_options={"resources": "GPU=1", "resource_timeout": 2})
    said = str(e.value)
    assert "a trial needs resources GPU=1, and no worker of the Dask cluster has them for 2 s" in said
    assert "--resources GPU=1" in said and "workers offer: none" in said
    assert time.time() - t < 90
    assert _finished(tmp_path / "g.db") == []
    with pytest.raises(SearchError, match="resource GPU must be a number"):
        Search(NB201, strategy="random", estimator="cost", budget=1, store=tmp_path / "h.db", executor="dask",
               executor_options={"resources": "GPU=x"}).run()


def test_a_trial_travels_with_its_sources_so_a_worker_needs_no_file(tmp_path):
    """The payload carries the text of every .nas file: a worker where the files are missing, or differ,
    compiles the space from the sources it was sent (imports resolved as on the driver)."""
    from nasdsl import Space
    from nasdsl.search import SpaceRef

    lib = tmp_path / "lib" / "ops.nas"
    lib.parent.mkdir()
    main = tmp_path / "lib" / "main.nas"
    src = (ROOT / "spaces" / "nasbench201.nas").read_text()
    at = src.index("network nasbench201")
    lib.write_text(src[:at])  # the cell and its ops
    main.write_text('import "ops.nas"\n' + src[at:])  # the network
    space = Space.from_file(main, network="nasbench201", params=SMALL)
    ref = SpaceRef(str(main.resolve()), "nasbench201", dict(SMALL), SpaceRef.sources_of(space))
    assert set(ref.sources) == {str(main.resolve()), str(lib.resolve())}
    assert ref.local_file() == str(main.resolve())  # here, the files read as sent
    lib.write_text(src[:at] + "\n")  # the worker's copy differs: not used
    elsewhere = ref.local_file()
    assert elsewhere != str(main.resolve()) and Path(elsewhere).name == "main.nas"
    lib.unlink()
    main.unlink()  # and no file at all
    assert ref.local_file() == elsewhere
    again = ref.load()
    assert again.size() == space.size() and sorted(again.decisions) == sorted(space.decisions)


@pytest.mark.slow
def test_a_sigkilled_driver_resumes_against_the_same_cluster(tmp_path):
    """The driver SIGKILLed mid-search; `--resume` against the same running cluster reaches the budget,
    keeps every trial finished before the kill, and trains no architecture twice."""
    address, procs = _cluster(2)
    try:
        db = tmp_path / "d.db"
        cmd = [sys.executable, "-m", "nasdsl", "search", NB201, "-p", "C=4", "-p", "N=1", "--strategy", "random",
               "--estimator", "train", "-E", "epochs=1", "-E", "max_steps=4", "--budget", "8", "--store", str(db),
               "--quiet", "--executor", "dask", "-X", f"scheduler={address}"]
        driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None:
            if db.exists() and len(_finished(db)) >= 2:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the search ended before it could be killed"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        with Store(db, readonly=True) as st:
            kept = {t.number: (t.hash, t.value) for t in st.trials() if t.status in ("completed", "failed")}
        assert 2 <= len(kept) < 8
        r = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        done = _finished(db)
        assert len(done) == 8 and len({t.hash for t in done}) == 8  # the budget, nothing twice
        after = {t.number: (t.hash, t.value) for t in done}
        assert all(after[n] == v for n, v in kept.items())  # nothing finished before the kill was lost
    finally:
        _end(procs)


@pytest.mark.slow
def test_a_cuda_search_on_a_cluster_without_gpus_fails_clearly_and_fast(tmp_path):
    """--device cuda with a scheduler: the driver (no GPU either) does not refuse it, since the workers would
    run the trials; each trial asks for GPU=1, and a cluster of CPU workers stops the search fast, saying so."""
    address, procs = _cluster(1)
    try:
        t = time.time()
        r = subprocess.run([sys.executable, "-m", "nasdsl", "search", NB201, "-p", "C=4", "-p", "N=1", "--strategy",
                            "random", "--estimator", "train", "-E", "epochs=1", "--budget", "2", "--store",
                            str(tmp_path / "c.db"), "--quiet", "--device", "cuda", "--executor", "dask",
                            "-X", f"scheduler={address}", "-X", "resource_timeout=3"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode != 0
        assert "a trial needs resources GPU=1, and no worker of the Dask cluster has them for 3 s" in r.stderr
        assert "Traceback" not in r.stderr
        assert time.time() - t < 120
    finally:
        _end(procs)


@pytest.mark.slow
def test_a_dead_scheduler_stops_the_search_with_a_message_and_resume_goes_on(tmp_path):
    """The scheduler SIGKILLed mid-search: the driver does not wait forever; it stops with a message and the
    command that resumes, and resuming on a new cluster reaches the budget with nothing lost or repeated."""
    address, procs = _cluster(1)
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "nasdsl", "search", NB201, "-p", "C=4", "-p", "N=1", "--strategy", "random",
           "--estimator", "train", "-E", "epochs=1", "-E", "max_steps=4", "--budget", "6", "--store", str(db),
           "--quiet", "--executor", "dask", "-X", "timeout=3"]
    try:
        driver = subprocess.Popen(cmd + ["-X", f"scheduler={address}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None and not (db.exists() and _finished(db)):
            time.sleep(0.2)
        assert driver.poll() is None, "the search ended before its scheduler could be killed"
        procs[0].kill()  # the scheduler
        t = time.time()
        _, err = driver.communicate(timeout=120)
        assert time.time() - t < 90 and driver.returncode == 1, err[-2000:]
        assert "Traceback" not in err and "resume with:" in err and err.rstrip().endswith("--resume"), err[-2000:]
        kept = {t.number: (t.hash, t.value) for t in _finished(db)}
        assert 1 <= len(kept) < 6
    finally:
        _end(procs)
    address, procs = _cluster(1)
    try:
        r = subprocess.run(cmd + ["-X", f"scheduler={address}", "--resume"], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
    finally:
        _end(procs)
    done = _finished(db)
    assert len(done) == 6 and len({t.hash for t in done}) == 6
    assert all({t.number: (t.hash, t.value) for t in done}[n] == v for n, v in kept.items())
