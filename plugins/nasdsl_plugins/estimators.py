"""Built-in estimators: full training, successive halving and Hyperband over epochs, cost.

``train``      trains the architecture with the PyTorch backend (the recipe of
               ``nasdsl train``; options: epochs, lr, batch_size, optimizer, ...,
               fraction = the share of the training split used)
``sha``        asynchronous successive halving (Li et al., "A System for Massively
               Parallel Hyperparameter Tuning", 2020): train to the first rung of
               epochs; go on to the next rung only while the validation accuracy is
               in the top 1/eta of what earlier trials reached at that rung
``hyperband``  several successive-halving brackets with different first rungs
               (Li et al., JMLR 2018), assigned to trials in turn
``cost``       parameters, FLOPs, op count and depth, without training
               (objective: fewest parameters)
``zc``         zero-cost proxies (``nasdsl_plugins.proxies``) of the untrained network on one minibatch:
               synflow, snip, grasp, fisher, grad_norm, jacob_cov, naswot, and their vote; the objective is
               ``proxy`` (default ``vote``)

``train``, ``sha``, ``hyperband`` and ``cost`` take ``latency_table=PATH`` (``nasdsl latency``): the metric
``latency`` (ms, predicted by the table), and, where a model is trained, ``latency_measured``.  ``train``,
``sha`` and ``hyperband`` take ``prefilter=PROXY``: a zero-cost proxy decides, before training, whether an
architecture is worth training (:class:`ProxyFilter`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nasdsl import hookimpl
from nasdsl.constraints import model_metrics
from nasdsl.datasets import load_dataset
from nasdsl.estimator import Estimator, TrialSpec
from nasdsl.plugins import convert_option, get_backend

RECIPE_OPTIONS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "grad_clip",
                  "label_smoothing", "drop_path", "auxiliary_weight", "device", "max_steps")


def flag(name: str, value: Any) -> bool:
    """A yes/no option as given in Python (True) or on the command line (``-E save_model=false``)."""
    try:
        return convert_option(bool, value)
    except ValueError as e:
        raise ValueError(f"option {name} {e}") from None


class CurveStop:
    """The ``curve_stop`` option of ``train``: learning-curve early stopping (``nasdsl_plugins.curves``).

    After each epoch from ``curve_min_epochs`` (3) on, the validation accuracies so far are extrapolated
    to the last epoch; the trial stops when its chance of beating the best finished trial's final accuracy
    is below ``curve_threshold`` (0.05), unless its last epoch gained more than the best trial's did at the
    same epoch.  The best is the finished trial, trained to the end, with the highest ``valid_acc``; each
    trial's curve is kept as its ``curve_E`` metrics (the estimator's bookkeeping, as successive halving's
    rungs are).  A stopped trial is recorded completed with ``stopped`` 1, ``stopped_epoch``, the accuracy
    it reached and ``predicted_valid_acc``, the forecast it was stopped on; strategies are told all of it
    (its value is the accuracy it reached, not the forecast)."""

    CURVE_OPTIONS = ("curve_stop", "curve_min_epochs", "curve_threshold")

    def _load_curves(self, options: dict[str, Any]) -> None:
        self.curve_stop = flag("curve_stop", options.get("curve_stop", False))
        self.curve_min_epochs = int(options.get("curve_min_epochs", 3))
        self.curve_threshold = float(options.get("curve_threshold", 0.05))
        if self.curve_min_epochs < 3:
            raise ValueError(f"curve_min_epochs must be at least 3 (a curve needs three points), got "
                             f"{self.curve_min_epochs}")
        if not 0 < self.curve_threshold < 1:
            raise ValueError(f"curve_threshold is a probability in (0, 1), got {self.curve_threshold}")
        if self.curve_stop:
            self.bookkeeping = ("curve_",)
            self.measures = tuple(self.measures or ()) + ("stopped", "stopped_epoch", "predicted_valid_acc")

    def history(self, finished) -> dict[str, Any]:
        if not self.curve_stop:
            return super().history(finished)
        best, best_value = None, -math.inf
        for t in finished:
            m = t.metrics
            if t.status != "completed" or m.get("stopped") or m.get("valid_acc") is None:
                continue
            if m["valid_acc"] > best_value:
                best, best_value = t, float(m["valid_acc"])
        if best is None:
            return {"curves": {}}
        curve = [float(best.metrics[f"curve_{e}"]) for e in range(1, 1 + int(best.metrics.get("epochs", 0)))
                 if f"curve_{e}" in best.metrics]
        return {"curves": {"best": curve, "best_final": best_value}}

    def _curve_watch(self, trial: TrialSpec, total: int):
        """The ``on_epoch`` callback of this trial's training, and the dict where it writes what it decided."""
        from .curves import decide

        seen = trial.extra.get("curves") or {}
        said: dict[str, float] = {}

        def on_epoch(history) -> bool:
            if "best_final" not in seen:  # nothing finished to beat yet
                return False
            curve = [h["valid_acc"] for h in history]
            d = decide(curve, seen["best"], seen["best_final"], total, self.curve_min_epochs, self.curve_threshold)
            if d.stop:
                said.update(stopped=1.0, stopped_epoch=float(len(curve)), predicted_valid_acc=float(d.predicted),
                            stop_chance=float(d.chance))
            return d.stop

        return on_epoch, said

    def _curve_metrics(self, history, said: dict[str, float]) -> dict[str, float]:
        if not self.curve_stop:
            return {}
        out = {f"curve_{int(h['epoch'])}": float(h["valid_acc"]) for h in history}
        return {**out, "stopped": 0.0, **said}


