"""The executor protocol: where a search's trials run.

An executor plugin (``register_executors``) is a class built as
``Executor(workers=N, **options)`` (``-X key=value`` on the command line; it
declares its options with ``option_names()`` and refuses others) with two
methods:

``submit(fn, payload) -> concurrent.futures.Future``
    Run ``fn(payload)`` somewhere — ``fn`` is the trial runner
    (:func:`nasdsl.search.run_trial`), ``payload`` a plain dict (the space's
    file, its text and parameters, the genotype, the estimator's name and
    options), never a model.  The future's result is what ``fn`` returned: a
    :class:`nasdsl.search.Outcome`.
``shutdown(wait=True)``
    Let the running trials end (``wait``) or stop them now (an interrupted
    search: only finished trials are stored, so what was running runs again
    on resume).

and an attribute ``workers``: how many trials it runs at once (the loop keeps
that many in flight).

A future ends in one of three ways, and the loop treats each differently:

- a result: the trial ran (completed, failed, rejected) and is stored;
- :class:`WorkerLost`: the process running the trial died and the executor
  will not run the trial again (it may have retried already); the trial is
  stored ``failed`` with the exception's message as its reason, and the
  search goes on;
- any other exception: the executor itself is gone (a dead scheduler, a
  cluster without the resources a trial needs); the search stops with the
  message, the store keeps every finished trial, and ``--resume`` continues.

Recovery is the executor's own business: the local pool restarts a broken
pool and re-runs its trials one at a time, Dask reschedules a trial whose
worker died.  The loop sees only the three outcomes above.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Callable, Protocol, runtime_checkable

from .errors import NasdslError


class ExecutorError(NasdslError):
    """An executor that cannot start or cannot go on (a scheduler that cannot be reached or died, a trial asking
    for resources no worker has, a package that is missing)."""


class WorkerLost(Exception):
    """A trial's worker process died and the executor will not run the trial again: the trial is recorded
    failed with this message as its reason."""


@runtime_checkable
class Executor(Protocol):
    workers: int

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> Future: ...

    def shutdown(self, wait: bool = True) -> None: ...


__all__ = ["Executor", "ExecutorError", "WorkerLost"]
