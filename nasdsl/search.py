"""The multi-trial search loop: strategy asks, estimator scores, store remembers.

``Search(...).run()`` is what ``nasdsl search`` runs.  Trials run through an
executor (in-process, or a local process pool with ``workers > 1``); each one
is written to the SQLite store as it ends.  A genotype whose architecture was
evaluated already (same canonical hash) is answered from the store and does
not count against the budget.  A trial that raises, runs out of memory or
gives NaN is recorded as failed and the search goes on.  ``resume=True``
continues a search from its store: the strategy replays the stored history,
and the budget counts finished trials across resumes.

A genotype is **rejected** — recorded with status ``rejected`` and told to the
strategy as a result without a value, never trained — when its architecture
breaks a ``where`` constraint, or when it cannot be realized at all (a
per-architecture language error such as ``cannot merge feature maps of sizes
[[3, 3], [8, 8]]``; the trial's error holds the message and its
``file:line:col``).  One rule for both: the budget counts *finished* trials
(completed or failed); rejected and cached ones do not count, and a search
whose strategy makes ``MAX_IDLE_ASKS`` proposals in a row that finish nothing
stops early (the space, or its feasible part, is exhausted).  A rejected
genotype proposed again is answered from the store (``cached``).  A mistake of
configuration (an objective the estimator does not give, a constraint it
cannot check) still stops the search at once.

:func:`realizability` is the twin of ``nasdsl check --sample``: how many random
genotypes of a space cannot be realized, and why.
"""

from __future__ import annotations

import json
import sys
import math
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from . import plugins
from .constraints import (broken, genotype_metrics, measured_before_training, model_metrics, structural_metrics,
                          violation)
from .errors import NasdslError, NasError
from .estimator import Filtered
from .genotype import Genotype
from .space import Space
from .store import Store, StoreError, TrialRecord, trial_dir, trials_dir
from .strategy import Result, Told, dedup_hash

MAX_IDLE_ASKS = 200  # proposals in a row that evaluate nothing new: the space (or its feasible part) is exhausted


class SearchError(NasdslError):
    """A search that cannot start (bad options, a store of another search)."""


@dataclass
class SpaceRef:
    """How a worker process rebuilds the space: from its file, not from a pickled object."""

    file: str
    network: Optional[str] = None
    params: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Space:
        return _cached_space(self.file, self.network, tuple(sorted(self.params.items())), _stamp(self.file))


_SPACES: dict[tuple, Space] = {}
_ESTIMATORS: dict[tuple, Any] = {}


def _stamp(file: str) -> tuple[int, int]:
    """The file's modification time and size: an edited file is compiled again."""
    try:
        st = os.stat(file)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return 0, 0


def _cached_space(file: str, network: Optional[str], params: tuple, stamp: tuple = ()) -> Space:
    key = (file, network, params, stamp)
    if key not in _SPACES:
        _SPACES[key] = Space.from_file(file, network=network, params=dict(params) or None)
    return _SPACES[key]


def _cached_estimator(ref: SpaceRef, name: str, data: str, options: dict[str, Any]):
    key = (ref.file, _stamp(ref.file), ref.network, tuple(sorted(ref.params.items())), name, data,
           tuple(sorted(options.items())))
    if key not in _ESTIMATORS:
        _ESTIMATORS[key] = plugins.get_estimator(name)(ref.load(), data=data, **options)
    return _ESTIMATORS[key]


def parse_objective(text: str) -> tuple[str, float]:
    """``valid_acc`` (maximize) or ``-params`` (minimize) -> (metric, sign)."""
    text = text.strip()
    return (text[1:], -1.0) if text.startswith("-") else (text, 1.0)


def _said(err: NasError) -> str:
    return err.message + (f"; {err.hint}" if err.hint else "")


def reason(err: NasError) -> str:
    """One line saying why an architecture cannot be realized: ``message (file:line:col)``."""
    return f"{_said(err)} ({err.span})" if err.span else _said(err)


@dataclass
class Unrealizable:
    """One reason random genotypes cannot be realized, and how many of them it stopped."""

    message: str
    where: Optional[str]  # file:line:col, when the error is located
    count: int

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class Realizability:
    """What :func:`realizability` found: ``failed`` of ``sampled`` genotypes cannot be realized."""

    sampled: int
    failed: int
    reasons: list[Unrealizable]  # most frequent first

    @property
    def fraction(self) -> float:
        return self.failed / self.sampled if self.sampled else 0.0


