"""Performance estimators: the contract every estimator plugin implements.

An estimator scores one genotype: ``evaluate(trial)`` returns a dict of
metrics (``valid_acc``, ``test_acc``, ``params``, ``flops``, ...) or raises; a
raise is recorded as a failed trial and the search goes on.  Estimators are
created in the process that runs the trial (``name`` + ``options`` travel, not
the object), so they may hold models, data and GPUs.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

from .architecture import Architecture
from .genotype import Genotype
from .plugins import check_options
from .space import Space


_ELSEWHERE: contextvars.ContextVar[bool] = contextvars.ContextVar("nasdsl_trials_elsewhere", default=False)


@contextmanager
def trials_elsewhere(elsewhere: bool = True):
    """Build estimators, inside this block, for a driver whose trials run on other machines (a Dask cluster):
    what only the workers have (a GPU) is not checked here; a trial that needs it says so in ``resources``."""
    token = _ELSEWHERE.set(bool(elsewhere))
    try:
        yield
    finally:
        _ELSEWHERE.reset(token)


def trials_run_here() -> bool:
    """False while estimators are built for a driver whose trials run elsewhere (:func:`trials_elsewhere`)."""
    return not _ELSEWHERE.get()


class Filtered(Exception):
    """Raised by :meth:`Estimator.before_training`: the architecture is not worth training (for instance a
    zero-cost proxy predicts it among the worse half).  The trial is recorded ``rejected`` with ``metrics``
    and ``reason``, told to the strategy without a value, and does not count against the budget."""

    def __init__(self, reason: str, metrics: Optional[dict[str, float]] = None):
        super().__init__(reason)
        self.reason = reason
        self.metrics = dict(metrics or {})


@dataclass
class TrialSpec:
    """What an estimator needs to evaluate one trial."""

    number: int
    genotype: Genotype
    arch: Architecture
    workdir: Optional[Path] = None  # a folder of this trial's own (checkpoints, exports)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Estimator:
    """Base class: ``evaluate(trial) -> metrics``; ``objective`` names the metric strategies maximize."""

    name: ClassVar[str] = "estimator"
    objective: ClassVar[str] = "valid_acc"
    #: the metrics ``evaluate`` returns, when the estimator declares them; a search then refuses at once a
    #: ``where`` on a metric nasdsl cannot measure before training (``latency``) that is not among them.
    #: ``None``: not declared, so such a constraint is checked on the first trial's metrics instead.
    measures: ClassVar[Optional[tuple[str, ...]]] = None
    #: prefixes of metrics that are the estimator's own bookkeeping (successive halving's ``rung_3``): stored
    #: with the trial, read back by :meth:`history`, and left out of the report's and the CLI's metrics
    bookkeeping: ClassVar[tuple[str, ...]] = ()

    def __init__(self, space: Space, data: str = "digits", **options: Any):
        self.space = space
        self.data_name = data
        self.options = options
        check_options("estimator", self.name, options, self.option_names())

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ()

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        raise NotImplementedError

    def resources(self) -> dict[str, float]:
        """What one trial needs of the machine that runs it (``{"GPU": 1}`` for a trial on a GPU): a cluster
        executor runs it only on a worker that has them.  The default is nothing in particular."""
        return {}

    def history(self, finished: Sequence[Any]) -> dict[str, Any]:
        """What a new trial should know of the trials finished before it (each has ``metrics``, ``status`` and
        ``value``); it arrives as ``TrialSpec.extra``.  Multi-fidelity estimators keep their bookkeeping here
        (successive halving: each rung's results so far); the default is nothing."""
        return {}

    def before_training(self, arch: Architecture) -> dict[str, float]:
        """Metrics this estimator gives without training (a latency table's ``latency``): the search checks the
        ``where`` constraints on them before ``evaluate``, so a trial that breaks one is never trained.  It may
        raise :class:`Filtered` to have the trial rejected, untrained, for a reason of its own (a prefilter)."""
        return {}
