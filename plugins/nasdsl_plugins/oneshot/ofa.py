"""Once-for-All: progressive shrinking of an elastic supernet, then evolution over its sub-networks.

The elastic dimensions are read off the supernet: a **kernel** choice is a value choice on an op's kernel
argument (``k``, ``kh``, ``kw``), a **depth** choice is a depth choice (``repeat {2, 3, 4}``), and every other
value choice is a **width** (an expansion ratio, channels, an embedding size).  The training goes through the
phases in order, each widening the set of elastic dimensions (a choice not yet elastic stays at its largest
value; an op choice is drawn uniformly in every phase):

    full      every elastic dimension at its largest: the full network, one child per step
    kernel    kernel sizes elastic, one child per step
    depth     kernels and depths elastic, two children per step
    width     everything elastic, four children per step

Once the full network's epochs are over, a frozen copy of it (eval mode) is the teacher: each child's loss is
CE + ``kd_ratio`` × the cross-entropy against the teacher's softmax.  Gradients of a step's children
accumulate into one update, as FairNAS does.  The search phase is SPOS' evolution over sub-networks inside
the file's bounds, scored on the shared weights after BN recalibration; ``Supernet.export`` gives a found
sub-network as an ordinary model with its weights.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import torch
import torch.nn.functional as F

from .config import DartsError, OfaConfig
from .sampling import SposSearch

KERNEL_ARGS = ("k", "kh", "kw")
PHASES = (("full", 1), ("kernel", 1), ("depth", 2), ("width", 4))  # (phase, children per step)


class OfaSearch(SposSearch):
    """OFA: progressive shrinking with distillation, then evolution on inherited weights."""

    config_class = OfaConfig

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        sup = self.supernet
        g = sup.ir.graph
        kernel: set[str] = set()
        for n in sup.ir.nodes("op"):
            for arg, d in (g.nodes[n].get("vargs") or {}).items():
                if arg in KERNEL_ARGS and isinstance(d, str):
                    kernel.add(d)
        depth = {d for d, k in sup._kind.items() if k == "depth"}
        width = {d for d, k in sup._kind.items() if k == "value"} - kernel
        if not (kernel or depth or width):
            raise DartsError("OFA trains an elastic supernet, and this space has no value choice on an op's arguments "
                             "and no depth choice (an elastic kernel, depth or width)")
        self.dims = {"kernel": kernel, "depth": depth, "width": width}
        cfg = self.config
        lengths = {"full": cfg.epochs, "kernel": cfg.kernel_epochs, "depth": cfg.depth_epochs, "width": cfg.width_epochs}
        self.phases = [(name, n, lengths[name]) for name, n in PHASES if lengths[name] and (name == "full" or self.dims[name])]
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, T_max=self.train_epochs,
                                                                eta_min=cfg.w_lr_min)
        self.teacher: Optional[Any] = None

    @property
    def train_epochs(self) -> int:
        return sum(e for _, _, e in self.phases) if hasattr(self, "phases") else self.config.epochs

    def phase(self, epoch: Optional[int] = None) -> tuple[str, int]:
        """The phase of ``epoch`` (default the current one) and its children per step."""
        e = self.epoch if epoch is None else epoch
        for name, n, length in self.phases:
            if e < length:
                return name, n
            e -= length
        return self.phases[-1][0], self.phases[-1][1]

    def elastic(self, phase: str) -> set[str]:
        """The decisions a child of ``phase`` draws (the others at their largest)."""
        order = [name for name, _ in PHASES]
        out: set[str] = set()
        for name in order[1:order.index(phase) + 1]:
            out |= self.dims[name]
        return out

    def largest(self, values: dict[str, Any], keep: set[str]) -> dict[str, Any]:
        """``values`` with every elastic dimension not in ``keep`` at its largest value."""
        out = dict(values)
        for name in ("kernel", "depth", "width"):
            for d in self.dims[name] - keep:
                out[d] = max(self.space.decisions[d].values())
        return self._arch_only(out)

    def paths(self) -> list[dict[str, Any]]:
        """The phase's children of one step: drawn from the whole space (the file's bounds are the search
        phase's, not the training's), the dimensions not yet elastic at their largest."""
        name, n = self.phase()
        keep = self.elastic(name)
        return [self.largest(self.space.sample(self.rng).values, keep) for _ in range(n)]

    # ---------------------------------------------------------------- distillation
    def _make_teacher(self) -> None:
        """A frozen copy of the supernet set to its full network, in eval mode."""
        t = copy.deepcopy(self.supernet)
        for p in t.parameters():
            p.requires_grad_(False)
        t.activate(self.largest(self.space.default().values, set()))  # op choices, if any, at their defaults
        t.eval()
        self.teacher = t

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = x.to(self.device), y.to(self.device)
        out = self.supernet(x)
        ce = F.cross_entropy(out, y)
        if self.teacher is None or not self.config.kd_ratio:
            return ce
        with torch.no_grad():
            soft = torch.softmax(self.teacher(x).float(), -1)
        kd = -(soft * F.log_softmax(out.float(), -1)).sum(-1).mean()
        return ce + self.config.kd_ratio * kd

    def run_epoch(self) -> dict[str, Any]:
        if self.teacher is None and self.config.kd_ratio and self.epoch < self.train_epochs and self.phase()[0] != "full":
            self._make_teacher()
        stage = self.phase()[0] if self.epoch < self.train_epochs else None
        rec = super().run_epoch()
        if stage is not None:
            rec["stage"] = stage
        return rec

    def draw(self) -> dict[str, Any]:
        """A sub-network of the phase's elastic space (the search phase: the whole space, inside the bounds)."""
        if self.epoch < self.train_epochs:
            return self.largest(self.space.sample(self.rng).values, self.elastic(self.phase()[0]))
        return self.uniform()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "teacher": None if self.teacher is None else self.teacher.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("teacher") is not None:
            self._make_teacher()
            self.teacher.load_state_dict(state["teacher"])


__all__ = ["OfaSearch"]
