"""Built-in executors: where trials run.

``inprocess`` runs each trial in the search's own process, one at a time.
``local`` runs them in a pool of worker processes (``--workers N``), each with
its share of the CPU threads; with one worker it runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

from nasdsl import hookimpl


class InProcessExecutor:
    """Run each trial right away in this process."""

    def __init__(self, workers: int = 1, **_: Any):
        self.workers = 1

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(payload))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(e)
        return fut

    def shutdown(self) -> None:
        pass


def _init_worker(threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


class LocalExecutor:
    """A pool of ``workers`` processes on this machine (spawned, so CUDA and threads start clean)."""

    def __init__(self, workers: int = 1, **_: Any):
        self.workers = max(1, int(workers))
        self._inproc = InProcessExecutor() if self.workers == 1 else None
        self._pool = None
        if self.workers > 1:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(threads,))

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        if self._inproc is not None:
            return self._inproc.submit(fn, payload)
        return self._pool.submit(fn, payload)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@hookimpl
def register_executors(register):
    register("inprocess", InProcessExecutor)
    register("local", LocalExecutor)
