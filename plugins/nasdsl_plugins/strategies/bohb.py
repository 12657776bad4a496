"""BOHB (Falkner, Klein & Hutter, ICML 2018): Hyperband's brackets with a TPE model in place of random
configurations.

The brackets are the estimator's: run ``--strategy bohb --estimator hyperband`` (or ``sha``), and each
trial is trained through the rungs of its bracket, stopping at a rung where it is not in the top 1/eta of
the trials that reached it, exactly as with any other strategy.  What BOHB changes is the proposals:

* every told trial is an observation at each rung it reached (its ``rung_E`` metrics: the validation
  accuracy after E epochs); a trial of an estimator without rungs is one observation at its objective;
* to propose, the model is fitted on the observations of the **largest budget that has at least**
  ``min_points`` of them (0, the default, means the paper's d + 1, d the number of parameters the
  space is encoded in); below that everywhere, or with probability ``random_fraction`` (1/3, the
  paper's), the proposal is a uniform sample;
* the model is optuna's multivariate TPE sampler (Falkner et al.'s own density model, which optuna
  implements and keeps): a study rebuilt from that budget's observations, its good set the best
  ``top`` share (0.15, the paper's q), ``candidates`` (64, the paper's) samples scored by the density
  ratio.  Reusing optuna's sampler, and the project's own Hyperband estimator for the brackets, rather
  than the ``hpbandster`` package: hpbandster runs its own Pyro-based master/worker loop and would not
  go through nasdsl's store, executors and resume; optuna is already the ``tpe`` strategy's.

Not built: the paper's bandwidth factor (3, widening the good density when sampling), which optuna's
sampler does not expose.  Parameters follow the ``tpe`` strategy's encoding (``_tokens``); a failed trial
is no observation.  Replaying a history asks and tells in the original order, so a resumed sequential
search proposes what it would have proposed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

from nasdsl import Genotype, Space
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, value
from ._tokens import plan
from .tpe import RETRIES, TOKEN_LIMIT, TPE

FINAL = math.inf  # the budget of an observation without rungs: the objective itself


def budgets_of(result: Result) -> dict[float, float]:
    """{budget: value} of one told result: its ``rung_E`` metrics, else {inf: its objective}."""
    rungs = {}
    for k, v in result.metrics.items():
        if k.startswith("rung_") and v is not None and math.isfinite(float(v)):
            try:
                rungs[float(k[5:])] = float(v)
            except ValueError:
                continue
    if rungs:
        return rungs
    v = value(result)
    return {} if v is None else {FINAL: v}


class BOHB(BuiltinStrategy):
    name = "bohb"
    defaults = {"min_points": 0, "random_fraction": 1 / 3, "top": 0.15, "candidates": 64}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        c = self.config
        self._check(c["min_points"] >= 0, f"min_points must be at least 0, got {c['min_points']}")
        self._check(0 <= c["random_fraction"] <= 1, f"random_fraction must be in [0, 1], got {c['random_fraction']}")
        self._check(0 < c["top"] < 1, f"top must be in (0, 1), got {c['top']}")
        self._check(c["candidates"] >= 1, f"candidates must be at least 1, got {c['candidates']}")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.plans = [(d, plan(d, TOKEN_LIMIT)) for d in space.decisions.values()]
        width = sum(1 if p is None else len(p.names) for _, p in self.plans)
        self.min_points = c["min_points"] or width + 1
        self.observations: dict[float, list[tuple[dict, dict, float]]] = {}  # budget -> (params, dists, value)
        self._observed: set[str] = set()  # hashes whose observations are in, so a cached repeat adds none
        self.model_budgets: list[Optional[float]] = []  # the budget each proposal's model was fitted on

    # the genotype <-> optuna parameters mapping is the tpe strategy's
    _distributions = TPE._distributions
    _suggest = TPE._suggest
    _params = TPE._params

    def model_budget(self) -> Optional[float]:
        """The largest budget with at least ``min_points`` observations (None: none has them yet)."""
        enough = [b for b, obs in self.observations.items() if len(obs) >= self.min_points]
        return max(enough) if enough else None

    def _study(self, budget: float) -> Any:
        optuna = self._optuna
        top = self.config["top"]
        with warnings.catch_warnings():  # multivariate / group are "experimental" in optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)  # gamma: deprecated in optuna 4.9, kept until 6
            sampler = optuna.samplers.TPESampler(
                seed=self.rng.randrange(2 ** 31), n_startup_trials=0, n_ei_candidates=self.config["candidates"],
                multivariate=True, group=True, gamma=lambda n: max(1, math.ceil(top * n)))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        complete = optuna.trial.TrialState.COMPLETE
        for params, dists, v in self.observations[budget]:
            study.add_trial(optuna.trial.create_trial(state=complete, value=v, params=params, distributions=dists))
        return study

    def ask(self) -> Genotype:
        explore = self.rng.random() < self.config["random_fraction"]  # drawn every ask: replay keeps the stream
        budget = self.model_budget()
        self.model_budgets.append(None if explore else budget)
        if budget is None or explore:
            return self._asked(self._random())
        study = self._study(budget)
        for _ in range(RETRIES):
            g = self._suggest(study.ask())
            if self.is_new(g):
                return self._asked(g)
        return self._asked(self._random())

    def tell(self, genotype: Genotype, result: Result) -> None:
        super().tell(genotype, result)
        h = self.hash(genotype)
        if h in self._observed:
            return
        got = budgets_of(result)
        if not got:
            return  # failed: no observation
        self._observed.add(h)
        params, dists = self._params(genotype)
        for b, v in got.items():
            self.observations.setdefault(b, []).append((params, dists, v))