class LatencyTable:
    """An estimator's ``latency_table=PATH`` option (a table of ``nasdsl latency``): the metric ``latency``, the
    table's prediction in ms, checked before training against a ``where latency < ...``; an estimator that
    builds the model also gives ``latency_measured``, its forward timed on the device it trained on at the
    table's batch."""

    table: Any = None

    def _load_latency(self, options: dict[str, Any], input_shape: Any, measured: bool) -> None:
        from nasdsl.latency import load_table

        path = options.get("latency_table")
        if not path:
            return
        self.table = load_table(path)
        if input_shape is not None and list(self.table.get("input_shape") or []) != list(input_shape):
            raise ValueError(f"the latency table {path} was measured at input {self.table.get('input_shape')}, "
                             f"and these trials' input is {list(input_shape)}: measure it again with "
                             f"nasdsl latency SPACE.nas --input {','.join(map(str, input_shape))}")
        self.measures = tuple(type(self).measures or ()) + (("latency", "latency_measured") if measured else ("latency",))

    def before_training(self, arch: Any) -> dict[str, float]:
        return self._latency(arch)

    def _latency(self, arch: Any, model: Any = None) -> dict[str, float]:
        if self.table is None:
            return {}
        from nasdsl.latency import predict

        out = {"latency": predict(self.table, arch)}
        if model is not None:
            p = next(iter(model.parameters()), None)
            device = p.device if p is not None else "cpu"
            out["latency_measured"] = get_backend("torch")().latency(model, arch.input_shape,
                                                                     batch=int(self.table.get("batch", 1)),
                                                                     device=device)[0]
        return out


def _gpu_if(device: Any) -> dict[str, float]:
    """One GPU for a trial asked to run on ``cuda`` / ``cuda:N``; nothing for ``cpu`` or ``auto``."""
    return {"GPU": 1.0} if str(device or "").startswith("cuda") else {}


class OnDataset:
    """What an estimator that reads ``self.dataset`` gives: the input shape, and the check that the network's
    outputs are the data's classes."""

    def input_shape(self) -> tuple[int, ...]:
        return self.dataset.input_shape

    def _check_classes(self, trial: TrialSpec) -> None:
        out = trial.arch.output_shape[0]
        if out != self.dataset.classes:
            raise ValueError(f"the network has {out} outputs but the data has {self.dataset.classes} classes "
                             f"(set the network parameter, e.g. --param classes={self.dataset.classes})")


