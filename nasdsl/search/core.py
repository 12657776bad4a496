"""The search: its configuration, its store's identity, and how it runs (multi-trial or one-shot)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from .. import plugins
from ..constraints import measured_before_training
from ..errors import NasdslError
from ..estimator import trials_elsewhere
from ..genotype import Genotype
from ..store import Store, TrialRecord, trial_dir
from ..strategy import Result, Told, dedup_hash
from .loop import Loop
from .oneshot import OneShotRun
from .progress import _Progress, _stop
from .trial import Outcome, SpaceRef, _cached_estimator


class SearchError(NasdslError):
    """A search that cannot start (bad options, a store of another search)."""


@dataclass
class SearchResult:
    store: Path
    counts: dict[str, int]
    best: Optional[TrialRecord]
    stopped_early: bool = False


class Search:
    """One search: a space, a strategy, an estimator, a store, a budget."""

    def __init__(self, space_file: str | Path, *, strategy: str = "evolution", estimator: str = "train",
                 budget: int = 20, store: str | Path | None = None, seed: int = 0, data: str = "digits",
                 network: Optional[str] = None, params: Optional[dict[str, Any]] = None,
                 strategy_options: Optional[dict[str, Any]] = None, estimator_options: Optional[dict[str, Any]] = None,
                 objective: Optional[str] = None, executor: str = "local", workers: int = 1, resume: bool = False,
                 executor_options: Optional[dict[str, Any]] = None):
        self.space_ref = SpaceRef(str(Path(space_file).resolve()), network, dict(params or {}))
        self.space = self.space_ref.load()
        self.space_ref.sources = SpaceRef.sources_of(self.space)  # sent with every trial: workers need no files
        if budget < 0:
            raise SearchError("the budget must be at least 0")
        self.strategy_name, self.estimator_name = strategy, estimator
        self.strategy_options = dict(strategy_options or {})
        self.estimator_options = dict(estimator_options or {})
        self.budget, self.seed, self.data = budget, seed, data
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise SearchError(f"--workers must be at least 1; got {workers!r}")
        self.executor_name, self.workers = executor, workers
        self.executor_options = dict(executor_options or {})
        ex_cls = plugins.get_executor(executor)  # an unknown executor or option stops the search here
        if hasattr(ex_cls, "option_names"):
            try:
                plugins.check_options("executor", executor, self.executor_options, tuple(ex_cls.option_names()))
                getattr(ex_cls, "check", lambda options: None)(self.executor_options)  # their values, too
            except ValueError as e:
                raise SearchError(str(e)) from None
        self.store_path = Path(store) if store else Path("runs") / f"{self.space.name}-{strategy}.db"
        est_cls = plugins.get_estimator(estimator)
        # trials on other machines (a Dask scheduler): what only the workers have (a GPU) is not checked here
        elsewhere = bool(getattr(ex_cls, "runs_elsewhere", lambda options: False)(self.executor_options))
        try:  # a bad option or data set stops the search here, before any trial is spent on it
            with trials_elsewhere(elsewhere):
                est = _cached_estimator(self.space_ref, estimator, data, self.estimator_options)
        except (ValueError, TypeError, NasdslError) as e:
            said, who = str(e), f"estimator '{estimator}'"
            raise SearchError(said if said.startswith(who) else f"{who}: {said}") from None
        self.estimator = est
        self.finished: list[TrialRecord] = []  # the finished trials, as the estimator's history reads them
        self.objective = objective or est.objective  # the instance's: it may follow an option (zc's proxy=)
        self.notes: list[str] = list(getattr(getattr(est, "dataset", None), "notes", None) or [])  # the data's
        measures = getattr(est, "measures", est_cls.measures)  # with its options (latency_table=...)
        for c in self.space.constraints:
            if not measured_before_training(c) and measures is not None and c["metric"] not in measures:
                hint = " (or give it -E latency_table=TABLE.json from nasdsl latency)" if c["metric"] == "latency" \
                    and "latency_table" in est_cls.option_names() else ""
                raise SearchError(f"the constraint 'where {c['text']}' ({c['where']}) cannot be checked: estimator "
                                  f"'{estimator}' does not measure '{c['metric']}' (it gives: "
                                  f"{', '.join(measures)}){hint}")
        strat_cls = plugins.get_strategy(strategy)
        self.one_shot = bool(getattr(strat_cls, "one_shot", False))
        try:
            self.strategy = strat_cls(self.space, seed=seed, **self.strategy_options)
        except (ValueError, NasdslError) as e:
            raise SearchError(str(e)) from None
        self.trial_key = self._trial_key()
        self.store = Store(self.store_path)
        try:
            self.store.lock(" ".join(sys.argv))
            self._check_store(resume)
            # the metrics that are the estimator's own bookkeeping (rung results): the report and CLI leave them out
            self.store.set_meta({"bookkeeping": list(getattr(est, "bookkeeping", ()))})
        except BaseException:
            self.store.close()
            raise

    # ------------------------------------------------------------ store identity
    def _identity(self) -> dict[str, Any]:
        return {"space": self.space_ref.file, "network": self.space.name, "params": self.space_ref.params,
                "strategy": self.strategy_name, "strategy_options": self.strategy_options,
                "estimator": self.estimator_name, "estimator_options": self.estimator_options,
                "data": self.data, "seed": self.seed, "objective": self.objective,
                "space_digest": self._digest()}

    def _strategy_config(self) -> Any:
        """The strategy's options as it reads them (defaults applied, values typed), as the store keeps them:
        its ``config`` where it declares ``defaults``, else its ``options`` (read the old way, or a one-shot
        strategy's, defaults applied)."""
        s = self.strategy
        config = getattr(s, "config", None) if getattr(type(s), "defaults", None) else None
        if not isinstance(config, dict):
            config = getattr(s, "options", None)
        if not isinstance(config, dict):
            config = self.strategy_options
        return json.loads(json.dumps(config, sort_keys=True, default=str))

    def _digest(self) -> str:
        """A hash of every .nas file the space was compiled from (the sources read once, when the search was
        made, and sent with its trials): a resumed search refuses an edited space."""
        import hashlib

        h = hashlib.sha256()
        for key in sorted(self.space.program.modules):
            text = self.space_ref.sources.get(key)
            h.update(key.encode() if text is None else text.encode("utf-8"))
        return h.hexdigest()[:16]

    def _trial_key(self) -> str:
        """What a trial's checkpoints depend on: the space as compiled, the estimator and its options, the data."""
        import hashlib

        ident = self._identity()
        keep = {k: ident[k] for k in ("space_digest", "network", "params", "estimator", "estimator_options", "data")}
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def _check_store(self, resume: bool) -> None:
        meta = self.store.meta()
        ident = self._identity()
        config = self._strategy_config()
        if not meta or not (self.store.trials() or meta.get("oneshot")):  # a new store, or one that never ran
            self.store.set_meta({**ident, "created": time.time(), "budget": self.budget, "trial_key": self.trial_key,
                                 "strategy_config": config})
            return
        if not resume:
            raise SearchError(f"store '{self.store_path}' already holds a search; pass --resume to continue it, "
                              "or choose another --store")
        diff = [k for k, v in ident.items() if k in meta and meta[k] != v]
        if "strategy_config" in meta:  # options compared with their defaults applied: -S population=10 is the default
            ident["strategy_config"] = config
            diff = [k for k in diff if k != "strategy_options"] + (["strategy_config"] if meta["strategy_config"] != config
                                                                   else [])
        if diff:
            raise SearchError(f"store '{self.store_path}' holds a different search ({', '.join(diff)} differ: "
                              + "; ".join(f"{k}: stored {meta[k]!r}, now {ident[k]!r}" for k in diff) + ")")
        self.store.set_meta({"budget": self.budget, "trial_key": self.trial_key})

    # ------------------------------------------------------------ running
    def payload(self, number: int, g: Genotype, h: str) -> dict[str, Any]:
        """What travels to the worker that runs a trial (plain data: the space's sources, never a model)."""
        # the trial's seed and folder follow its architecture, so they do not depend on the order trials ran in
        ref = self.space_ref
        return {"space": {"file": ref.file, "network": ref.network, "params": ref.params, "sources": ref.sources},
                "estimator": self.estimator_name, "estimator_options": self.estimator_options, "data": self.data,
                "objective": self.objective, "number": number, "genotype": g.values,
                "seed": (self.seed * 1_000_003 + int(h[:8], 16)) % 2 ** 31,
                "workdir": str(trial_dir(self.store_path, h, self.trial_key)),
                "extra": self._history(), "resources": self._resources()}

    _payload = payload  # the name it had

    def _resources(self) -> dict[str, float]:
        """What one trial needs of its worker (a GPU for device=cuda), as the estimator declares it."""
        declared = getattr(self.estimator, "resources", None)
        return {str(k): float(v) for k, v in (declared() if declared is not None else {}).items()}

    def _history(self) -> dict[str, Any]:
        """What the estimator wants a trial to know of the finished ones (successive halving: the rung results)."""
        history = getattr(self.estimator, "history", None)
        return dict(history(self.finished)) if history is not None else {}

    def run(self, progress: bool = False, on_trial: Optional[Callable[[TrialRecord], None]] = None) -> SearchResult:
        """Run the search to its budget; the store's lock is let go when it ends (the store stays open to read)."""
        try:
            if self.one_shot:
                return self._run_one_shot(progress, on_trial)
            return self._run(progress, on_trial)
        finally:
            self.store.unlock()

    def _run(self, progress: bool, on_trial) -> SearchResult:
        from . import run_trial  # looked up when the search runs: a test may stand another runner in its place

        history = self.store.trials()
        self.finished = [t for t in history if t.status in ("completed", "failed")]
        getattr(self.strategy, "set_budget", lambda budget: None)(self.budget)
        self.strategy.replay([Told(t.genotype, Result(t.value, t.metrics, t.status)) for t in history])
        done = len(self.finished)
        exhausted = self.store.meta().get("exhausted")
        if exhausted and exhausted.get("finished") == done and self.budget <= exhausted.get("budget", 0):
            # resumed after it stopped early, with nothing new since and no more budget: asking the strategy
            # again would only add another MAX_IDLE_ASKS cached rows (a larger budget tries again)
            return SearchResult(self.store_path, self.store.counts(), self.store.best(), True)
        if done >= self.budget:
            return SearchResult(self.store_path, self.store.counts(), self.store.best())
        executor = plugins.get_executor(self.executor_name)(workers=self.workers, **self.executor_options)
        bar = _Progress(self, done) if progress else None
        try:
            loop = Loop(self, executor, run_trial, lambda rec: self._notify(rec, bar, on_trial))
            stopped_early = loop.run()
        except BaseException:  # Ctrl-C, a configuration error, a lost cluster: stop the running trials now
            _stop(executor)
            raise
        else:
            executor.shutdown()
        finally:
            if bar is not None:
                bar.stop()
        if stopped_early:
            self.store.set_meta({"exhausted": {"finished": self.store.finished_count(), "budget": self.budget}})
        return SearchResult(self.store_path, self.store.counts(), self.store.best(), stopped_early)

    def _run_one_shot(self, progress: bool, on_trial) -> SearchResult:
        """A one-shot strategy trains its supernet (epochs kept in the store's meta, resumable from the
        last epoch's checkpoint), then its derived genotype is retrained as an ordinary trial."""
        from . import run_trial

        if any(t.status in ("completed", "failed") for t in self.store.trials()):
            return SearchResult(self.store_path, self.store.counts(), self.store.best())  # done already
        est = self.estimator
        if getattr(est, "dataset", None) is None:
            raise SearchError(f"the one-shot strategy '{self.strategy_name}' trains on the estimator's data; "
                              f"estimator '{self.estimator_name}' has none (use train)")
        self.finished = []
        run = OneShotRun(self, est, progress)
        g = self.space.validate(self.strategy.search(run))
        h = dedup_hash(self.space, g)
        rec = self.record(g, h, run_trial(self.payload(self.store.count(), g, h)))
        self._notify(rec, None, on_trial)
        return SearchResult(self.store_path, self.store.counts(), self.store.best())

    def record(self, g: Genotype, h: str, out: Outcome) -> TrialRecord:
        """Store a trial's outcome (a configuration mistake it found stops the search instead)."""
        if out.misconfigured:
            raise SearchError(out.misconfigured)
        value = out.value if out.status == "completed" else None
        return self.store.add(g, h, out.status, value, dict(out.metrics), out.error, out.started, out.duration,
                              out.worker)

    def _notify(self, rec: TrialRecord, bar: Optional[_Progress], on_trial) -> None:
        if bar is not None:
            bar.update(rec)
        if on_trial is not None:
            on_trial(rec)

    def close(self) -> None:
        self.store.close()


def open_store(path: str | Path) -> Store:
    return Store(path, readonly=True)  # a missing file is "no such store", not a new one


def pareto_front(points: list[tuple[int, list[float]]]) -> list[int]:
    """The ids whose objective vectors (all to maximize) no other point dominates."""
    front = []
    for i, a in points:
        dominated = any(all(y >= x for x, y in zip(a, b)) and any(y > x for x, y in zip(a, b)) for j, b in points if j != i)
        if not dominated:
            front.append(i)
    return front
