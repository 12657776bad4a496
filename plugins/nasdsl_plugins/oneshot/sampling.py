"""Weight sharing by sampling: the supernet's weights are trained one child at a time, and children are
scored with the weights they inherit.

Every weight step activates the sampled child (``Supernet.activate``): exactly its ops run, on their
slices of the shared weights, and only they get gradients.  The methods differ in which children a step
trains and how the search phase chooses among children once the weights are trained:

* :class:`RswsSearch` (RS-WS, Li & Talwalkar 2019): one uniform child per step; then ``samples`` uniform
  children are scored and the best one is retrained.
* :class:`SposSearch` (SPOS, Guo et al. 2020): one uniform child per step, drawn inside the file's ``where``
  bounds; then SPOS' evolution (``generations`` of ``population`` children: mutations and crossovers of the
  best ``parents`` so far).
* :class:`FairnasSearch` (FairNAS, Chu et al. 2021): each step m children from a random permutation of every
  choice's candidates, so that each candidate is trained exactly once per step (m: the most candidates a
  choice has; a choice with fewer repeats a permutation of its own), their gradients accumulated, one update;
  then SPOS' evolution.  A choice a guard switches off in a child (a layer its depth choice leaves out) is
  not trained in that child: strict fairness holds for the choices no guard depends on.
* :class:`OneshotSearch` (Bender et al. 2018): every step trains the whole supernet with path dropout (each
  option of a choice dropped, the rate rising linearly over the training); then uniform children are
  scored as for RS-WS.  The one method here whose steps are not single-path.
* :class:`EnasSearch` (ENAS, Pham et al. 2018): the child each step trains is drawn from an LSTM controller
  (the multi-trial ``reinforce`` strategy's), which after each epoch takes ``ctrl_steps`` REINFORCE steps
  rewarded by its children's accuracy on an architecture-half batch; then ``samples`` of its children are
  scored.

A child is scored (:meth:`SamplingSearch.score`) by its accuracy on the architecture half of the training
split after :func:`recalibrate_bn` re-estimated its BatchNorm statistics on ``bn_batches`` training
batches: the running statistics the supernet accumulated over many different children fit none of them.
The search phase is a run of extra epochs after the training epochs (a generation, or ten scored children,
each), so a killed search resumes within it as it does within the training.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any, Iterable, Optional

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from nasdsl.constraints import broken, genotype_metrics, is_genotype_metric, model_metrics, structural_metrics
from nasdsl.decisions import InputChoice
from nasdsl.errors import NasdslError
from nasdsl.latency import predict

from .config import DartsError, EnasConfig, FairnasConfig, OneshotConfig, RswsConfig, SposConfig
from .relax import PathDropout
from .weights import SharedWeights

SCORED_PER_EPOCH = 10  # children a record of the random search phase (RS-WS, ENAS) scores
DRAW_TRIES = 1000  # draws before a constrained sampler gives up: the bounds leave (almost) nothing


def batch_norms(supernet: Any) -> list[_BatchNorm]:
    """The supernet's BatchNorm modules, and those of the sliced children it has run (their running statistics
    are slices of the large op's, but the momentum a forward uses is the child module's own)."""
    own = [m for m in supernet.modules() if isinstance(m, _BatchNorm)]
    sliced = [m for sl in supernet._slicers.values() if sl is not None for m in sl.child.modules()
              if isinstance(m, _BatchNorm)]
    return own + sliced


def recalibrate_bn(supernet: Any, batches: Iterable[torch.Tensor]) -> int:
    """Reset the running statistics of every BatchNorm of ``supernet`` and estimate them again as the plain
    average over ``batches`` (forwards in train mode, no gradients, momentum None), for the child it is set
    to: SPOS' recalibration before a child is scored on inherited weights.  Returns the batches run."""
    norms = batch_norms(supernet)
    momenta = [m.momentum for m in norms]
    for m in norms:
        if m.track_running_stats and m.running_mean is not None and m.running_mean.device.type != "meta":
            m.reset_running_stats()
        m.momentum = None  # the cumulative average: each batch weighs the same
    was = supernet.training
    supernet.train()
    n = 0
    try:
        with torch.no_grad():
            for x in batches:
                supernet(x)
                n += 1
    finally:
        for m, mom in zip(norms, momenta):
            m.momentum = mom
        supernet.train(was)
    return n


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


