"""Built-in executors: where trials run.

``inprocess`` runs each trial in the search's own process, one at a time.
``local`` runs them in a pool of worker processes (``--workers N``), each with
its share of the CPU threads; with one worker it runs in-process.
``dask`` runs them on a Dask cluster: a LocalCluster of ``--workers N`` processes
on 127.0.0.1, or the cluster of ``-X scheduler=tcp://HOST:8786``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
import uuid
from typing import Any, Callable

from nasdsl import hookimpl
from nasdsl.errors import NasdslError


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise ValueError(f"executor '{name}' has no option {', '.join(sorted(options))}; its options: none")


class InProcessExecutor:
    """Run each trial right away in this process."""

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ()

    def __init__(self, workers: int = 1, **options: Any):
        _no_options("inprocess", options)
        self.workers = 1

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(payload))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        pass


def _init_worker(threads: int, driver: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver answers it
    _watch_driver(driver)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _watch_driver(driver: int, every: float = 0.5) -> None:
    """End this worker soon after the search process that started it dies, however it dies (SIGKILL
    included): a dead parent's children are given to another process, so the parent pid changes.

    The pool's workers are spawned by the driver itself, so a parent that is not the driver when the
    worker starts means the driver died while the worker was starting: the worker ends at once (else it
    would wait for work forever)."""
    if os.getppid() != driver:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != driver:
                os._exit(1)  # no store will record what this worker would finish

    threading.Thread(target=watch, name="nasdsl-driver-watch", daemon=True).start()


class LocalExecutor:
    """A pool of ``workers`` processes on this machine (spawned, so CUDA and threads start clean)."""

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ()

    def __init__(self, workers: int = 1, **options: Any):
        _no_options("local", options)
        self.workers = max(1, int(workers))
        self._inproc = InProcessExecutor() if self.workers == 1 else None
        self._pool = None
        if self.workers > 1:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(threads, os.getpid()))

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        if self._inproc is not None:
            return self._inproc.submit(fn, payload)
        return self._pool.submit(fn, payload)

    def shutdown(self, wait: bool = True) -> None:
        """Let running trials end (``wait``), or kill the workers now (an interrupted search: the store
        records only finished trials, so what they were running is simply run again on resume)."""
        if self._pool is None:
            return
        if not wait:
            procs = getattr(self._pool, "_processes", None) or {}  # the pool's own table of its processes
            for proc in list(procs.values()):
                proc.kill()
        self._pool.shutdown(wait=wait, cancel_futures=True)


class ExecutorError(NasdslError):
    """An executor that cannot start (a scheduler that cannot be reached, a package that is missing)."""


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _thread_environ() -> dict[str, Any]:
    return {k: os.environ.get(k) for k in THREAD_VARIABLES}


def _restore_environ(saved: dict[str, Any]) -> None:
    """Put the thread variables back as they were (dask.distributed's Nanny changes them in the spawning process,
    and every process the driver starts later, a retraining or a CLI, would inherit one thread)."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_worker_threads: list[int] = []  # the torch threads this Dask worker process was set to (set once)


def _run_on_dask_worker(fn: Callable[[Any], Any], payload: Any, threads: int) -> Any:
    """Runs in a Dask worker: give torch its share of the cores once, then run the trial."""
    if threads and not _worker_threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
        _worker_threads.append(threads)
    return fn(payload)


class DaskExecutor:
    """Trials on a Dask cluster (``dask.distributed``, imported only here).

    Without ``scheduler`` it starts a LocalCluster of ``workers`` processes of one thread each on
    127.0.0.1 (closed with the search); with ``scheduler=tcp://HOST:PORT`` it connects to a running
    cluster (``dask scheduler`` and ``dask worker`` started by you), waiting ``timeout`` seconds for it.
    ``threads`` is the torch threads a trial gets (default: a LocalCluster worker's share of the cores;
    on a remote cluster, what the worker was started with).
    A trial travels as its payload (space file, genotype, estimator name and options), never as a model;
    its key is unique per attempt, so Dask never answers one trial with another's result.  A worker that
    dies mid-trial has the trial run again elsewhere (Dask's ``allowed-failures``, 3 by default); a trial
    that loses that many workers is recorded failed with the reason.
    """

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("scheduler", "timeout", "threads")

    def __init__(self, workers: int = 1, scheduler: str | None = None, timeout: float = 30.0,
                 threads: int | None = None, **options: Any):
        _no_options("dask", options)
        try:
            import logging

            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("the dask executor needs dask.distributed: pip install distributed") from None
        self.workers = max(1, int(workers))
        self.cluster = None
        self._environ: dict[str, Any] = {}
        self._threads = 0 if threads is None else max(1, int(threads))
        try:
            if scheduler:
                self.client = Client(str(scheduler), timeout=float(timeout))
                self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
            else:
                self._threads = self._threads or max(1, (os.cpu_count() or 1) // self.workers)
                self._environ = _thread_environ()
                try:
                    self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL)
                finally:  # a Nanny sets OMP_NUM_THREADS=1 (and MKL's, OpenBLAS') in this process before each spawn
                    _restore_environ(self._environ)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as e:
            where = f"the Dask scheduler at {scheduler}" if scheduler else "a Dask LocalCluster on 127.0.0.1"
            raise ExecutorError(f"cannot reach {where}: {e}") from None
        self._inflight: dict[str, Any] = {}
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        out: Future = Future()
        number = payload.get("number") if isinstance(payload, dict) else None
        key = f"nasdsl-trial-{number}-{uuid.uuid4().hex[:16]}"  # one key per attempt
        dfut = self.client.submit(_run_on_dask_worker, fn, payload, self._threads, key=key, pure=False)
        with self._lock:
            self._inflight[key] = dfut

        def done(f: Any) -> None:
            with self._lock:
                self._inflight.pop(key, None)
            try:
                if f.status == "finished":
                    out.set_result(f.result())
                    return
                err = f.exception()
                if type(err).__name__ == "KilledWorker":  # it took its workers down, again and again
                    out.set_result({"status": "failed", "metrics": {}, "started": None, "duration": None,
                                    "worker": None, "error": f"its Dask workers died while running it: {err}"})
                else:
                    out.set_exception(err)
            except BaseException as e:  # noqa: BLE001 - cancelled, or the scheduler is gone: the loop decides
                if not out.done():
                    out.set_exception(e)

        dfut.add_done_callback(done)
        return out

    def shutdown(self, wait: bool = True) -> None:
        """Close the client (and the LocalCluster it started); without ``wait`` cancel the running trials first."""
        if not wait:
            with self._lock:
                running = list(self._inflight.values())
            if running:
                try:
                    self.client.cancel(running, force=True)
                except Exception:  # noqa: BLE001 - the cluster may be gone already
                    pass
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                _restore_environ(self._environ)  # a worker respawned mid-search set them again


@hookimpl
def register_executors(register):
    register("inprocess", InProcessExecutor)
    register("local", LocalExecutor)
    register("dask", DaskExecutor)