class ProxyFilter:
    """An estimator's ``prefilter=PROXY`` option (a zero-cost proxy of ``nasdsl_plugins.proxies``, or ``vote``):
    before training, the architecture's untrained network is scored by the proxy (as the ``zc`` estimator does,
    initialised with ``prefilter_seed``), and it is trained only if it beats at least ``1 - prefilter_keep``
    of the ``zc`` reference architectures (``prefilter_keep`` 0.5: the half of the space the proxy predicts
    better).  A filtered trial is recorded rejected with its proxy and share, untrained, and does not count
    against the budget; a kept one records them beside its trained metrics."""

    FILTER_OPTIONS = ("prefilter", "prefilter_keep", "prefilter_reference", "prefilter_batch_size", "prefilter_seed")

    def _load_filter(self, space, data: str, options: dict[str, Any]) -> None:
        self.prefilter = options.get("prefilter")
        self.zc = None
        if not self.prefilter:
            return
        self.keep = float(options.get("prefilter_keep", 0.5))
        if not 0 < self.keep <= 1:
            raise ValueError(f"prefilter_keep is the share of the space kept, in (0, 1]; got {self.keep}")
        self.filter_seed = int(options.get("prefilter_seed", 0))
        self.zc = ZeroCostEstimator(space, data, proxy=str(self.prefilter), seed=self.filter_seed,
                                    reference=int(options.get("prefilter_reference", 32)),
                                    batch_size=int(options.get("prefilter_batch_size", 64)),
                                    device=str(options.get("device", "cpu")))  # -E device=, if given
        self.measures = tuple(self.measures or ()) + (self.zc.proxy, "prefilter_share")

    def before_training(self, arch) -> dict[str, float]:
        out = super().before_training(arch)
        if self.zc is None:
            return out
        from nasdsl.estimator import Filtered

        proxy, names = self.zc.proxy, self.zc.voters()
        scores = self.zc.proxies(arch, self.filter_seed, names)
        share = self.zc.share(scores, names)
        value = share if proxy == "vote" else scores[proxy]
        got = {**out, proxy: value, "prefilter_share": share}
        if share < 1.0 - self.keep:
            raise Filtered(f"prefilter: {proxy} {value:.4g} beats {share:.0%} of {len(self.zc.reference(names))} "
                           f"reference architectures; the kept {self.keep:.0%} must beat {1.0 - self.keep:.0%}", got)
        return got


