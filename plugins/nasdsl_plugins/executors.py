"""Built-in executors: where trials run.

``inprocess`` runs each trial in the search's own process, one at a time.
``local`` runs them in a pool of worker processes (``--workers N``), each with
its share of the CPU threads; with one worker it runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

from nasdsl import hookimpl


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


@hookimpl
def register_executors(register):
    register("inprocess", InProcessExecutor)
    register("local", LocalExecutor)
