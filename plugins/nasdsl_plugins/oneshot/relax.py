"""How each differentiable method weighs a decision's options in the supernet's mixed forward.

A relaxation is called as ``relax(supernet, decision, logits)`` and returns ``(weights, on)``: the
weights the supernet multiplies each option's output by, and ``on`` (None: every option is computed;
otherwise a nested list of booleans of the weights' shape, and an option that is off is not computed).
The logits are a decision's architecture parameter: one row of options (an op, depth or merge-mode
choice, and a ``pick`` of one shared row), one row per candidate edge (an edge table) or per slot
(``independent``), or one logit per candidate of a subset (a gate each).

* :class:`~nasdsl_plugins.torch_backend.supernet.Softmax` (DARTS, P-DARTS, PC-DARTS): softmax rows.
* :class:`Gumbel` (SNAS): relaxed Gumbel-softmax rows, softmax((log_softmax(α) + g) / τ), g Gumbel(0, 1);
  a subset's gates are binary-concrete, sigmoid((α + log u − log(1 − u)) / τ).
* :class:`Gumbel` with ``hard=True`` (GDAS): the one-hot of the sample's argmax with a straight-through
  gradient, h = onehot − p.detach() + p; only the sampled option is computed.  A ``pick`` of k distinct
  candidates samples k of them without replacement (the Gumbel top-k), one slot each.
* :class:`Dirichlet` (DrNAS): weights ~ Dirichlet(ELU(α) + 1).rsample(), reparameterised.
* :class:`BinaryGates` (ProxylessNAS): per row of options, paths drawn from softmax(α): one (a weight
  step: a constant one-hot, only it computed), or two without replacement (an architecture step: both
  computed, the gate of the first 1 and of the second 0, each with the gradient of the pair's renormalised
  probability p̃, straight through: g = onehot + p̃ − p̃.detach(), so ∂L/∂αᵢ = Σⱼ ∂L/∂gⱼ p̃ⱼ(δᵢⱼ − p̃ᵢ)).
* :class:`PathDropout` (Bender et al. 2018): no weighing at all: every option's output is summed as it
  is, each option of a row of k dropped with probability r^(1/k) (so all k with probability r), at
  least one kept; a subset's candidates each dropped with probability r.  α is not read.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def _gumbel_like(t: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise, −log(Exp(1)), drawn again while it is not finite (as AutoDL's GDAS does)."""
    while True:
        g = -torch.empty_like(t).exponential_().log()
        if torch.isfinite(g).all():
            return g


def _hard(p: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, list]:
    """One-hot rows at ``index`` whose gradient is that of ``p`` (straight through); which entries are on."""
    one = torch.zeros_like(p).scatter_(-1, index.unsqueeze(-1), 1.0)
    return one - p.detach() + p, one.bool().tolist()


class Gumbel:
    """Gumbel-softmax at temperature ``tau``; ``hard``: the sampled option only (straight-through)."""

    def __init__(self, tau: float, hard: bool = False):
        if not tau > 0:
            raise ValueError(f"the temperature must be positive; got {tau}")
        self.tau, self.hard = float(tau), hard

    def __call__(self, sup: Any, decision: str, logits: torch.Tensor) -> tuple:
        kind = sup._kind[decision]
        if kind == "subset":
            u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
            soft = torch.sigmoid((logits + u.log() - (1 - u).log()) / self.tau)
            if not self.hard:
                return soft, None
            on = soft.detach() > 0.5
            return on.to(soft.dtype) - soft.detach() + soft, on.tolist()
        z = (F.log_softmax(logits, dim=-1) + _gumbel_like(logits)) / self.tau
        p = torch.softmax(z, dim=-1)
        if not self.hard:
            return p, None
        if kind == "pick":  # k distinct candidates: the Gumbel top-k, in the space's order, a slot each
            top = torch.sort(torch.topk(z.detach(), sup._k[decision]).indices).values
            return _hard(p.expand(len(top), -1), top)
        return _hard(p, z.detach().argmax(-1))


class Dirichlet:
    """DrNAS: a reparameterised sample of Dirichlet(ELU(α) + 1) per row; a subset keeps sigmoid gates."""

    def __call__(self, sup: Any, decision: str, logits: torch.Tensor) -> tuple:
        if sup._kind[decision] == "subset":
            return torch.sigmoid(logits), None
        return torch.distributions.Dirichlet(F.elu(logits) + 1).rsample(), None


class BinaryGates:
    """ProxylessNAS' binary gates drawn from ``gen``: one path per row, or two (``two``) for an architecture step."""

    def __init__(self, gen: torch.Generator, two: bool = False):
        self.gen, self.two = gen, two

    def __call__(self, sup: Any, decision: str, logits: torch.Tensor) -> tuple:
        kind = sup._kind[decision]
        if kind in ("subset", "pick"):
            raise ValueError(f"binary gates draw one option of a row; decision '{decision}' is an input choice of "
                             f"several inputs ({kind}), which ProxylessNAS does not search")
        shape = logits.shape
        rows = logits.reshape(-1, shape[-1])
        p = torch.softmax(rows.detach().float().cpu(), -1)
        draws = torch.multinomial(p, min(2 if self.two else 1, shape[-1]), replacement=False, generator=self.gen)
        on = torch.zeros(rows.shape, dtype=torch.bool).scatter_(1, draws, True)
        one = torch.zeros(rows.shape).scatter_(1, draws[:, :1], 1.0).to(device=logits.device, dtype=logits.dtype)
        if not self.two:
            return one.view(shape), on.view(shape).tolist()
        pair = torch.softmax(rows.masked_fill(~on.to(logits.device), float("-inf")), -1)
        return (one + pair - pair.detach()).view(shape), on.view(shape).tolist()


class PathDropout:
    """Bender et al.'s path dropout at rate ``rate``, drawn from ``gen``: 0/1 weights, the dropped options off."""

    def __init__(self, rate: float, gen: torch.Generator):
        if not 0 <= rate < 1:
            raise ValueError(f"the path dropout rate must be in [0, 1); got {rate}")
        self.rate, self.gen = float(rate), gen

    def __call__(self, sup: Any, decision: str, logits: torch.Tensor) -> tuple:
        shape = logits.shape
        u = torch.rand(shape, generator=self.gen)
        if sup._kind[decision] == "subset":
            keep = u >= self.rate
        else:
            k = shape[-1]
            keep = u >= self.rate ** (1.0 / k)
            rows = keep.view(-1, k)
            for r in range(rows.shape[0]):  # a row with every option dropped keeps one, uniformly
                if not rows[r].any():
                    rows[r, int(torch.randint(k, (1,), generator=self.gen))] = True
        return keep.to(device=logits.device, dtype=logits.dtype), keep.tolist()


__all__ = ["BinaryGates", "Dirichlet", "Gumbel", "PathDropout"]