class TrainEstimator(CurveStop, ProxyFilter, OnDataset, LatencyTable, Estimator):
    name = "train"
    objective = "valid_acc"
    measures = ("valid_acc", "valid_loss", "test_acc", "test_loss", "train_loss", "epochs", "steps", "train_seconds")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return cls.common_options() + CurveStop.CURVE_OPTIONS

    @classmethod
    def common_options(cls) -> tuple[str, ...]:
        """What train shares with successive halving and Hyperband."""
        return RECIPE_OPTIONS + ("fraction", "save_model", "latency_table") + ProxyFilter.FILTER_OPTIONS

    def __init__(self, space, data: str = "digits", **options: Any):
        super().__init__(space, data, **options)
        self.dataset = load_dataset(data)
        fraction = float(options.get("fraction", 1.0))
        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        if fraction < 1:
            self.dataset = self.dataset.subset(fraction)
        self.backend = get_backend("torch")()
        self.recipe_overrides = {k: v for k, v in options.items() if k in RECIPE_OPTIONS}
        self._check_recipe()
        self._check_hyperparameters(space)
        if "epochs" not in self.searched:
            self.recipe_overrides.setdefault("epochs", 10)
        self.save_model = flag("save_model", options.get("save_model", True))
        self._load_latency(options, self.dataset.input_shape, measured=True)
        self._load_filter(space, data, options)
        self._load_curves(options)

    def _check_recipe(self) -> None:
        """A bad option value (``lr=-1``, ``batch_size=abc``, ``device=cuda`` without a GPU) stops the search
        before its first trial, instead of failing every trial."""
        from nasdsl.estimator import trials_run_here
        from nasdsl_plugins.torch_backend.train import Recipe, device_of

        recipe = Recipe().updated(**self.recipe_overrides)  # a bad value is refused wherever trials run
        if trials_run_here():  # else the cluster's workers have the GPU, not this driver
            device_of(recipe)

    def resources(self) -> dict[str, float]:
        """A trial with ``device=cuda`` (or ``cuda:N``) needs a GPU of its own."""
        return _gpu_if(self.recipe_overrides.get("device"))

    def _check_hyperparameters(self, space) -> None:
        """Every ``hp`` of the space must be a recipe field, and one the options do not fix."""
        from nasdsl_plugins.torch_backend.train import Recipe

        self.searched = {d.name.rsplit(".", 1)[-1] for d in space.decisions.values() if not d.arch}
        unknown = sorted(self.searched - set(Recipe.names()))
        if unknown:
            raise ValueError(f"hp {', '.join(unknown)} of the space is not a field of the training recipe, so it "
                             f"would change nothing; recipe fields: {', '.join(Recipe.names())}")
        fixed = sorted(self.searched & set(self.recipe_overrides))
        if fixed:
            raise ValueError(f"option {', '.join(fixed)} would override the hp the space searches; drop the option")

    def recipe(self, trial: TrialSpec, **extra: Any):
        from nasdsl_plugins.torch_backend.train import Recipe

        return Recipe().from_hyperparameters(trial.arch.hyperparameters).updated(
            **{**self.recipe_overrides, **extra, "seed": trial.seed})

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        self._check_classes(trial)
        recipe = self.recipe(trial)
        from .torch_backend.train import epochs_run

        on_epoch, said = self._curve_watch(trial, epochs_run(recipe, len(self.dataset.y_train)))
        result = self.backend.train(trial.arch, self.dataset, recipe, on_epoch=on_epoch if self.curve_stop else None)
        self._save(trial, result.model)
        return {**result.metrics, **self._curve_metrics(result.history, said), **self._latency(trial.arch, result.model)}

    def _save(self, trial: TrialSpec, model) -> None:
        if self.save_model and trial.workdir is not None:
            from .torch_backend.train import save_atomic

            save_atomic({"model": model.state_dict()}, trial.workdir / "model.pt", "model weights")


class SuccessiveHalvingEstimator(TrainEstimator):
    name = "sha"
    measures = TrainEstimator.measures + ("epochs_trained", "params", "flops")  # and rung_E for each rung E
    bookkeeping = ("rung_",)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return TrainEstimator.common_options() + ("min_epochs", "max_epochs", "eta")

    def __init__(self, space, data: str = "digits", **options: Any):
        super().__init__(space, data, **options)
        self.eta = int(options.get("eta", 3))
        self.min_epochs = int(options.get("min_epochs", 1))
        # rungs min * eta^k: the default top rung (9 = 1 * 3^2) is one of them
        self.max_epochs = int(options.get("max_epochs", options.get("epochs", self.min_epochs * self.eta ** 2)))
        if self.eta < 2 or not 1 <= self.min_epochs <= self.max_epochs:
            raise ValueError("successive halving needs eta >= 2 and 1 <= min_epochs <= max_epochs")

    def history(self, finished) -> dict[str, Any]:
        """Each rung's validation accuracies among the finished trials: a new trial stops at a rung where it
        is not in the top 1/eta of them."""
        rungs: dict[str, list[float]] = {}
        for t in finished:
            for k, v in t.metrics.items():
                if k.startswith("rung_") and v is not None:
                    rungs.setdefault(k, []).append(float(v))
        return {"rungs": rungs}

    def rungs(self, trial: TrialSpec) -> list[int]:
        out, r = [], self.min_epochs
        while r < self.max_epochs:
            out.append(r)
            r *= self.eta
        return out + [self.max_epochs]

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        import torch

        from nasdsl_plugins.torch_backend.train import fit

        self._check_classes(trial)
        recipe = self.recipe(trial, epochs=self.max_epochs)
        torch.manual_seed(recipe.seed)
        model = self.backend.build(trial.arch, auxiliary=recipe.auxiliary_weight > 0)
        workdir = trial.workdir or Path(".")
        ckpt = workdir / "checkpoint.pt"
        seen: dict[str, list[float]] = trial.extra.get("rungs", {})
        metrics: dict[str, float] = {}
        rung_log: dict[str, float] = {}
        for r in self.rungs(trial):
            res = fit(model, self.dataset, recipe, checkpoint=ckpt, resume=True, until_epoch=r)
            rung_log[f"rung_{r}"] = res.metrics["valid_acc"]
            metrics = {**res.metrics, **rung_log}
            others = sorted(seen.get(f"rung_{r}", []), reverse=True)
            if r < self.max_epochs and len(others) >= self.eta:
                cut = others[max(0, math.ceil(len(others) / self.eta) - 1)]
                if res.metrics["valid_acc"] < cut:
                    break  # not in the top 1/eta at this rung: stop here
        metrics["epochs_trained"] = float(metrics.get("epochs", 0))
        metrics["params"] = float(self.backend.count_params(model))
        metrics["flops"] = float(self.backend.flops(model, trial.arch.input_shape))
        ckpt.unlink(missing_ok=True)
        self._save(trial, model)
        return {**metrics, **self._latency(trial.arch, model)}


