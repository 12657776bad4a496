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
import queue
import uuid
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

from nasdsl import hookimpl
from nasdsl.executor import ExecutorError, WorkerLost


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


@dataclass
class _Job:
    fn: Callable[[Any], Any]
    payload: Any
    outer: Future
    generation: int = 0
    alone: bool = False


class LocalExecutor:
    """A pool of ``workers`` processes on this machine (spawned, so CUDA and threads start clean).

    A worker process that dies (killed, out of memory, a crash in native code) breaks the whole pool, and
    every trial running in it fails with it.  The executor recovers by itself: it starts a fresh pool and
    runs those trials again, one at a time and alone, holding back new ones meanwhile; a trial whose worker
    dies also when it runs alone is the one that kills it, and its future ends in :class:`WorkerLost`.
    """

    name = "local"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ()

    def __init__(self, workers: int = 1, **options: Any):
        _no_options("local", options)
        self.workers = max(1, int(workers))
        self._inproc = InProcessExecutor() if self.workers == 1 else None
        self._pool = None
        self._threads = max(1, (os.cpu_count() or 1) // self.workers)
        self._lock = threading.Lock()
        self._generation = 0  # which pool: a broken pool's other futures fail too, and one new pool serves them all
        self._running: dict[Future, _Job] = {}
        self._retry: deque[_Job] = deque()  # trials whose pool broke under them: each runs again, alone
        self._held: deque[_Job] = deque()  # submitted while those run again
        self._alone: _Job | None = None
        self._events: queue.SimpleQueue = queue.SimpleQueue()  # the pool's finished futures, for the supervisor
        self._supervisor: threading.Thread | None = None
        self._closed = False
        self._retired: list[ProcessPoolExecutor] = []  # broken pools, shut down once the lock is let go
        if self.workers > 1:
            self._pool = self._new_pool()
            self._supervisor = threading.Thread(target=self._supervise, name="nasdsl-local-executor", daemon=True)
            self._supervisor.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self._threads, os.getpid()))

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        if self._inproc is not None:
            return self._inproc.submit(fn, payload)
        job = _Job(fn, payload, Future())
        with self._lock:
            if self._retry or self._alone is not None:
                self._held.append(job)
            else:
                self._start(job)
        self._reap()
        return job.outer

    # ------------------------------------------------------------ recovery (under the lock; futures are ended,
    # and broken pools shut down, only after it is let go, so a caller's callback may submit again)
    def _start(self, job: _Job) -> None:
        try:
            inner = self._pool.submit(job.fn, job.payload)
        except BrokenProcessPool:  # a worker died since the last result: start a fresh pool
            self._restart()
            inner = self._pool.submit(job.fn, job.payload)
        job.generation = self._generation
        self._running[inner] = job
        inner.add_done_callback(self._events.put)  # never takes the lock: the pool's own thread calls it

    def _restart(self) -> None:
        self._retired.append(self._pool)
        self._pool = self._new_pool()
        self._generation += 1

    def _reap(self) -> None:
        """Shut the broken pools down (joining their dead workers), with the lock let go."""
        while self._retired:
            self._retired.pop().shutdown(wait=True, cancel_futures=True)

    def _supervise(self) -> None:
        while True:
            inner = self._events.get()
            if inner is None:
                return
            ended: list[tuple[Future, Any, BaseException | None]] = []
            try:
                with self._lock:
                    job = self._running.pop(inner, None)
                    if job is not None:
                        ended += self._finish(job, inner)
                        if not self._running:
                            self._dispatch()
                self._reap()
            except BaseException as e:  # noqa: BLE001 - a pool that cannot start again: every trial ends with it
                with self._lock:
                    jobs = list(self._running.values()) + list(self._retry) + list(self._held)
                    self._running.clear()
                    self._retry.clear()
                    self._held.clear()
                    self._closed = True
                error = ExecutorError(f"the local process pool cannot go on: {type(e).__name__}: {e}")
                ended += [(j.outer, None, error) for j in jobs]
            for out, result, error in ended:
                _settle(out, result, error)

    def _finish(self, job: _Job, inner: Future) -> list[tuple[Future, Any, BaseException | None]]:
        """What ``inner`` ending means for its trial: the outer future's result or exception, or a retry."""
        if inner.cancelled() or (self._closed and inner.exception() is not None):
            job.outer.cancel()  # cancelled, or shut down: nothing is recovered any more
            return []
        err = inner.exception()
        if err is None:
            return [(job.outer, inner.result(), None)]
        if not isinstance(err, BrokenProcessPool):  # not a dead worker: the caller decides
            return [(job.outer, None, err)]
        if job.alone:
            self._alone = None
            return [(job.outer, None, WorkerLost(f"its worker process died, also when it ran alone: "
                                                 f"{type(err).__name__}: {err}"))]
        if job.generation == self._generation:  # its pool broke, perhaps under another trial: it runs again, alone
            self._restart()
        self._retry.append(job)
        return []

    def _dispatch(self) -> None:
        """Nothing runs: the next trial to run again alone, or, when none is left, every held one."""
        if self._closed:
            return
        if job := (self._retry.popleft() if self._retry else None):
            job.alone = True
            self._alone = job
            self._start(job)
            return
        self._alone = None
        while self._held:
            self._start(self._held.popleft())

    def shutdown(self, wait: bool = True) -> None:
        """Let running trials end (``wait``), or kill the workers now (an interrupted search: the store
        records only finished trials, so what they were running is simply run again on resume)."""
        if self._pool is None:
            return
        with self._lock:
            self._closed = True
            pool, waiting = self._pool, list(self._retry) + list(self._held)
            self._retry.clear()
            self._held.clear()
        if not wait:
            procs = getattr(pool, "_processes", None) or {}  # the pool's own table of its processes
            for proc in list(procs.values()):
                proc.kill()
        pool.shutdown(wait=wait, cancel_futures=True)
        self._events.put(None)
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        self._reap()
        with self._lock:  # every future ends: what still ran when the pool went is cancelled
            waiting += list(self._running.values())
            self._running.clear()
        for job in waiting:
            job.outer.cancel()


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


