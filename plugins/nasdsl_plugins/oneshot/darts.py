"""DARTS (Liu, Simonyan & Yang, ICLR 2019) on the supernet of any ``.nas`` space.

The training split is halved: the first half trains the weights w, the second the architecture
parameters α; the validation split is left for the final evaluation.  Each step first updates α on
an α-batch, then w on a w-batch (the order of the reference code).  Defaults are the paper's CIFAR
search settings: weights SGD 0.025, cosine to 0.001, momentum 0.9, weight decay 3e-4, gradient norm
clipped at 5; α Adam 3e-4, betas (0.5, 0.999), weight decay 1e-3; ``none`` added to the op choices.

``order=1`` takes ∇α L_val(w, α).  ``order=2`` is the one-step unrolled approximation:

    w' = w − ξ (μ·buf + ∇w L_train(w, α) + λ w)            ξ: the current weight learning rate
    ∇α ≈ ∇α L_val(w', α) − ξ [∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)] / 2ε
    w± = w ± ε ∇w' L_val(w', α),   ε = 0.01 / ‖∇w' L_val(w', α)‖

(the Hessian-vector product by finite differences).  ``DartsSearch.unrolled_objective`` is that
objective written out, so a test can differentiate it numerically.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any, Optional

import torch
import torch.nn.functional as F

from nasdsl.constraints import op_counts, option_is

from ..torch_backend.supernet import Softmax, Supernet
from .config import DartsConfig, DartsError, DrnasConfig, GdasConfig, PcdartsConfig, PdartsConfig, SnasConfig
from .relax import Dirichlet, Gumbel
from .weights import SharedWeights


class DartsSearch(SharedWeights):
    """One DARTS run: the supernet, its two optimizers, the halves of the training split.

    The other differentiable methods are subclasses that change what DARTS leaves open: how the mixed
    forward weighs the options (:meth:`relaxation`), a term added to the architecture loss
    (:meth:`arch_penalty`), single-level training (``single_level``: weights and α from one batch and
    one loss), and how the supernet is scored while it trains (:meth:`accuracy`)."""

    config_class = DartsConfig
    single_level = False

    def __init__(self, space: Any, dataset: Any, config: Optional[DartsConfig] = None,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        super().__init__(space, dataset, config, device, dtype)
        config = self.config
        self.alphas = self.supernet.arch_parameters()
        self.a_opt = torch.optim.Adam(self.alphas, lr=config.a_lr, betas=(config.a_beta1, config.a_beta2),
                                      weight_decay=config.a_weight_decay)
        self.supernet.relax = self.relaxation()
        self._ruled = self._skip_cells()  # a skip_cells naming no cell is refused here, before any training

    def supernet_options(self, config: Any) -> dict[str, Any]:
        return {"add_none": config.add_none, "partial": getattr(config, "k", 1)}

    # ---------------------------------------------------------------- what a method changes
    def relaxation(self) -> Any:
        """How this epoch's mixed forwards weigh the options (DARTS: the softmax of α)."""
        return Softmax()

    def arch_penalty(self) -> torch.Tensor | float:
        """A term added to the architecture loss after a forward (none for DARTS)."""
        return 0.0

    def arch_objective(self, lv: torch.Tensor) -> torch.Tensor:
        """What the architecture step minimises, from the architecture batch's loss (DARTS: plus the penalty)."""
        return lv + self.arch_penalty()

    def anneal(self, tau: float, tau_min: float) -> float:
        """A temperature going linearly from ``tau`` at the first epoch to ``tau_min`` at the last."""
        last = max(1, self.config.epochs - 1)
        return tau - (tau - tau_min) * min(self.epoch, last) / last

    # ---------------------------------------------------------------- losses and gradients
    def _grads(self, loss: torch.Tensor, params: list) -> list[torch.Tensor]:
        gs = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]

    def _sgd_step(self, p: torch.Tensor, w: torch.Tensor, g: Optional[torch.Tensor], xi: float) -> torch.Tensor:
        """w − ξ (μ·buf + g + λ w): where the weight optimizer's next step would take weight ``p`` (value ``w``)."""
        cfg = self.config
        step = (torch.zeros_like(w) if g is None else g) + cfg.w_weight_decay * w
        buf = self.w_opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            step = step + cfg.w_momentum * buf
        return w - xi * step

    def _virtual_step(self, xt: torch.Tensor, yt: torch.Tensor, xi: float) -> list[torch.Tensor]:
        """w' = w − ξ (μ·buf + ∇w L_train + λ w), as the weight optimizer would step (not applied)."""
        gw = self._grads(self.loss(xt, yt), self.weights)
        return [self._sgd_step(p, p.detach(), g, xi) for p, g in zip(self.weights, gw)]

    def _swap(self, values: list[torch.Tensor]) -> list[torch.Tensor]:
        """Put ``values`` into the weights; return what they held."""
        old = [p.detach().clone() for p in self.weights]
        with torch.no_grad():
            for p, v in zip(self.weights, values):
                p.copy_(v)
        return old

    def arch_gradient(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> list[torch.Tensor]:
        """∇α of the architecture objective: first order, or the unrolled second-order approximation."""
        return self._arch_gradient(xt, yt, xv, yv)[0]

    def _arch_gradient(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor,
                       yv: torch.Tensor) -> tuple[list[torch.Tensor], float]:
        """(∇α, the architecture loss it is the gradient of)."""
        if self.config.order == 1:
            lv = self.loss(xv, yv)
            return self._grads(self.arch_objective(lv), self.alphas), float(lv.detach())
        xi = self.w_opt.param_groups[0]["lr"]
        unrolled = self._virtual_step(xt, yt, xi)
        w = self._swap(unrolled)
        try:
            lv = self.loss(xv, yv)
            g = self._grads(lv, self.alphas + self.weights)
            da, dw = g[:len(self.alphas)], g[len(self.alphas):]
        finally:
            self._swap(w)
        norm = torch.sqrt(sum((d * d).sum() for d in dw))
        eps = 0.01 / float(norm) if float(norm) > 0 else 0.0
        if eps == 0.0:
            return da, float(lv.detach())
        hv = []
        for sign in (1.0, -1.0):
            self._swap([p + sign * eps * d for p, d in zip(w, dw)])
            hv.append(self._grads(self.loss(xt, yt), self.alphas))
        self._swap(w)
        return [a - xi * (gp - gm) / (2 * eps) for a, gp, gm in zip(da, hv[0], hv[1])], float(lv.detach())

    def unrolled_objective(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                           xi: Optional[float] = None) -> torch.Tensor:
        """L_val(w − ξ(μ·buf + ∇w L_train(w, α) + λw), α) as a function of α (weights left as they were);
        differentiable in α (twice through the network), for checking the approximation."""
        xi = self.w_opt.param_groups[0]["lr"] if xi is None else xi
        gw = torch.autograd.grad(self.loss(xt, yt), self.weights, create_graph=True, allow_unused=True)
        names = {id(p): n for n, p in self.supernet.named_parameters()}
        params = {names[id(p)]: self._sgd_step(p, p, g, xi) for p, g in zip(self.weights, gw)}
        out = torch.func.functional_call(self.supernet, params, (xv.to(self.device),))
        return F.cross_entropy(out, yv.to(self.device))

    # ---------------------------------------------------------------- training
    def step(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> tuple[float, Optional[float]]:
        """One step: α on (xv, yv), then w on (xt, yt) (single level: both from (xt, yt), one loss).
        Returns (weight loss, architecture loss); the architecture loss is the one its gradient was taken of
        (None in a warm-up epoch, where α is not trained)."""
        self.supernet.train()
        if self.single_level:
            self.a_opt.zero_grad(set_to_none=True)
            self.w_opt.zero_grad(set_to_none=True)
            lt = self._weight_loss(xt, yt)
            self._backward(lt + self.arch_penalty())
            value = self._weight_step(lt, also=self.a_opt)  # α's gradients came through the same (scaled) loss
            return value, value
        a_loss = None
        if self.epoch >= self.config.warmup:  # a warm-up epoch trains the weights only
            grads, a_loss = self._arch_gradient(xt, yt, xv, yv)
            self.a_opt.zero_grad(set_to_none=True)
            for p, g in zip(self.alphas, grads):
                p.grad = g.detach()
            self.a_opt.step()
        self.w_opt.zero_grad(set_to_none=True)
        lt = self._weight_loss(xt, yt)
        self._backward(lt)
        for p in self.alphas:  # α moves only by its own optimizer
            p.grad = None
        return self._weight_step(lt), a_loss

    def run_epoch(self) -> dict[str, Any]:
        """One epoch over the halves; the epoch's losses, the supernet's accuracy on the α half, the derived genotype."""
        w_losses, a_losses = [], []
        self.supernet.relax = self.relaxation()
        for tw, ta in self.batches():
            lw, la = self.step(self.w_x[tw], self.w_y[tw], self.a_x[ta], self.a_y[ta])
            w_losses.append(lw)
            a_losses.append(la)
        self.sched.step()
        self.epoch += 1
        genotype = self.supernet.derive()
        rec = {"epoch": self.epoch, "train_loss": sum(w_losses) / len(w_losses),
               "arch_loss": None if None in a_losses else sum(a_losses) / len(a_losses), "supernet_acc": self.accuracy(self.a_x, self.a_y),
               "genotype": genotype, "probabilities": self.probabilities()}
        self.stopped = self.stop_rule(genotype)
        if self.stopped:
            rec["stopped"] = self.stopped
        return rec

    def stop_rule(self, genotype: dict[str, Any]) -> str:
        """DARTS+ (``early_stop=N``): why the search stops after this epoch ('' to go on): a cell of the
        derived genotype holds N or more skip connections (the collapse toward parameter-free ops)."""
        n = self.config.early_stop
        if not n:
            return ""
        for cell, count in sorted(self.ruled_skips(genotype).items()):
            if count >= n:
                return f"DARTS+ early stop: cell '{cell}' has {count} skip connections (early_stop={n})"
        return ""

    def ruled_cells(self) -> set[str]:
        """The cells the skip rules count in (``skip_cells``)."""
        return set(self._ruled)

    def _skip_cells(self) -> set[str]:
        """``skip_cells`` read against the supernet: ``normal``, the papers' choice, is every cell none of whose
        searched ops reduces the feature map (DARTS' normal cell, not its reduction cell)."""
        kinds = self.supernet.cell_kinds()
        which = self.config.skip_cells.strip()
        if which == "all":
            return set(kinds)
        if which == "normal":
            return {c for c, k in kinds.items() if k == "normal"}
        names = {c.strip() for c in which.split(",") if c.strip()}
        unknown = sorted(names - set(kinds))
        if unknown:
            raise DartsError(f"skip_cells names {', '.join(unknown)}, which the space has no decisions of; its cells: "
                             f"{', '.join(sorted(kinds))} (or normal, all)")
        return names

    def ruled_skips(self, genotype: dict[str, Any]) -> dict[str, int]:
        """The skip connections of ``genotype`` per cell, in the cells the skip rules count in."""
        return {c: n for c, n in skip_counts(self.space, genotype).items() if c in self._ruled}

    def derive(self) -> dict[str, Any]:
        """The genotype the search ends with."""
        return self.supernet.derive()

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
        """The supernet's accuracy on (x, y) in eval mode, under the expected weights (softmax of α)."""
        relax, self.supernet.relax = self.supernet.relax, Softmax()
        try:
            return self._accuracy(x, y, batch)
        finally:
            self.supernet.relax = relax

    def child_accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
        """The accuracy of the child derived now, run on the shared weights."""
        self.supernet.activate(self.supernet.derive())
        try:
            return self._accuracy(x, y, batch)
        finally:
            self.supernet.activate(None)

    def probabilities(self) -> dict[str, list]:
        """Each decision's softmax over its options (a table of rows for an edge table)."""
        with torch.no_grad():
            return {d: torch.softmax(self.supernet.logits(d).float(), -1).tolist() for d in self.supernet._alpha}

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "a_opt": self.a_opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.a_opt.load_state_dict(state["a_opt"])


def skip_counts(space: Any, genotype: dict[str, Any]) -> dict[str, int]:
    """How many op decisions of each cell (the decisions' name before the first dot) chose a skip connection."""
    return op_counts(space, genotype, "skip_connect")


class SnasSearch(DartsSearch):
    """SNAS: single level, relaxed Gumbel-softmax (temperature annealed), a resource penalty on the sampled
    child's expected parameters."""

    config_class = SnasConfig
    single_level = True

    def relaxation(self) -> Any:
        return Gumbel(self.anneal(self.config.tau, self.config.tau_min))

    def arch_penalty(self) -> torch.Tensor | float:
        if not self.config.resource:
            return 0.0
        return self.config.resource * self.supernet.expected_params(self.supernet.last_mixture) / 1e6


class GdasSearch(DartsSearch):
    """GDAS: one op sampled per decision by hard Gumbel-softmax (straight through); only that op runs."""

    config_class = GdasConfig

    def relaxation(self) -> Any:
        return Gumbel(self.anneal(self.config.tau, self.config.tau_min), hard=True)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
        """The accuracy of the child it derives now, run on the shared weights (what GDAS keeps)."""
        return self.child_accuracy(x, y, batch)


class DrnasSearch(DartsSearch):
    """DrNAS: mixing weights drawn from Dirichlet(ELU(α) + 1); a KL term toward Dirichlet(1) on α."""

    config_class = DrnasConfig

    def relaxation(self) -> Any:
        return Dirichlet()

    def arch_penalty(self) -> torch.Tensor | float:
        if not self.config.reg:
            return 0.0
        kl = 0.0
        for dec, key in self.supernet._alpha.items():
            if self.supernet._kind[dec] == "subset":
                continue
            conc = F.elu(self.supernet.alphas[key]) + 1
            prior = torch.distributions.Dirichlet(torch.ones_like(conc))
            kl = kl + torch.distributions.kl_divergence(torch.distributions.Dirichlet(conc), prior).sum()
        return self.config.reg * kl


class PcdartsSearch(DartsSearch):
    """PC-DARTS: partial channels (K) and edge normalisation, in the supernet (``partial=K``); otherwise DARTS."""

    config_class = PcdartsConfig


def stage_space(space: Any, config: PdartsConfig, depth: int) -> Any:
    """``space`` with its depth parameter at ``depth``."""
    from nasdsl import Space

    params = {**space._params_override, config.depth_param: depth}
    return Space(space.program, space.name, params, space._input_override)


def check_stages(space: Any, config: PdartsConfig) -> list[Any]:
    """The space at each stage's depth; P-DARTS' stages must keep its decisions: the depth parameter exists
    and every depth has them all."""
    if config.depth_param not in space.params:
        raise DartsError(f"P-DARTS grows the network through its parameter '{config.depth_param}', which network "
                         f"'{space.name}' does not have (its parameters: {', '.join(space.params) or 'none'}; "
                         "choose one with -S depth_param=NAME)")
    spaces = []
    for depth in config.depths:
        try:
            at = stage_space(space, config, depth)
        except Exception as e:
            raise DartsError(f"P-DARTS stage of {config.depth_param}={depth}: {e}") from None
        missing = sorted(set(space.decisions) - set(at.decisions))
        if missing:
            what = f"lacks {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")
        elif set(at.decisions) != set(space.decisions):
            what = "has decisions the space has not"
        else:
            spaces.append(at)
            continue
        raise DartsError(f"P-DARTS stage of {config.depth_param}={depth} {what}: every stage must hold the "
                         "decisions of the space searched (choose other -S stages)")
    return spaces


class PdartsSearch:
    """P-DARTS: DARTS in stages on networks of growing depth, each stage's supernet new (weights and α), its
    op choices cut to the candidates the previous stage weighed most (the dropped ones are masked and never
    computed), dropout on the skip connections; at the end at most ``max_skips`` skip connections in each cell the
    skip rules count in (``skip_cells``: the normal cells by default)."""

    config_class = PdartsConfig

    def __init__(self, space: Any, dataset: Any, config: Optional[PdartsConfig] = None,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        config = PdartsConfig() if config is None else config
        if not isinstance(config, PdartsConfig):
            raise DartsError("PdartsSearch takes a PdartsConfig")
        self.space, self.dataset, self.config, self.device, self.dtype = space, dataset, config, device, dtype
        self.spaces = check_stages(space, config)  # each stage's space, compiled once
        self.stage = 0
        self.finished = False
        self.masks: dict[str, list] = {}  # decision -> the options still in (nested lists of booleans)
        self._start_stage()

    def _start_stage(self) -> None:
        base = {f.name: getattr(self.config, f.name) for f in fields(DartsConfig)}
        base["seed"] = self.config.seed + self.stage
        self.inner = DartsSearch(self.spaces[self.stage], self.dataset, DartsConfig(**base), self.device, self.dtype)
        sup = self.inner.supernet
        sup.masks = {d: torch.tensor(m, dtype=torch.bool) for d, m in self.masks.items() if d in sup._alpha}
        self._set_dropout()

    def _set_dropout(self) -> None:
        rate, e, warm = self.config.drops[self.stage], self.inner.epoch, self.config.warmup
        self.inner.supernet.skip_dropout = rate if e < warm else rate * math.exp(-0.2 * (e - warm))

    @property
    def supernet(self) -> Supernet:
        return self.inner.supernet

    @property
    def alphas(self) -> list:
        return self.inner.alphas

    @property
    def weights(self) -> list:
        return self.inner.weights

    @property
    def epoch(self) -> int:
        return self.stage * self.config.epochs + self.inner.epoch

    @property
    def done(self) -> bool:
        return self.finished

    @property
    def total_epochs(self) -> int:
        return len(self.config.depths) * self.config.epochs

    def run_epoch(self) -> dict[str, Any]:
        self._set_dropout()
        rec = self.inner.run_epoch()
        rec.update(epoch=self.epoch, stage=self.stage + 1, depth=self.config.depths[self.stage])
        if self.inner.done:  # the stage is over: cut the candidates, then a deeper supernet
            if self.stage + 1 < len(self.config.depths):
                self.masks = self.shrink(self.config.kept[self.stage])
                self.stage += 1
                self._start_stage()
            else:
                self.finished = True
        return rec

    def shrink(self, k: int) -> dict[str, list]:
        """Each op choice's (and edge's) k strongest remaining options by softmax(α), as masks."""
        sup = self.inner.supernet
        out = dict(self.masks)
        with torch.no_grad():
            for dec in sup._alpha:
                if sup._kind[dec] not in ("op", "edge"):
                    continue
                w = torch.softmax(sup.logits(dec).float(), -1)
                rows = w if w.dim() == 2 else w.unsqueeze(0)
                keep = torch.zeros_like(rows, dtype=torch.bool)
                keep.scatter_(-1, torch.topk(rows, min(k, rows.shape[-1]), dim=-1).indices, True)
                out[dec] = (keep if w.dim() == 2 else keep[0]).tolist()
        return out

    def derive(self) -> dict[str, Any]:
        """The last stage's genotype with at most ``max_skips`` skip connections per ruled cell: while one has more,
        the skip connection weighing least is dropped from its choice and the genotype derived again."""
        sup = self.inner.supernet
        space = self.inner.space
        for _ in range(10_000):
            g = sup.derive()
            over = {c for c, n in self.inner.ruled_skips(g).items() if n > self.config.max_skips}
            if not over:
                return g
            weakest = None  # (probability, decision, row, column)
            with torch.no_grad():
                for dec in sup._alpha:
                    kind = sup._kind[dec]
                    w = torch.softmax(sup.logits(dec).float(), -1)
                    if kind == "op" and dec.split(".")[0] in over and option_is(g[dec], "skip_connect"):
                        cand = (float(w[sup._options[dec].index(g[dec])]), dec, None, sup._options[dec].index(g[dec]))
                    elif kind == "edge" and dec.split(".")[0] in over:
                        col = sup._edge_ops[dec].index("skip_connect") if "skip_connect" in sup._edge_ops[dec] else None
                        rows = [sup._options[dec].index(lab) for s, lab in enumerate(g[dec])
                                if option_is(g[space.decisions[dec].each[s]], "skip_connect")]
                        if col is None or not rows:
                            continue
                        r = min(rows, key=lambda r: float(w[r][col]))
                        cand = (float(w[r][col]), dec, r, col)
                    else:
                        continue
                    if weakest is None or cand[0] < weakest[0]:
                        weakest = cand
            if weakest is None:
                return g
            _, dec, row, col = weakest
            m = sup.masks.get(dec)
            m = torch.ones_like(sup.alpha(dec), dtype=torch.bool) if m is None else m.clone()
            if row is None:
                m[col] = False
            else:
                m[row, col] = False
            sup.masks[dec] = m
        raise DartsError("P-DARTS could not bring the skip connections down to max_skips")  # pragma: no cover

    def probabilities(self) -> dict[str, list]:
        return self.inner.probabilities()

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.config.method, "config": asdict(self.config), "stage": self.stage,
                "finished": self.finished, "masks": self.masks, "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("config") != asdict(self.config) or state.get("method") != self.config.method:
            raise DartsError(f"the checkpoint is of a {state.get('method', 'DARTS')} run with other options")
        self.stage, self.finished, self.masks = int(state["stage"]), bool(state["finished"]), dict(state["masks"])
        self._start_stage()
        self.inner.load_state_dict(state["inner"])


METHODS = {"darts": DartsSearch, "snas": SnasSearch, "gdas": GdasSearch, "drnas": DrnasSearch,
           "pcdarts": PcdartsSearch, "pdarts": PdartsSearch}