class SamplingSearch(SharedWeights):
    """Single-path training (one uniform child per step) and a random search phase scoring ``samples``
    children (RS-WS).  Subclasses change :meth:`paths` (the children a step trains), :meth:`draw` (where
    the search phase's children come from) and :meth:`search_epoch`."""

    config_class: type = RswsConfig

    def __init__(self, space: Any, dataset: Any, config: Optional[RswsConfig] = None,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        super().__init__(space, dataset, config, device, dtype)
        self.input_shape = tuple(dataset.input_shape)
        self.rng = random.Random(self.config.seed + 2)
        self.latency_table: Optional[dict[str, Any]] = None  # read when a latency bound needs it
        self.bounds = self._bounds()
        self.scored: dict[str, tuple[dict[str, Any], float]] = {}  # every child scored: key -> (values, score)
        self.best: Optional[tuple[dict[str, Any], float]] = None

    # ---------------------------------------------------------------- children
    def _bounds(self) -> list[dict[str, Any]]:
        """The ``where`` constraints a drawn child is held to (``constrained``)."""
        if not self.config.constrained:
            return []
        if any(c["metric"] == "latency" for c in self.space.constraints):
            self.latency_table = self.read_latency_table(self.config.latency_table, self.input_shape)
        return list(self.space.constraints)

    def within(self, values: dict[str, Any]) -> bool:
        """Whether the child ``values`` keeps the bounds (its architecture realized only where one needs it)."""
        if not self.bounds:
            return True
        pre = genotype_metrics(self.space, values)
        if broken(self.space, pre) is not None:
            return False
        if all(is_genotype_metric(c) for c in self.bounds):
            return True
        try:
            arch = self.space.realize(values, self.input_shape)
        except NasdslError:
            return False
        pre.update(structural_metrics(arch))
        if any(c["metric"] in ("params", "flops") for c in self.bounds):
            pre.update(model_metrics(arch))
        if self.latency_table is not None:
            pre["latency"] = predict(self.latency_table, arch)
        return broken(self.space, pre) is None

    def _arch_only(self, values: dict[str, Any]) -> dict[str, Any]:
        """The architecture of ``values`` with every hyperparameter at its default (the supernet searches no
        hyperparameter), canonical."""
        out = {n: (v if self.space.decisions[n].arch else self.space.decisions[n].default()) for n, v in values.items()}
        return dict(self.space.canonical(out).values)

    def uniform(self) -> dict[str, Any]:
        """A uniform child (inside the bounds when ``constrained``)."""
        for _ in range(DRAW_TRIES):
            values = self._arch_only(self.space.sample(self.rng).values)
            if self.within(values):
                return values
        raise DartsError(f"{self.config.method} drew {DRAW_TRIES} children and none kept the file's where bounds; "
                         "loosen them or run with -S constrained=false")

    def paths(self) -> list[dict[str, Any]]:
        """The children one weight step trains (one uniform child)."""
        return [self.uniform()]

    def draw(self) -> dict[str, Any]:
        """A child for the search phase to score."""
        return self.uniform()

    # ---------------------------------------------------------------- training
    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One weight step: each child of :meth:`paths` activated in turn, its loss backpropagated into the
        shared weights (the gradients of several accumulate), then one update.  Returns the mean loss."""
        self.supernet.train()
        self.w_opt.zero_grad(set_to_none=True)
        losses = []
        try:
            for values in self.paths():
                self.supernet.activate(values)
                lt = self._weight_loss(x, y)
                self._backward(lt)
                losses.append(lt.detach())
        finally:
            self.supernet.activate(None)
        return self._weight_step(torch.stack(losses).float().mean())

    def weight_epoch(self) -> float:
        """An epoch of weight steps over the weights' half; their mean loss."""
        losses = [self.step(self.w_x[tw], self.w_y[tw]) for tw, _ in self.batches()]
        self.sched.step()
        return sum(losses) / len(losses)

    def train_epoch(self) -> dict[str, Any]:
        """A training epoch's record: its loss, and a child drawn as the search phase would, with its score."""
        loss = self.weight_epoch()
        child = self.draw()
        return {"train_loss": loss, "arch_loss": None, "supernet_acc": self.score(child), "genotype": child}

    # ---------------------------------------------------------------- scoring
    def bn_batches(self) -> list[torch.Tensor]:
        """The training batches a recalibration runs: ``bn_batches`` of them, at most one pass over the weights' half."""
        bs, n = self.config.batch_size, len(self.w_y)
        order = torch.randperm(n, generator=self.gen)
        count = min(self.config.bn_batches, math.ceil(n / bs))
        return [self.w_x[order[i * bs:(i + 1) * bs]].to(self.device) for i in range(count)]

    def score(self, values: dict[str, Any]) -> float:
        """The child's accuracy on the architecture half with the shared weights, after BN recalibration."""
        self.supernet.activate(values)
        try:
            if self.config.bn_batches:
                recalibrate_bn(self.supernet, self.bn_batches())
            return self._accuracy(self.a_x, self.a_y)
        finally:
            self.supernet.activate(None)

    def _scored(self, values: dict[str, Any]) -> float:
        """Score a child of the search phase once (a repeat reads the first score) and keep the best."""
        k = _key(values)
        if k not in self.scored:
            self.scored[k] = (values, self.score(values))
        s = self.scored[k][1]
        if self.best is None or s > self.best[1]:
            self.best = (values, s)
        return s

    # ---------------------------------------------------------------- the run
    @property
    def search_epochs(self) -> int:
        return math.ceil(self.config.samples / SCORED_PER_EPOCH)

    @property
    def total_epochs(self) -> int:
        return self.train_epochs + self.search_epochs

    @property
    def train_epochs(self) -> int:
        """The epochs that train the weights (then the search phase's)."""
        return self.config.epochs

    def search_epoch(self) -> dict[str, Any]:
        """Ten more children drawn and scored (the last record the rest of ``samples``)."""
        done = (self.epoch - self.train_epochs) * SCORED_PER_EPOCH
        for _ in range(min(SCORED_PER_EPOCH, self.config.samples - done)):
            self._scored(self.draw())
        return {"scored": len(self.scored)}

    def run_epoch(self) -> dict[str, Any]:
        """A training epoch (the weights), or, once they are trained, an epoch of the search phase."""
        if self.epoch < self.train_epochs:
            rec = {"epoch": self.epoch + 1, "phase": "train", **self.train_epoch()}
        else:
            rec = {"epoch": self.epoch + 1, "phase": "search", **self.search_epoch()}
            values, s = self.best
            rec.update(train_loss=None, arch_loss=None, supernet_acc=s, genotype=values)
        rec["probabilities"] = self.probabilities()
        self.epoch += 1
        return rec

    def probabilities(self) -> dict[str, list]:
        """The sampler's distribution per decision, where it learns one (a uniform sampler: none)."""
        return {}

    def derive(self) -> dict[str, Any]:
        """The best child the search phase scored."""
        if self.best is None:
            raise DartsError(f"{self.config.method} has not scored a child yet: its search phase has not run")
        return dict(self.best[0])

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {**super().state_dict(), "rng": [version, list(internal), gauss],
                "scored": [[v, s] for v, s in self.scored.values()], "best": list(self.best) if self.best else None,
                "latency_table": json.dumps(self.latency_table) if self.latency_table is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.scored = {_key(v): (v, float(s)) for v, s in state["scored"]}
        self.best = (state["best"][0], float(state["best"][1])) if state["best"] else None
        if state.get("latency_table"):  # the bounds the run began with, not a table timed again on resume
            self.latency_table = json.loads(state["latency_table"])


class RswsSearch(SamplingSearch):
    """RS-WS: uniform single-path training, then uniform children scored with the shared weights."""

    config_class = RswsConfig


class SposSearch(SamplingSearch):
    """SPOS: uniform single-path training inside the bounds, then evolution over inherited-weight scores."""

    config_class = SposConfig

    @property
    def search_epochs(self) -> int:
        return self.config.generations

    def mutate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Each architecture decision redrawn with probability ``mutate_p`` (SPOS' mutation)."""
        out = dict(values)
        for d in self.space.arch_decisions:
            if self.space._active(d, out) and self.rng.random() < self.config.mutate_p:
                out[d.name] = d.random(self.rng)
        return self._arch_only(out)

    def crossover(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """Each decision from one of the two parents, uniformly (SPOS' crossover)."""
        return self._arch_only({n: (a[n] if self.rng.random() < 0.5 else b[n]) for n in a})

    def _children(self, make, count: int, seen: set) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(count * 10):  # SPOS' bound on the tries for new children inside the bounds
            if len(out) == count:
                break
            c = make()
            k = _key(c)
            if k not in seen and self.within(c):
                seen.add(k)
                out.append(c)
        return out

    def search_epoch(self) -> dict[str, Any]:
        """One generation: the first ``population`` random children; later ones ``mutations`` mutants and
        ``crossovers`` crosses of the best ``parents`` scored so far, made up to ``population`` with random ones."""
        cfg = self.config
        seen = set(self.scored)
        kids: list[dict[str, Any]] = []
        if self.scored:
            top = [v for v, _ in sorted(self.scored.values(), key=lambda vs: -vs[1])[:cfg.parents]]
            kids += self._children(lambda: self.mutate(self.rng.choice(top)), cfg.mutations, seen)
            kids += self._children(lambda: self.crossover(self.rng.choice(top), self.rng.choice(top)),
                                   cfg.crossovers, seen)
        kids += self._children(self.uniform, cfg.population - len(kids), seen)
        scores = [self._scored(c) for c in kids]
        return {"generation": self.epoch - self.train_epochs + 1, "scored": len(self.scored),
                "population_best": max(scores) if scores else None}


class FairnasSearch(SposSearch):
    """FairNAS: every candidate of every choice trained exactly once per step (m children from permutations)."""

    config_class = FairnasConfig

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.fair = [d for d in self.space.arch_decisions if not isinstance(d, InputChoice) and d.size() > 1]
        self.m = max((d.size() for d in self.fair), default=1)

    def paths(self) -> list[dict[str, Any]]:
        """m children: child j takes the j-th value of a random permutation of each choice's values (a choice
        with fewer than m values goes on with a new permutation of them); input choices are drawn uniformly."""
        columns = {}
        for d in self.fair:
            vals = list(d.values())
            col: list[Any] = []
            while len(col) < self.m:
                self.rng.shuffle(vals)
                col += vals
            columns[d.name] = col[:self.m]
        out = []
        for j in range(self.m):
            base = self.space.sample(self.rng).values
            out.append(self._arch_only({**base, **{n: col[j] for n, col in columns.items()}}))
        return out


class EnasSearch(SamplingSearch):
    """ENAS: children drawn from an LSTM controller trained by REINFORCE on their shared-weight accuracy."""

    config_class = EnasConfig

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        from ..strategies.reinforce import Reinforce

        cfg = self.config
        self.controller = Reinforce(self.space, cfg.seed, lr=cfg.ctrl_lr, baseline_decay=cfg.baseline_decay,
                                    entropy_weight=cfg.entropy_weight, hidden=cfg.hidden)

    def _policy_child(self) -> tuple[dict[str, Any], list[int]]:
        """A child of the controller (drawn again while it breaks the bounds) and its tokens."""
        for _ in range(DRAW_TRIES):
            values, tokens = self.controller.sample()
            values = self._arch_only(values)
            if self.within(values):
                return values, tokens
        raise DartsError(f"ENAS' controller drew {DRAW_TRIES} children and none kept the file's where bounds; "
                         "loosen them or run with -S constrained=false")

    def paths(self) -> list[dict[str, Any]]:
        return [self._policy_child()[0]]

    def draw(self) -> dict[str, Any]:
        return self._policy_child()[0]

    def reward(self, values: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> float:
        """The child's accuracy on one architecture-half batch with the shared weights (batch statistics)."""
        self.supernet.activate(values)
        try:
            with torch.no_grad():
                out = self.supernet(x.to(self.device))
            return float((out.argmax(1).cpu() == y).float().mean())
        finally:
            self.supernet.activate(None)

    def arch_batches(self, count: int) -> list[torch.Tensor]:
        """``count`` batches of indices into the architecture half (passes over it in new orders as needed)."""
        bs, n = self.config.batch_size, len(self.a_y)
        order = torch.cat([torch.randperm(n, generator=self.gen) for _ in range(math.ceil(count * bs / n))])
        return [order[i * bs:(i + 1) * bs] for i in range(count)]

    def train_epoch(self) -> dict[str, Any]:
        """An epoch of weight steps on the controller's children, then ``ctrl_steps`` controller steps; the record
        holds the controller's likeliest child and its score."""
        loss = self.weight_epoch()
        losses, rewards = [], []
        for ta in self.arch_batches(self.config.ctrl_steps):
            values, tokens = self._policy_child()
            r = self.reward(values, self.a_x[ta], self.a_y[ta])
            rewards.append(r)
            step = self.controller.learn(tokens, r)
            if step is not None:
                losses.append(step)
        child = self._arch_only(self.controller.likeliest())
        return {"train_loss": loss, "arch_loss": sum(losses) / len(losses) if losses else None,
                "reward": sum(rewards) / len(rewards) if rewards else None, "supernet_acc": self.score(child),
                "genotype": child}

    def probabilities(self) -> dict[str, list]:
        """The controller's distribution of each token along its likeliest child."""
        return self.controller.policy()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "controller": self.controller.controller_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_controller_state(state["controller"])


class OneshotSearch(SamplingSearch):
    """Bender et al.'s one-shot model: the whole supernet trained with path dropout of a rising rate, then
    uniform children scored on the shared weights (each child runs its path alone, as a dropout pattern
    that kept one option per choice)."""

    config_class = OneshotConfig

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.drop_gen = torch.Generator().manual_seed(self.config.seed + 3)
        self.steps_done = 0

    def rate(self) -> float:
        """The path dropout rate of the next step: linear from 0 at the first step to ``drop_rate`` at the last."""
        total = max(1, self.config.epochs * self.steps_per_epoch - 1)
        return self.config.drop_rate * min(1.0, self.steps_done / total)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One weight step of the whole supernet under path dropout (mixed mode, dropped options not computed)."""
        self.supernet.train()
        self.supernet.relax = PathDropout(self.rate(), self.drop_gen)
        self.w_opt.zero_grad(set_to_none=True)
        lt = self._weight_loss(x, y)
        self._backward(lt)
        self.steps_done += 1
        return self._weight_step(lt)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "drop_gen": self.drop_gen.get_state(), "steps_done": self.steps_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.drop_gen.set_state(state["drop_gen"])
        self.steps_done = int(state["steps_done"])


METHODS = {"oneshot": OneshotSearch, "rsws": RswsSearch, "spos": SposSearch, "fairnas": FairnasSearch, "enas": EnasSearch}

__all__ = ["EnasSearch", "FairnasSearch", "METHODS", "OneshotSearch", "RswsSearch", "SamplingSearch", "SposSearch", "batch_norms",
           "recalibrate_bn"]