def realizability(space: Space, n: int, seed: Any = 0) -> Realizability:
    """Realize ``n`` random genotypes (``space.sample``, seeded) and count those that cannot be realized.

    Reasons are grouped by the error's message and location, not by genotype.
    """
    import random
    from collections import Counter

    rng = random.Random(seed)
    found: Counter[tuple[str, Optional[str]]] = Counter()
    for _ in range(n):
        try:
            space.realize(space.sample(rng))
        except NasError as e:
            found[(_said(e), str(e.span) if e.span else None)] += 1
    ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0][1] or "", kv[0][0]))  # most frequent first
    return Realizability(n, sum(found.values()), [Unrealizable(m, w, c) for (m, w), c in ranked])


# how an allocation failure reads: CUDA's OutOfMemoryError, and the CPU allocator's RuntimeError
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "defaultcpuallocator")


def run_trial(payload: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one trial (in whatever process the executor chose); never raises."""
    from .estimator import TrialSpec

    t0 = time.time()
    out: dict[str, Any] = {"status": "failed", "metrics": {}, "error": None, "started": t0, "worker": f"pid{os.getpid()}"}
    try:
        ref = SpaceRef(**payload["space"])
        space = ref.load()
        est = _cached_estimator(ref, payload["estimator"], payload["data"], payload["estimator_options"])
        genotype = space.validate(Genotype(values=payload["genotype"]))
        pre = genotype_metrics(space, genotype.values)  # edges, count(OP): read off the genotype, nothing built
        c = broken(space, pre)
        if c is not None:
            out.update(status="rejected", metrics=pre, error=violation(c, pre))
            return out
        try:
            arch = space.realize(genotype, input_shape=getattr(est, "input_shape", lambda: None)())
        except NasError as e:  # this architecture cannot be realized: rejected, like a broken constraint
            out.update(status="rejected", error=reason(e))
            return out
        workdir = Path(payload["workdir"]) if payload.get("workdir") else None
        pre.update(structural_metrics(arch))
        constraints = space.constraints
        if any(c["metric"] in ("params", "flops") for c in constraints):
            pre.update(model_metrics(arch))
        try:
            pre.update(getattr(est, "before_training", lambda a: {})(arch))  # e.g. a latency table's prediction
        except Filtered as f:  # e.g. a zero-cost prefilter: not worth training
            out.update(status="rejected", metrics={**pre, **f.metrics}, error=f.reason)
            return out
        c = broken(space, pre)
        if c is not None:
            out.update(status="rejected", metrics=pre, error=violation(c, pre))
            return out
        spec = TrialSpec(payload["number"], genotype, arch, workdir, payload.get("seed", 0), payload.get("extra", {}))
        measured = {k: float(v) for k, v in est.evaluate(spec).items()}
        metrics = {**pre, **measured}
        late = broken(space, {k: v for k, v in measured.items() if k not in pre})  # e.g. latency
        name, sign = parse_objective(payload["objective"])
        if name not in metrics:
            out["fatal"] = f"the objective '{name}' is not a metric of this estimator (it gives: {', '.join(sorted(metrics))})"
            return out
        unmeasured = [c for c in constraints if c["metric"] not in metrics]
        if unmeasured:
            c = unmeasured[0]
            out["fatal"] = (f"the constraint 'where {c['text']}' ({c['where']}) cannot be checked: this estimator "
                            f"does not measure '{c['metric']}'")
            return out
        value = sign * metrics[name]
        if not math.isfinite(value):
            out.update(metrics=metrics, error=f"objective {payload['objective']} is {metrics[name]}")
            return out
        if late is not None:
            out.update(status="rejected", metrics=metrics, error=violation(late, metrics))
            return out
        out.update(status="completed", metrics=metrics, value=value)
    except MemoryError:
        out["error"] = "out of memory"
    except Exception as e:  # a failed trial is recorded; the search goes on
        text = str(e).lower()
        oom = type(e).__name__ == "OutOfMemoryError" or any(m in text for m in _OOM_MESSAGES)
        out["error"] = "out of memory: " + str(e)[:500] if oom else f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc(limit=8)[-4000:]
    finally:
        out["duration"] = time.time() - t0
    return out


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
            except ValueError as e:
                raise SearchError(str(e)) from None
        self.store_path = Path(store) if store else Path("runs") / f"{self.space.name}-{strategy}.db"
        est_cls = plugins.get_estimator(estimator)
        try:  # a bad option or data set stops the search here, before any trial is spent on it
            est = _cached_estimator(self.space_ref, estimator, data, self.estimator_options)
        except (ValueError, TypeError, NasdslError) as e:
            said, who = str(e), f"estimator '{estimator}'"
            raise SearchError(said if said.startswith(who) else f"{who}: {said}") from None
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
        """The strategy's options as it reads them (defaults applied, values typed), as the store keeps them."""
        config = getattr(self.strategy, "config", None)
        if not isinstance(config, dict):
            config = getattr(self.strategy, "options", None)
        if not isinstance(config, dict):
            config = self.strategy_options
        return json.loads(json.dumps(config, sort_keys=True, default=str))

    def _digest(self) -> str:
        """A hash of every .nas file the space was compiled from: a resumed search refuses an edited space."""
        import hashlib

        h = hashlib.sha256()
        for key in sorted(self.space.program.modules):
            try:
                h.update(Path(key).read_bytes())
            except OSError:
                h.update(key.encode())
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
    def _payload(self, number: int, g: Genotype, h: str) -> dict[str, Any]:
        # the trial's seed and folder follow its architecture, so they do not depend on the order trials ran in
        return {"space": {"file": self.space_ref.file, "network": self.space_ref.network, "params": self.space_ref.params},
                "estimator": self.estimator_name, "estimator_options": self.estimator_options, "data": self.data,
                "objective": self.objective, "number": number, "genotype": g.values,
                "seed": (self.seed * 1_000_003 + int(h[:8], 16)) % 2 ** 31,
                "workdir": str(trial_dir(self.store_path, h, self.trial_key)), "extra": self._extra()}

    def _extra(self) -> dict[str, Any]:
        """What an estimator may want from earlier trials (successive halving reads the rung results)."""
        rungs: dict[str, list[float]] = {}
        for t in self._finished:
            for k, v in t.metrics.items():
                if k.startswith("rung_") and v is not None:
                    rungs.setdefault(k, []).append(float(v))
        return {"rungs": rungs}

    def run(self, progress: bool = False, on_trial: Optional[Callable[[TrialRecord], None]] = None) -> SearchResult:
        """Run the search to its budget; the store's lock is let go when it ends (the store stays open to read)."""
        try:
            if self.one_shot:
                return self._run_one_shot(progress, on_trial)
            return self._run(progress, on_trial)
        finally:
            self.store.unlock()

    def _run(self, progress: bool, on_trial) -> SearchResult:
        history = self.store.trials()
        self._finished = [t for t in history if t.status in ("completed", "failed")]
        self.strategy.replay([Told(t.genotype, Result(t.value, t.metrics, t.status)) for t in history])
        done = self.store.finished_count()
        exhausted = self.store.meta().get("exhausted")
        if exhausted and exhausted.get("finished") == done and self.budget <= exhausted.get("budget", 0):
            # resumed after it stopped early, with nothing new since and no more budget: asking the strategy
            # again would only add another MAX_IDLE_ASKS cached rows (a larger budget tries again)
            return SearchResult(self.store_path, self.store.counts(), self.store.best(), True)
        make_executor = lambda: plugins.get_executor(self.executor_name)(workers=self.workers,  # noqa: E731
                                                                         **self.executor_options)
        executor = make_executor()
        generation = 0  # which pool: a broken pool's other futures fail too, and one new pool serves them all
        born: dict[Future, int] = {}
        pending: dict[Future, tuple[Genotype, str]] = {}
        retry: list[tuple[Genotype, str]] = []  # trials whose pool broke: each runs again, alone
        alone: set[str] = set()
        pending_hashes: set[str] = set()

        def submit(number: int, g: Genotype, h: str) -> None:
            nonlocal executor, generation
            try:
                fut = executor.submit(run_trial, self._payload(number, g, h))
            except BrokenProcessPool:  # a worker died since the last result: start a fresh pool
                executor.shutdown()
                executor = make_executor()
                generation += 1
                fut = executor.submit(run_trial, self._payload(number, g, h))
            born[fut] = generation
            pending[fut] = (g, h)
            pending_hashes.add(h)

        idle = 0
        stopped_early = False
        bar = _Progress(self, done) if progress else None
        try:
            while done + len(pending) < self.budget or pending or retry:
                if retry and not pending:
                    # a trial whose pool broke runs again alone: if its worker dies now, the trial did it
                    g, h = retry.pop(0)
                    alone.add(h)
                    submit(self.store.count(), g, h)
                running_alone = any(x[1] in alone for x in pending.values())
                while (not retry and not running_alone and done + len(pending) < self.budget
                       and len(pending) < self.workers and idle < MAX_IDLE_ASKS):
                    g = self.strategy.ask()
                    h = self.strategy.hash(g)
                    known = self.store.lookup(h)
                    if known is not None:  # answered from the store: no training, no budget
                        rec = self.store.add(g, h, "cached", known.value, known.metrics, known.error, duration=0.0)
                        self.strategy.tell(g, Result(known.value, known.metrics, "cached"))
                        idle += 1
                        self._notify(rec, bar, on_trial)
                        continue
                    if h in pending_hashes:
                        idle += 1
                        self.strategy.tell(g, Result(None, {}, "cached"))
                        continue
                    submit(self.store.count() + len(pending), g, h)
                if not pending:
                    if idle >= MAX_IDLE_ASKS:
                        stopped_early = True
                        self.store.set_meta({"exhausted": {"finished": done, "budget": self.budget}})
                    break
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in finished:
                    g, h = pending.pop(fut)
                    pending_hashes.discard(h)
                    try:
                        out = fut.result()
                        born.pop(fut, None)
                    except Exception as e:  # a worker process died (killed, out of memory, crashed)
                        if born.pop(fut, generation) == generation:  # the pool is broken: start a fresh one
                            executor.shutdown()
                            executor = make_executor()
                            generation += 1
                        if h not in alone:  # it may have been another trial's worker that died
                            retry.append((g, h))
                            continue
                        out = {"status": "failed", "metrics": {}, "started": None, "duration": None, "worker": None,
                               "error": f"its worker process died, also when it ran alone: {type(e).__name__}: {e}"}
                    rec = self._record(g, h, out)
                    self.strategy.tell(g, Result(rec.value, out["metrics"], out["status"]))
                    if out["status"] in ("completed", "failed"):
                        done += 1
                        self._finished.append(rec)
                        idle = 0
                    else:
                        idle += 1
                    self._notify(rec, bar, on_trial)
        except BaseException:  # Ctrl-C, a fatal trial: stop the running trials now, keep what is stored
            _stop(executor)
            raise
        else:
            executor.shutdown()
        finally:
            if bar is not None:
                bar.stop()
        return SearchResult(self.store_path, self.store.counts(), self.store.best(), stopped_early)

    def _run_one_shot(self, progress: bool, on_trial) -> SearchResult:
        """A one-shot strategy trains its supernet (epochs kept in the store's meta, resumable from the
        last epoch's checkpoint), then its derived genotype is retrained as an ordinary trial."""
        if any(t.status in ("completed", "failed") for t in self.store.trials()):
            return SearchResult(self.store_path, self.store.counts(), self.store.best())  # done already
        est = _cached_estimator(self.space_ref, self.estimator_name, self.data, self.estimator_options)
        if getattr(est, "dataset", None) is None:
            raise SearchError(f"the one-shot strategy '{self.strategy_name}' trains on the estimator's data; "
                              f"estimator '{self.estimator_name}' has none (use train)")
        self._finished = []
        run = OneShotRun(self, est, progress)
        g = self.space.validate(self.strategy.search(run))
        h = dedup_hash(self.space, g)
        rec = self._record(g, h, run_trial(self._payload(self.store.count(), g, h)))
        self._notify(rec, None, on_trial)
        return SearchResult(self.store_path, self.store.counts(), self.store.best())

    def _record(self, g: Genotype, h: str, out: dict[str, Any]) -> TrialRecord:
        """Store what ``run_trial`` gave (a configuration error stops the search instead)."""
        if out.get("fatal"):
            raise SearchError(out["fatal"])
        value = out.get("value") if out["status"] == "completed" else None
        return self.store.add(g, h, out["status"], value, out["metrics"], out.get("error"), out.get("started"),
                              out.get("duration"), out.get("worker"))

    def _notify(self, rec: TrialRecord, bar: Optional["_Progress"], on_trial) -> None:
        if bar is not None:
            bar.update(rec)
        if on_trial is not None:
            on_trial(rec)

    def close(self) -> None:
        self.store.close()


class OneShotRun:
    """What a one-shot strategy's ``search(run)`` reads and reports to: the data, the device, its
    checkpoint file, the epochs done so far; ``epoch_done`` stores an epoch (after the strategy saved
    its checkpoint) and prints it."""

    def __init__(self, search: Search, estimator: Any, progress: bool):
        self.search = search
        self.space = search.space
        self.seed = search.seed
        self.data = estimator.dataset
        self.device = getattr(estimator, "recipe_overrides", {}).get("device", "auto")
        self.checkpoint = trials_dir(search.store_path) / f"oneshot-{search.trial_key}.pt"
        self.progress = progress
        self._t0 = time.time()
        self._first: Optional[int] = None  # the first epoch this process ran (a resumed run starts later)

    def epochs(self) -> list[dict[str, Any]]:
        """The epochs stored so far."""
        return list((self.search.store.meta().get("oneshot") or {}).get("epochs", []))

    def ranking_done(self, result: dict[str, Any]) -> None:
        """Store (and print) the trained supernet's ranking quality against a stand-alone table (``ranking_table``)."""
        kept = self.search.store.meta().get("oneshot") or {}
        self.search.store.set_meta({"oneshot": {**kept, "ranking": result}})
        if self.progress:
            ceiling = "" if result.get("seed_tau") is None else f"; the table's own seed-to-seed tau {result['seed_tau']:.3f}"
            print(f"ranking: Kendall tau {result['tau']:.3f} (Spearman rho {result['rho']:.3f}) between the supernet's "
                  f"scores and the stand-alone accuracies of {result['cells']} cells of {result['table']}{ceiling}",
                  flush=True)

    def epoch_done(self, records: list[dict[str, Any]], total: int) -> None:
        """Store the run's epochs (``records``, the one just done last) and print that epoch."""
        record = records[-1]
        kept = self.search.store.meta().get("oneshot") or {}
        self.search.store.set_meta({"oneshot": {**kept, "strategy": self.search.strategy_name, "epochs": records}})
        if not self.progress:
            return
        prev = records[-2]["genotype"] if len(records) > 1 else None
        changed = sum(1 for k, v in record["genotype"].items() if prev is not None and prev.get(k) != v)
        if self._first is None:
            self._first = record["epoch"]
        per_epoch = (time.time() - self._t0) / (record["epoch"] - self._first + 1)
        eta = per_epoch * (total - record["epoch"])
        if record.get("phase") == "search":  # a sampling method's search phase: children scored on the shared weights
            what = f"search  scored {record.get('scored', '-')}  best_score {record['supernet_acc']:.4f}"
        else:  # arch_loss None: a weights-only epoch
            a_loss = "-" if record["arch_loss"] is None else f"{record['arch_loss']:.4f}"
            what = (f"train_loss {record['train_loss']:.4f}  arch_loss {a_loss}  "
                    f"supernet_acc {record['supernet_acc']:.4f}")
        print(f"epoch {record['epoch']}/{total}  {what}  changed {changed if prev is not None else '-'} decisions  "
              f"ETA {eta:.0f}s", flush=True)
        if record.get("stopped"):
            print(record["stopped"], flush=True)


class _Progress:
    """Progress of a search: on a terminal a rich bar (trials done / budget, best so far, elapsed, ETA);
    elsewhere (nohup, SLURM, CI logs) one plain line per trial as it ends.  A failed trial's reason is
    printed either way, so a configuration mistake is seen at the first trial, not in the store."""

    def __init__(self, search: Search, done: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.search = search
        self.started = time.time()
        self.console = Console()
        self.live = self.console.is_terminal
        best = search.store.best()
        self.progress = None
        if self.live:
            self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(), console=self.console)
            self.task = self.progress.add_task("search", total=search.budget, completed=done,
                                               best=f"{best.value:.4f}" if best else "-")
            self.progress.start()

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False)  # above the bar
        else:
            print(line, flush=True)

    def update(self, rec: TrialRecord) -> None:
        best = self.search.store.best()
        done = self.search.store.finished_count()
        shown = f"{best.value:.4f}" if best else "-"
        if self.progress is not None:
            self.progress.update(self.task, completed=done, best=shown)
        if rec.status == "failed":
            self._say(f"trial {rec.number} failed: {rec.error}")
        elif not self.live and rec.status != "cached":  # a repeat proposal is summed up at the end
            value = f" {self.search.objective} = {rec.value:.4f}" if rec.value is not None else ""
            why = f" ({rec.error})" if rec.status == "rejected" and rec.error else ""
            self._say(f"trial {rec.number} {rec.status}{value}{why}; {done}/{self.search.budget} done, best {shown}, "
                      f"{time.time() - self.started:.0f} s")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _stop(executor: Any) -> None:
    """Shut an executor down without waiting for its running trials (``shutdown(wait=False)`` where it takes it)."""
    import inspect

    try:
        takes_wait = "wait" in inspect.signature(executor.shutdown).parameters
    except (TypeError, ValueError):
        takes_wait = False
    executor.shutdown(wait=False) if takes_wait else executor.shutdown()


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


__all__ = ["Search", "SearchResult", "SearchError", "run_trial", "parse_objective", "pareto_front", "open_store",
           "StoreError", "realizability", "Realizability", "Unrealizable", "reason"]
