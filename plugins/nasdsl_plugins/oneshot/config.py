"""The options of the one-shot strategies (no torch here: a strategy's options are checked without it)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from nasdsl.errors import NasdslError
from nasdsl.plugins import convert_option


class DartsError(NasdslError):
    """A bad DARTS option, or a search that diverged."""


AMP = ("auto", "fp16", "bf16", "off")


class Options:
    """What every one-shot method's options share: ``-S`` strings read into the fields, and the checks of the
    weights' optimizer fields (``epochs``, ``batch_size``, ``w_lr``, ... ``amp``) that each configuration has."""

    method = "one-shot"  # how errors name the method (a class attribute, not an option)

    def _check_weights(self) -> None:
        if self.amp not in AMP:
            raise DartsError(f"amp is one of {', '.join(AMP)}; got {self.amp!r}")
        self._at_least(1, "epochs", "batch_size")
        self._positive("w_lr")
        self._at_least(0, "w_lr_min", "w_weight_decay", "grad_clip", "max_steps")
        self._fractions("w_momentum")

    def _fractions(self, *names: str) -> None:
        for name in names:
            if not 0 <= getattr(self, name) < 1:
                raise DartsError(f"{name} must be in [0, 1); got {getattr(self, name)}")

    def _at_least(self, low: float, *names: str) -> None:
        for name in names:
            if getattr(self, name) < low:
                word = "at least 1" if low == 1 else "0 or more"
                raise DartsError(f"{name} must be {word}; got {getattr(self, name)}")

    def _positive(self, *names: str) -> None:
        for name in names:
            if not getattr(self, name) > 0:
                raise DartsError(f"{name} must be positive; got {getattr(self, name)}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "Options":
        """From ``-S`` options (strings converted to each field's type; an unknown name is an error)."""
        known = {f.name: type(f.default) for f in fields(cls)}
        out: dict[str, Any] = {}
        for k, v in options.items():
            if k not in known:
                raise DartsError(f"{cls.method} has no option '{k}'; options: {', '.join(known)}")
            try:
                out[k] = convert_option(known[k], v)
            except ValueError as e:
                raise DartsError(f"{cls.method} option '{k}' {e}") from None
        return cls(**out)


@dataclass
class DartsConfig(Options):
    """DARTS' hyperparameters (the paper's defaults; every one can be overridden with ``-S``).  The other
    differentiable methods' configurations extend it with their own fields and defaults."""

    method = "DARTS"  # how errors name the method (a class attribute, not an option)

    epochs: int = 50
    batch_size: int = 64
    order: int = 1  # 1: first order; 2: the unrolled second-order approximation
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0
    a_lr: float = 3e-4
    a_beta1: float = 0.5
    a_beta2: float = 0.999
    a_weight_decay: float = 1e-3
    add_none: bool = True  # DARTS searches over the op set plus 'none'
    early_stop: int = 0  # DARTS+: > 0 stops once a cell of the derived genotype has this many skip connections
    warmup: int = 0  # the first epochs train the weights only (α is not updated)
    max_steps: int = 0  # > 0: at most this many steps per epoch (a shorter run)
    seed: int = 0
    amp: str = "auto"  # mixed precision for the weights' step: auto (fp16 on CUDA, off on the CPU), fp16, bf16, off
    skip_cells: str = "normal"  # the cells DARTS+' and P-DARTS' skip rules count in: normal, all, or names (a,b)
    ranking_table: str = ""  # a stand-alone table (JSON): Kendall's tau of the trained supernet's ranking of its cells

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise DartsError(f"order is 1 or 2; got {self.order}")
        if not self.skip_cells.strip(" ,"):
            raise DartsError("skip_cells is normal, all, or the names of cells (comma-separated); got nothing")
        self._check_weights()
        self._positive("a_lr")
        self._at_least(0, "a_weight_decay", "early_stop", "warmup")
        self._fractions("a_beta1", "a_beta2")


def _first_order(cfg: DartsConfig) -> None:
    if cfg.order != 1:
        raise DartsError(f"{cfg.method} is first order (order=1); the unrolled second order is DARTS'")


@dataclass
class SnasConfig(DartsConfig):
    """SNAS (Xie et al., ICLR 2019): single level (weights and α from the same batch and loss), relaxed
    Gumbel-softmax with the temperature annealed linearly from ``tau`` to ``tau_min``, and a resource
    penalty ``resource`` × the sampled child's expected parameters (millions)."""

    method = "SNAS"

    tau: float = 1.0
    tau_min: float = 0.03
    resource: float = 1e-2

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        self._positive("tau", "tau_min")
        self._at_least(0, "resource")


@dataclass
class GdasConfig(DartsConfig):
    """GDAS (Dong & Yang, CVPR 2019): one sampled op per decision (hard Gumbel-softmax, straight-through),
    only that op computed; temperature linearly from ``tau`` to ``tau_min``; AutoDL's NAS-Bench-201
    protocol: 250 epochs, weight decay 5e-4."""

    method = "GDAS"

    epochs: int = 250
    w_weight_decay: float = 5e-4
    tau: float = 10.0
    tau_min: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        self._positive("tau", "tau_min")


@dataclass
class DrnasConfig(DartsConfig):
    """DrNAS (Chen et al., ICLR 2021): mixing weights sampled from Dirichlet(ELU(α) + 1) (pathwise
    gradients), with ``reg`` × KL(Dirichlet(ELU(α) + 1) ‖ Dirichlet(1)) added to the architecture loss."""

    method = "DrNAS"

    reg: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        self._at_least(0, "reg")


@dataclass
class PcdartsConfig(DartsConfig):
    """PC-DARTS (Xu et al., ICLR 2020): each op choice runs on 1/``k`` of its input's channels (the rest
    bypass it, max-pooled on reduction edges; channel shuffle), edge normalisation β on edge tables;
    the paper's CIFAR settings: batch 256, weights SGD 0.1 cosine to 0, α Adam 6e-4, α from epoch 15."""

    method = "PC-DARTS"

    batch_size: int = 256
    w_lr: float = 0.1
    w_lr_min: float = 0.0
    a_lr: float = 6e-4
    warmup: int = 15
    k: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        self._at_least(1, "k")


def int_list(text: str, name: str) -> list[int]:
    """'5,11,17' -> [5, 11, 17] (an option given as a comma-separated list of whole numbers)."""
    try:
        out = [int(t) for t in str(text).replace(" ", "").split(",") if t]
    except ValueError:
        raise DartsError(f"{name} is a comma-separated list of whole numbers; got {text!r}") from None
    if not out:
        raise DartsError(f"{name} is a comma-separated list of whole numbers; got {text!r}")
    return out


@dataclass
class PdartsConfig(DartsConfig):
    """P-DARTS (Chen et al., ICCV 2019): stages of ``epochs`` epochs each (the first ``warmup`` weights only)
    on networks of growing depth (``stages``: the values of the network parameter ``depth_param``), the
    candidates of every op choice cut to the strongest ``keep`` after each stage; dropout ``skip_dropout``
    on the skip connections of each stage (decaying as exp(−0.2·epoch) within it); at the end at most
    ``max_skips`` skip connections per cell that ``skip_cells`` names (the normal cells).  The paper's CIFAR settings: 3 stages of 25 epochs, cells
    5 → 11 → 17, candidates 8 → 5 → 3, skip dropout 0.1 / 0.4 / 0.7, batch 96, α Adam 6e-4."""

    method = "P-DARTS"

    epochs: int = 25
    warmup: int = 10
    batch_size: int = 96
    a_lr: float = 6e-4
    w_lr_min: float = 0.0
    stages: str = "5,11,17"
    depth_param: str = "layers"
    keep: str = "5,3"
    skip_dropout: str = "0.1,0.4,0.7"
    max_skips: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        depths = int_list(self.stages, "stages")
        keep = int_list(self.keep, "keep")
        if len(keep) != len(depths) - 1:
            raise DartsError(f"keep gives the candidates kept after each stage but the last: {len(depths) - 1} "
                             f"numbers for {len(depths)} stages; got {self.keep!r}")
        if any(k < 1 for k in keep) or keep != sorted(keep, reverse=True):
            raise DartsError(f"keep must be positive and not growing; got {self.keep!r}")
        try:
            drops = [float(t) for t in str(self.skip_dropout).split(",") if t.strip()]
        except ValueError:
            raise DartsError(f"skip_dropout is a comma-separated list of rates; got {self.skip_dropout!r}") from None
        if len(drops) != len(depths) or not all(0 <= d < 1 for d in drops):
            raise DartsError(f"skip_dropout gives one rate in [0, 1) per stage ({len(depths)}); got {self.skip_dropout!r}")
        self._at_least(0, "max_skips")

    @property
    def depths(self) -> list[int]:
        return int_list(self.stages, "stages")

    @property
    def kept(self) -> list[int]:
        return int_list(self.keep, "keep")

    @property
    def drops(self) -> list[float]:
        return [float(t) for t in str(self.skip_dropout).split(",") if t.strip()]


@dataclass
class SamplingConfig(Options):
    """What the sampling methods share: the weights are trained one sampled child (single path) at a time,
    with the weight settings of AutoDL's NAS-Bench-201 protocol for weight-sharing searches (250 epochs,
    batch 64, SGD 0.025 cosine to 0.001, momentum 0.9, weight decay 5e-4, gradient norm clipped at 5);
    ``constrained``: children are drawn only inside the file's ``where`` bounds (genotype metrics,
    ``params``, ``flops``, ``depth``, ``nodes``, and ``latency`` as a ``nasdsl latency`` table predicts it:
    ``latency_table``'s, or with none one timed on this device when the search starts); ``bn_batches``: training batches (at most one pass over the
    weights' half) that re-estimate the BatchNorm statistics of a child before it is scored."""

    method = "SPOS"

    epochs: int = 250
    batch_size: int = 64
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 5e-4
    grad_clip: float = 5.0
    max_steps: int = 0  # > 0: at most this many steps per epoch (a shorter run)
    seed: int = 0
    amp: str = "auto"
    constrained: bool = True
    latency_table: str = ""
    bn_batches: int = 200
    ranking_table: str = ""

    def __post_init__(self) -> None:
        self._check_weights()
        self._at_least(0, "bn_batches")


@dataclass
class RswsConfig(SamplingConfig):
    """RS-WS (Li & Talwalkar, UAI 2019; AutoDL's RSPS): uniform single-path training, then ``samples``
    uniform children scored with the shared weights; the best is retrained."""

    method = "RS-WS"

    samples: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        self._at_least(1, "samples")


@dataclass
class SposConfig(SamplingConfig):
    """SPOS (Guo et al., ECCV 2020): uniform single-path training, then evolution over children scored with
    inherited weights after BatchNorm recalibration: ``generations`` (20) of ``population`` (50) children,
    the first random, each later one ``mutations`` (25) children of the best ``parents`` (10) so far, each
    decision redrawn with probability ``mutate_p`` (0.1), and ``crossovers`` (25) children taking each
    decision from one of two parents; a shortfall (children already scored, or outside the bounds) is made
    up with random children."""

    method = "SPOS"

    population: int = 50
    parents: int = 10
    mutations: int = 25
    crossovers: int = 25
    mutate_p: float = 0.1
    generations: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        self._at_least(1, "population", "parents", "generations")
        self._at_least(0, "mutations", "crossovers")
        if not 0 < self.mutate_p <= 1:
            raise DartsError(f"mutate_p must be in (0, 1]; got {self.mutate_p}")


@dataclass
class FairnasConfig(SposConfig):
    """FairNAS (Chu et al., ICCV 2021): strict fairness, each step m single-path children from a random
    permutation of every choice's m candidates, their gradients accumulated on one batch, one update; then
    SPOS' evolution."""

    method = "FairNAS"


@dataclass
class EnasConfig(RswsConfig):
    """ENAS (Pham et al., ICML 2018): an LSTM controller (``hidden`` 64) samples the child each weight step
    trains; after each epoch of weight steps, ``ctrl_steps`` (30) REINFORCE steps (Adam ``ctrl_lr`` 3.5e-3),
    the reward a child's accuracy on an architecture-half batch with the shared weights, a moving-average
    baseline (``baseline_decay`` 0.99) and an entropy bonus (``entropy_weight`` 1e-4); then ``samples``
    children of the controller are scored and the best is retrained (``constrained``: the controller's children
    are drawn again until one keeps the bounds)."""

    method = "ENAS"

    ctrl_lr: float = 3.5e-3
    ctrl_steps: int = 30
    hidden: int = 64
    baseline_decay: float = 0.99
    entropy_weight: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        self._positive("ctrl_lr")
        self._at_least(0, "ctrl_steps", "entropy_weight")
        self._at_least(1, "hidden")
        self._fractions("baseline_decay")


@dataclass
class OneshotConfig(RswsConfig):
    """One-shot with path dropout (Bender et al., ICML 2018): every step trains the whole supernet, all
    options summed, each dropped with probability rate^(1/k) among a choice's k (at least one kept), the
    rate rising linearly from 0 at the first step to ``drop_rate`` at the last; then ``samples`` uniform
    children are scored with the shared weights and the best is retrained.  The paper sweeps the rate;
    0.25 is nasdsl's default, not a value the paper prescribes."""

    method = "one-shot"

    drop_rate: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.drop_rate < 1:
            raise DartsError(f"drop_rate must be in [0, 1); got {self.drop_rate}")


LAT_LOSSES = ("mul#log", "add#linear", "none")
LAT_UNITS = ("ms", "us")


def _check_latency(cfg: DartsConfig) -> None:
    if cfg.lat_unit not in LAT_UNITS:
        raise DartsError(f"lat_unit is ms or us; got {cfg.lat_unit!r}")
    cfg._at_least(0, "lat_alpha", "lat_beta")


@dataclass
class ProxylessConfig(DartsConfig):
    """ProxylessNAS (Cai, Zhu & Han, ICLR 2019): binary gates.  A weight step runs one path per choice drawn
    from softmax(α); an architecture step draws two paths without replacement, computes only them, takes the
    gates' gradient through the two probabilities renormalised over the pair, then shifts both logits so that
    every other path keeps its probability.  The loss (``latency_loss``): ``mul#log`` CE · ``lat_alpha`` ·
    (log E[LAT] / log ``target_latency``)^``lat_beta`` (0.2, 0.3), ``add#linear`` CE + ``lat_alpha`` ·
    (E[LAT] − target) / target, or ``none``; E[LAT] = Σ over the choices of Σ p·LAT(option) + the fixed ops,
    from a ``nasdsl latency`` table (``latency_table``; "": measured on this device when the search starts);
    ``target_latency`` 0: the expected latency at the first α; α Adam 1e-3, betas (0, 0.999), no decay."""

    method = "ProxylessNAS"

    a_lr: float = 1e-3
    a_beta1: float = 0.0
    a_weight_decay: float = 0.0
    add_none: bool = False
    latency_table: str = ""
    latency_loss: str = "mul#log"
    target_latency: float = 0.0
    lat_alpha: float = 0.2
    lat_beta: float = 0.3
    lat_unit: str = "ms"

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        if self.latency_loss not in LAT_LOSSES:
            raise DartsError(f"latency_loss is one of {', '.join(LAT_LOSSES)}; got {self.latency_loss!r}")
        _check_latency(self)
        self._at_least(0, "target_latency")


@dataclass
class FbnetConfig(DartsConfig):
    """FBNet (Wu et al., CVPR 2019): Gumbel-softmax weights at temperature ``tau`` (5) × exp(−``tau_decay``·epoch)
    (0.045), and the architecture loss CE · ``lat_alpha`` · log(LAT)^``lat_beta`` (0.2, 0.6), LAT the latency
    the Gumbel weights expect from a ``nasdsl latency`` table (``latency_table``; "": measured on this
    device when the search starts); the first ``warmup`` epochs train the weights only (10 here: the
    paper's warm-up length is not restated)."""

    method = "FBNet"

    add_none: bool = False
    warmup: int = 10
    tau: float = 5.0
    tau_decay: float = 0.045
    latency_table: str = ""
    lat_alpha: float = 0.2
    lat_beta: float = 0.6
    lat_unit: str = "ms"

    def __post_init__(self) -> None:
        super().__post_init__()
        _first_order(self)
        self._positive("tau")
        self._at_least(0, "tau_decay")
        _check_latency(self)


@dataclass
class OfaConfig(SposConfig):
    """Once-for-All (Cai et al., ICLR 2020): an elastic supernet trained by progressive shrinking: ``epochs`` of
    the full network (every value choice at its largest, every depth at its deepest), then ``kernel_epochs``
    with the kernel sizes elastic (1 child per step), ``depth_epochs`` with the depths elastic too (2 children
    per step), ``width_epochs`` with every value choice elastic (4 children per step), each child also
    distilled from the full network (a frozen copy of it after its epochs; soft cross-entropy ×
    ``kd_ratio``); one cosine schedule over all of them.  Then SPOS' evolution over sub-networks inside the
    file's bounds, scored on the shared weights after BN recalibration (no retraining).  The phases'
    lengths here are nasdsl's (the paper's ImageNet schedule is not restated); the kernel transformation
    matrices and the width phase's channel sorting by importance are not built."""

    method = "OFA"

    epochs: int = 60
    kernel_epochs: int = 60
    depth_epochs: int = 60
    width_epochs: int = 60
    kd_ratio: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._at_least(0, "kernel_epochs", "depth_epochs", "width_epochs", "kd_ratio")