def parse_resources(text: Any) -> dict[str, float]:
    """``GPU=1`` or ``GPU=1,MEMORY=8e9`` (or a dict) -> {name: amount}; a bad entry is a clear error."""
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            name, eq, amount = part.strip().partition("=")
            if not part.strip():
                continue
            if not eq or not name.strip():
                raise ValueError(f"executor 'dask': resources must read NAME=AMOUNT[,NAME=AMOUNT], got {text!r}")
            items.append((name.strip(), amount.strip()))
    out = {}
    for name, amount in items:
        try:
            out[str(name)] = float(amount)
        except (TypeError, ValueError):
            raise ValueError(f"executor 'dask': resource {name} must be a number, got {amount!r}") from None
        if not out[str(name)] > 0:
            raise ValueError(f"executor 'dask': resource {name} must be positive, got {amount!r}")
    return out


def _has(worker_resources: dict[str, Any], need: dict[str, float]) -> bool:
    return all(float(worker_resources.get(k, 0)) >= v for k, v in need.items())


class DaskExecutor:
    """Trials on a Dask cluster (``dask.distributed``, imported only here).

    Without ``scheduler`` it starts a LocalCluster of ``workers`` processes of one thread each on
    127.0.0.1 (closed with the search); with ``scheduler=tcp://HOST:PORT`` it connects to a running
    cluster (``dask scheduler`` and ``dask worker`` started by you), waiting ``timeout`` seconds for it.
    ``threads`` is the torch threads a trial gets (default: a LocalCluster worker's share of the cores;
    on a remote cluster, what the worker was started with).

    A trial travels as its payload (the space's sources, genotype, estimator name and options), never as a
    model; its key is unique per attempt, so Dask never answers one trial with another's result.  A trial
    needs the resources its estimator declares (``device=cuda``: ``GPU=1``) and those of ``resources``
    (``-X resources=GPU=1``); it runs only on a worker started with them (``dask worker ... --resources
    GPU=1``), so a worker of one GPU runs one trial at a time.  A trial whose resources no worker of the
    cluster has for ``resource_timeout`` seconds stops the search with a message saying so.  A worker that
    dies mid-trial has the trial run again elsewhere (Dask's ``allowed-failures``, 3 by default); a trial
    that loses that many workers is recorded failed with the reason.  A scheduler lost for ``timeout``
    seconds stops the search (the store keeps every finished trial; ``--resume`` continues).
    """

    name = "dask"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("scheduler", "timeout", "threads", "resources", "resource_timeout")

    @classmethod
    def check(cls, options: dict[str, Any]) -> None:
        """Refuse a bad option value before the search starts (``resources=GPU=x``, ``timeout=soon``)."""
        parse_resources(options.get("resources", ""))
        for key in ("timeout", "resource_timeout", "threads"):
            if key in options:
                try:
                    v = float(options[key])
                    ok = v > 0 and (key != "threads" or v.is_integer())
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    what = "a positive whole number" if key == "threads" else "a positive number"
                    raise ValueError(f"executor 'dask': option {key} must be {what}, got {options[key]!r}")

    @classmethod
    def runs_elsewhere(cls, options: dict[str, Any]) -> bool:
        """Trials run on other machines (a scheduler given): the driver does not check their device."""
        return bool(options.get("scheduler"))

    def __init__(self, workers: int = 1, scheduler: str | None = None, timeout: float = 30.0,
                 threads: int | None = None, resources: Any = "", resource_timeout: float = 30.0, **options: Any):
        _no_options("dask", options)
        try:
            import logging

            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("the dask executor needs dask.distributed: pip install distributed") from None
        self.workers = max(1, int(workers))
        self.cluster = None
        self.scheduler = scheduler
        self._environ: dict[str, Any] = {}
        self._threads = 0 if threads is None else max(1, int(float(threads)))
        self._timeout = float(timeout)
        self._resources = parse_resources(resources)
        self._resource_timeout = float(resource_timeout)
        self._log_levels = _quiet_dask_logs()  # nasdsl says what went wrong, once, without Dask's tracebacks
        try:
            if scheduler:
                self.client = Client(str(scheduler), timeout=self._timeout)
                self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
            else:
                self._threads = self._threads or max(1, (os.cpu_count() or 1) // self.workers)
                self._environ = _thread_environ()
                import dask

                try:  # saturation 1: a worker holds only the trial it runs, so a worker that dies under one trial
                    # never counts against another trial queued behind it (Dask's allowed-failures)
                    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                        self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                    host="127.0.0.1", dashboard_address=None,
                                                    silence_logs=logging.CRITICAL)
                finally:  # a Nanny sets OMP_NUM_THREADS=1 (and MKL's, OpenBLAS') in this process before each spawn
                    _restore_environ(self._environ)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as e:
            where = f"the Dask scheduler at {scheduler}" if scheduler else "a Dask LocalCluster on 127.0.0.1"
            _restore_logs(self._log_levels)
            raise ExecutorError(f"cannot reach {where}: {e}") from None
        except BaseException:  # a malformed address, Ctrl-C: Dask's loggers as they were
            _restore_logs(self._log_levels)
            raise
        self._inflight: dict[str, tuple[Any, Future, dict[str, float], float]] = {}  # key -> dask future, ours, needs, since
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="nasdsl-dask-watch", daemon=True)
        self._watchdog.start()

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future:
        out: Future = Future()
        number = payload.get("number") if isinstance(payload, dict) else None
        key = f"nasdsl-trial-{number}-{uuid.uuid4().hex[:16]}"  # one key per attempt
        # what the trial declares (GPU=1 for device=cuda) binds on a cluster of other machines; a LocalCluster's
        # workers share this machine's devices, as the local pool's do, so only -X resources= applies there
        declared = payload.get("resources") if isinstance(payload, dict) and self.cluster is None else None
        needs = {**(declared or {}), **self._resources}
        dfut = self.client.submit(_run_on_dask_worker, fn, payload, self._threads, key=key, pure=False,
                                  resources=needs or None)
        with self._lock:
            self._inflight[key] = (dfut, out, needs, time.time())

        def done(f: Any) -> None:
            with self._lock:
                self._inflight.pop(key, None)
            try:
                if f.status == "finished":
                    _settle(out, result=f.result())
                    return
                err = f.exception()
                if err is None:  # cancelled by the scheduler (it went away, or lost the task)
                    err = ExecutorError(f"the Dask scheduler dropped trial {number} (its task is {f.status})")
                if type(err).__name__ == "KilledWorker":  # it took its workers down, again and again
                    _settle(out, error=WorkerLost(f"its Dask workers died while running it: {err}"))
                else:
                    _settle(out, error=err)
            except BaseException as e:  # noqa: BLE001 - cancelled, or the scheduler is gone: the loop decides
                _settle(out, error=e)

        dfut.add_done_callback(done)
        return out

    # ------------------------------------------------------------ what Dask alone would wait for forever
    def _watch(self, every: float = 0.5) -> None:
        """Fail the trials no worker can run (their resources are nowhere for ``resource_timeout`` s), and every
        trial when the scheduler has been unreachable for ``timeout`` s."""
        lost_since = None
        while not self._closing.wait(every):
            with self._lock:
                waiting = dict(self._inflight)
            if not waiting:
                lost_since = None
                continue
            try:
                workers = self.client.scheduler_info().get("workers", {})
                running = self.client.status == "running"
            except Exception:  # noqa: BLE001 - the connection is gone
                workers, running = {}, False
            now = time.time()
            if not running:
                lost_since = lost_since or now
                if now - lost_since > self._timeout:
                    self._fail(waiting, ExecutorError(
                        f"lost the Dask scheduler {self.scheduler or '(LocalCluster)'}: no answer for "
                        f"{self._timeout:.0f} s"))
                continue
            lost_since = None
            if workers:
                self.workers = len(workers)
            offered = [w.get("resources") or {} for w in workers.values()]
            for key, (dfut, out, needs, since) in waiting.items():
                if not needs:
                    continue
                if any(_has(r, needs) for r in offered):
                    with self._lock:
                        if key in self._inflight:
                            self._inflight[key] = (dfut, out, needs, now)  # runnable now: the clock starts again
                elif now - since > self._resource_timeout:
                    asked = ",".join(f"{k}={v:g}" for k, v in needs.items())
                    have = "; ".join(sorted({",".join(f"{k}={v:g}" for k, v in r.items()) or "none" for r in offered})) \
                        or "no workers"
                    self._fail({key: waiting[key]}, ExecutorError(
                        f"a trial needs resources {asked}, and no worker of the Dask cluster has them for "
                        f"{self._resource_timeout:.0f} s (workers offer: {have}); start workers with "
                        f"'dask worker SCHEDULER --nthreads 1 --resources {asked}', or ask for less "
                        f"(--device auto, -X resources=)"))

    def _fail(self, which: dict[str, Any], error: Exception) -> None:
        for key, (dfut, out, _, _) in which.items():
            _settle(out, error=error)
            try:
                self.client.cancel([dfut], force=True)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass

    def shutdown(self, wait: bool = True) -> None:
        """Close the client (and the LocalCluster it started); without ``wait`` cancel the running trials first."""
        self._closing.set()
        if not wait:
            with self._lock:
                running = [dfut for dfut, _, _, _ in self._inflight.values()]
            if running:
                try:
                    self.client.cancel(running, force=True)
                except Exception:  # noqa: BLE001 - the cluster may be gone already
                    pass
        try:
            self.client.close(timeout=self._timeout)
        except Exception:  # noqa: BLE001 - the scheduler is gone: nothing to close
            pass
        finally:
            if self.cluster is not None:
                self.cluster.close()
                _restore_environ(self._environ)  # a worker respawned mid-search set them again
            _restore_logs(self._log_levels)


def _quiet_dask_logs() -> dict[str, int]:
    """Raise Dask's loggers in this (the driver's) process to CRITICAL: a lost connection is otherwise logged
    with tracebacks, again on every retry; the search reports it in one line.  Returns the levels to restore."""
    import logging

    names = ["distributed"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    return saved


def _restore_logs(saved: dict[str, int]) -> None:
    import logging

    for n, level in saved.items():
        logging.getLogger(n).setLevel(level)


def _settle(out: Future, result: Any = None, error: BaseException | None = None) -> None:
    """End a future once (the watchdog and Dask's callback may both try; the caller may have cancelled it)."""
    try:
        if error is not None:
            out.set_exception(error)
        else:
            out.set_result(result)
    except Exception:  # noqa: BLE001 - InvalidStateError: it ended already
        pass


@hookimpl
def register_executors(register):
    register("inprocess", InProcessExecutor)
    register("local", LocalExecutor)
    register("dask", DaskExecutor)
