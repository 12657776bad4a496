"""TPE (Bergstra et al. 2011) through optuna's ask/tell interface.

Each ask is one optuna trial: a categorical per token of each active decision
(its domain indices; input choices with more than 64 values are split per
candidate or per slot, see ``_tokens``), ``suggest_float(log=...)`` /
``suggest_int`` for numeric hyperparameter ranges.  Decisions switched off by a
guard are not suggested, so the search space is conditional.  By default
(``multivariate=true``) the sampler runs multivariate TPE (Falkner et al.
2018), which models the joint density of the decisions -- what optuna >= 5
runs by default for a single objective -- with ``group=True`` added so that
conditional spaces are modelled per group of decisions active together (on a
space without guards it proposes exactly what optuna's sampler does).
``multivariate=false`` gives the independent, one-density-per-parameter TPE
of optuna < 5.  Options and defaults: ``n_startup_trials`` 10 (random
trials first), ``multivariate`` true.  A failed trial is told with
state FAIL (TPE leaves it out of its model).

When optuna proposes a genotype already told, the trial is told the cached
result and optuna asked again (at most 20 times, then a random sample).  A
told genotype that was not asked here (a replayed or foreign history) is added
to the study as a finished trial with the parameters of its canonical values.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

from nasdsl import Genotype, Space
from nasdsl.decisions import HyperRange
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, value
from ._tokens import Plan, plan

TOKEN_LIMIT = 64
RETRIES = 20


class TPE(BuiltinStrategy):
    name = "tpe"
    defaults = {"n_startup_trials": 10, "multivariate": True}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        self._check(self.config["n_startup_trials"] >= 0,
                    f"n_startup_trials must be at least 0, got {self.config['n_startup_trials']}")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        mv = self.config["multivariate"]
        with warnings.catch_warnings():  # multivariate / group are "experimental" in optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.config["n_startup_trials"],
                                                 multivariate=mv, group=mv)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.plans: list[tuple[Any, Optional[Plan]]] = [(d, plan(d, TOKEN_LIMIT)) for d in space.decisions.values()]
        self._trials: dict[str, Any] = {}  # canonical hash -> the optuna trial that proposed it

    # ------------------------------------------------------------ genotype <-> trial
    def _distributions(self, d: Any, p: Optional[Plan]) -> dict[str, Any]:
        dist = self._optuna.distributions
        if p is None:
            assert isinstance(d, HyperRange)
            if d.integer:
                return {d.name: dist.IntDistribution(int(d.low), int(d.high))}
            return {d.name: dist.FloatDistribution(float(d.low), float(d.high), log=d.log)}
        return {name: dist.CategoricalDistribution(list(range(n))) for name, n in zip(p.names, p.sizes)}

    def _suggest(self, trial: Any) -> Genotype:
        values: dict[str, Any] = {}
        for d, p in self.plans:
            if not self.space._active(d, values):
                values[d.name] = d.default()
            elif p is None:
                values[d.name] = (trial.suggest_int(d.name, int(d.low), int(d.high)) if d.integer else
                                  trial.suggest_float(d.name, float(d.low), float(d.high), log=d.log))
            else:
                idx = [trial.suggest_categorical(name, list(range(n))) for name, n in zip(p.names, p.sizes)]
                values[d.name] = p.decode(idx)
        return self.space.canonical(Genotype(space=self.space.name, values=values))

    def _params(self, genotype: Genotype) -> tuple[dict[str, Any], dict[str, Any]]:
        values = self.space.canonical(genotype).values
        params: dict[str, Any] = {}
        dists: dict[str, Any] = {}
        for d, p in self.plans:
            if not self.space._active(d, values):
                continue
            dists.update(self._distributions(d, p))
            if p is None:
                params[d.name] = values[d.name]
            else:
                params.update(zip(p.names, p.encode(values[d.name])))
        return params, dists

    def _finish(self, trial: Any, result: Result) -> None:
        v = value(result)
        if v is not None:
            self.study.tell(trial, v)
        else:
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)

    # ------------------------------------------------------------ ask / tell
    def ask(self) -> Genotype:
        for _ in range(RETRIES):
            trial = self.study.ask()
            g = self._suggest(trial)
            h = self.hash(g)
            if h in self.seen:
                self._finish(trial, self.seen[h])  # TPE learns it again and moves on
            elif h in self.pending:
                self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            else:
                self._trials[h] = trial
                return self._asked(g)
        return self._asked(self._random())

    def tell(self, genotype: Genotype, result: Result) -> None:
        trial = self._trials.pop(self.hash(genotype), None)
        super().tell(genotype, result)
        if trial is not None:
            self._finish(trial, result)
            return
        params, dists = self._params(genotype)
        v = value(result)
        state = self._optuna.trial.TrialState
        self.study.add_trial(self._optuna.trial.create_trial(
            state=state.FAIL if v is None else state.COMPLETE, value=v, params=params, distributions=dists))

    def drop(self, genotype: Genotype) -> None:
        super().drop(genotype)
        trial = self._trials.pop(self.hash(genotype), None)
        if trial is not None:
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