class HyperbandEstimator(SuccessiveHalvingEstimator):
    name = "hyperband"

    def brackets(self) -> list[int]:
        """Bracket s (first rung max_epochs / eta^s) repeated n_s = ceil((s_max + 1) / (s + 1) * eta^s) times,
        the share of configurations Hyperband gives it (Li et al., JMLR 2018), most aggressive first."""
        s_max = int(math.floor(math.log(self.max_epochs / self.min_epochs, self.eta) + 1e-9))
        out: list[int] = []
        for s in range(s_max, -1, -1):
            out += [s] * math.ceil((s_max + 1) / (s + 1) * self.eta ** s)
        return out

    def rungs(self, trial: TrialSpec) -> list[int]:
        schedule = self.brackets()
        s = schedule[trial.number % len(schedule)]
        first = max(self.min_epochs, int(round(self.max_epochs / self.eta ** s)))
        out, r = [], first
        while r < self.max_epochs:
            out.append(r)
            r *= self.eta
        return out + [self.max_epochs]


class CostEstimator(LatencyTable, Estimator):
    name = "cost"
    objective = "-params"
    measures = ("params", "flops")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("latency_table",)

    def __init__(self, space, data: str = "digits", **options: Any):
        super().__init__(space, data, **options)
        self._load_latency(options, None, measured=False)

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        if self.table is not None and list(self.table.get("input_shape") or []) != list(trial.arch.input_shape):
            raise ValueError(f"the latency table was measured at input {self.table.get('input_shape')}, and this "
                             f"architecture's input is {list(trial.arch.input_shape)}")
        return {**model_metrics(trial.arch), **self._latency(trial.arch)}


class ZeroCostEstimator(OnDataset, LatencyTable, Estimator):
    """Zero-cost proxies: every proxy of the trial's untrained network (initialised with the trial's seed) on
    one minibatch of ``batch_size`` training examples (the first of a shuffle by ``seed``), no training.

    ``vote`` (Abdelfattah et al. 2021: the majority of synflow, jacob_cov and snip) needs other architectures
    to vote against; here it is the share of ``reference`` architectures (uniform in the space, drawn by
    ``seed``, scored once per process) that the trial beats by a majority of the three, a tie counting half.
    So one trial's vote does not depend on the trials before it, and a resumed search gives the same
    numbers."""

    name = "zc"
    objective = "vote"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("proxy", "batch_size", "reference", "seed", "device", "latency_table")

    def __init__(self, space, data: str = "digits", **options: Any):
        from .proxies import PROXIES

        super().__init__(space, data, **options)
        self.proxy = str(options.get("proxy", "vote"))
        if self.proxy not in (*PROXIES, "vote"):
            raise ValueError(f"proxy must be one of {', '.join((*PROXIES, 'vote'))}; got {self.proxy!r}")
        self.objective = self.proxy
        self.batch_size = int(options.get("batch_size", 64))
        self.n_reference = int(options.get("reference", 32))
        if self.batch_size < 2 or self.n_reference < 1:
            raise ValueError("batch_size must be at least 2 and reference at least 1")
        self.seed = int(options.get("seed", 0))
        from nasdsl.estimator import trials_run_here
        from .torch_backend.train import Recipe

        self.device_name = str(options.get("device", "cpu"))  # auto, cpu, cuda
        self._recipe = Recipe().updated(device=self.device_name)  # a bad name is refused here
        self._device = None
        if trials_run_here():  # else the cluster's workers have the GPU, not this driver
            _ = self.device
        self.dataset = load_dataset(data)
        self.backend = get_backend("torch")()
        self.measures = (*PROXIES, "vote", "params", "flops")
        self._load_latency(options, self.dataset.input_shape, measured=False)
        self._refs: list[Any] | None = None  # the reference architectures, drawn on first use
        self._ref_scores: list[dict[str, float]] = []  # their proxies, each computed on first use

    @property
    def device(self):
        """The torch device the proxies run on, resolved on first use (where the trials run)."""
        if self._device is None:
            from .torch_backend.train import device_of

            self._device = device_of(self._recipe)
        return self._device

    def resources(self) -> dict[str, float]:
        return _gpu_if(self.device_name)

    def _batch(self):
        import numpy as np
        import torch

        idx = np.random.default_rng(self.seed).permutation(len(self.dataset.x_train))[:self.batch_size]
        x = torch.as_tensor(self.dataset.x_train[idx], dtype=torch.float32, device=self.device)
        return x, torch.as_tensor(self.dataset.y_train[idx], dtype=torch.long, device=self.device)

    def proxies(self, arch, seed: int, names: tuple[str, ...] | None = None) -> dict[str, float]:
        """The proxies of ``arch``'s network initialised with ``seed``."""
        import torch

        from .proxies import PROXIES, score

        torch.manual_seed(seed)
        model = self.backend.build(arch).to(self.device)
        x, y = self._batch()
        return score(model, x, y, tuple(names or PROXIES))

    def reference(self, names: tuple[str, ...]) -> list[dict[str, float]]:
        """The reference architectures' proxies ``names`` (each architecture drawn, and each proxy computed,
        once per process)."""
        if self._refs is None:
            import random

            from nasdsl.errors import NasdslError

            rng, refs, tries = random.Random(self.seed), [], 0
            while len(refs) < self.n_reference and tries < 20 * self.n_reference:
                tries += 1
                try:
                    refs.append(self.space.realize(self.space.sample(rng).values, self.dataset.input_shape))
                except NasdslError:
                    continue
            if not refs:
                raise ValueError("no architecture of the space could be realized for the reference set")
            self._refs, self._ref_scores = refs, [{} for _ in refs]
        for i, (arch, have) in enumerate(zip(self._refs, self._ref_scores)):
            missing = tuple(n for n in names if n not in have)
            if missing:
                have.update(self.proxies(arch, self.seed + i, missing))
        return self._ref_scores

    def share(self, scores: dict[str, float], names: tuple[str, ...]) -> float:
        """The share of the reference architectures ``scores`` beats by a majority of ``names`` (a tie: half;
        with one name, simply the share it beats on that proxy)."""
        won = 0.0
        refs = self.reference(names)
        for ref in refs:
            wins = sum(scores[n] > ref[n] for n in names)
            losses = sum(scores[n] < ref[n] for n in names)
            won += 1.0 if wins > losses else 0.5 if wins == losses else 0.0
        return won / len(refs)

    def voters(self) -> tuple[str, ...]:
        """The proxies ``proxy`` reads: the vote's three, or the one proxy itself."""
        from .proxies import VOTE

        return VOTE if self.proxy == "vote" else (self.proxy,)

    def vote(self, scores: dict[str, float]) -> float:
        from .proxies import VOTE

        return self.share(scores, VOTE)

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        self._check_classes(trial)
        scores = self.proxies(trial.arch, trial.seed)
        return {**scores, "vote": self.vote(scores), **model_metrics(trial.arch), **self._latency(trial.arch)}


@hookimpl
def register_estimators(register):
    register("train", TrainEstimator)
    register("sha", SuccessiveHalvingEstimator)
    register("hyperband", HyperbandEstimator)
    register("cost", CostEstimator)
    register("zc", ZeroCostEstimator)
