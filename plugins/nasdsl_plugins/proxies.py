"""Zero-cost proxies: scores of an untrained network from one minibatch, no training.

Each proxy takes a freshly initialised ``torch.nn.Module`` and one minibatch ``(x, y)`` and returns one float,
higher meaning "predicted to train better".  :func:`score` runs each proxy on its own copy of the model, so
the model it is given is left as it was (a proxy function itself may change its model: synflow makes every
parameter positive).
The definitions follow Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), where the
pruning-at-init scores are summed over the weights of every convolution and linear layer:

``grad_norm``  sum over layers of the Euclidean norm of dL/dW (cross-entropy on the minibatch);
``snip``       sum of |W * dL/dW| (Lee et al. 2019);
``grasp``      sum of -(W * Hg), Hg the Hessian of L times its gradient g (Wang et al. 2020);
``fisher``     per activation channel z of every conv / linear output: 1/2 * mean over the batch of
               (sum over positions of z * dL/dz)^2, summed (Theis et al. 2018; Turner et al. 2020);
``jacob_cov``  the eigenvalues v of the correlation matrix of the per-example input Jacobians (the gradient
               of the summed outputs w.r.t. each input), scored -sum(log(v + k) + 1 / (v + k)), k = 1e-5
               (Mellor et al., first version);
``naswot``     log |K| with K = c c^T + (1 - c)(1 - c)^T, c the binary codes (unit > 0) of every ReLU of
               the network on each example (Mellor et al., ICML 2021);
``synflow``    sum of |W * dR/dW|, R the sum of the outputs of the network with every parameter replaced by
               its absolute value, on an all-ones input of one example, in float64, BatchNorm in eval mode
               (Tanaka et al. 2020).  It reads no data: the same for any minibatch.

Two degenerate cases have a score instead of NaN, both the worst their formula gives: a Jacobian row
that does not vary (the output does not depend on the input) counts as uncorrelated with every other row,
and a network without ReLUs, or whose codes repeat, has ``1e-6 I`` added to K so that log |K| is finite.
"""

from __future__ import annotations

import copy
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .torch_backend.backend import forward_hooks

JACOB_K = 1e-5
NASWOT_RIDGE = 1e-6
VOTE = ("synflow", "jacob_cov", "snip")  # the paper's majority vote


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear))]


def _logits(out: object) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out  # (logits, auxiliary logits) in training mode


def _loss_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(W, dL/dW) of every conv and linear layer, L the cross-entropy on the minibatch."""
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(_logits(model(x)), y).backward()
    return [(m.weight.detach(), m.weight.grad.detach() if m.weight.grad is not None else torch.zeros_like(m.weight))
            for m in _layers(model)]


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(sum(g.norm() for _, g in _loss_grads(model, x, y)))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(sum((w * g).abs().sum() for w, g in _loss_grads(model, x, y)))


def grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    weights = [m.weight for m in _layers(model)]
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(_logits(model(x)), y)
    g = [t.detach() for t in torch.autograd.grad(loss, weights, allow_unused=True, materialize_grads=True)]
    loss = F.cross_entropy(_logits(model(x)), y)
    g2 = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True, materialize_grads=True)
    z = sum((a * b).sum() for a, b in zip(g2, g))
    if not z.requires_grad:  # the loss does not depend on any weight: no curvature
        return 0.0
    hg = torch.autograd.grad(z, weights, allow_unused=True, materialize_grads=True)
    return float(-sum((w.detach() * h).sum() for w, h in zip(weights, hg)))


def fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    acts: list[torch.Tensor] = []

    def keep(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        if out.requires_grad:
            out.retain_grad()
            acts.append(out)

    with forward_hooks((m, keep) for m in _layers(model)):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(_logits(model(x)), y).backward()
    total = 0.0
    for a in acts:
        if a.grad is None:
            continue
        per = (a * a.grad).detach()
        per = per.sum(dim=tuple(range(2, per.dim()))) if per.dim() > 2 else per  # sum over positions: (N, C)
        total += float((0.5 * per.pow(2).mean(0)).sum())
    return total


def jacob_cov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    x = x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    out = _logits(model(x))
    (jac,) = torch.autograd.grad(out.sum(), x, allow_unused=True, materialize_grads=True)
    return _jacob_score(jac.reshape(len(x), -1).double())


def _jacob_score(j: torch.Tensor) -> float:
    """-sum(log(v + k) + 1 / (v + k)) over the eigenvalues v of the rows' correlation matrix; a row with no
    variance is uncorrelated with the others (its correlations 0, its own 1 only if it varies)."""
    c = j - j.mean(1, keepdim=True)
    sd = c.norm(dim=1)
    ok = sd > 1e-12 * (1.0 + float(sd.max()))
    c = torch.where(ok[:, None], c / torch.where(ok, sd, torch.ones_like(sd))[:, None], torch.zeros_like(c))
    corr = c @ c.T
    v = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    return float(-(torch.log(v + JACOB_K) + 1.0 / (v + JACOB_K)).sum())


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    codes: list[torch.Tensor] = []

    def keep(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        codes.append((out.detach().reshape(len(out), -1) > 0).double())

    with forward_hooks((m, keep) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))), torch.no_grad():
        model(x)
    n = len(x)
    k = torch.zeros(n, n, dtype=torch.float64)
    for c in codes:
        k += c @ c.T + (1.0 - c) @ (1.0 - c).T
    return _logdet(k)


def _logdet(k: torch.Tensor) -> float:
    sign, logdet = torch.linalg.slogdet(k + NASWOT_RIDGE * torch.eye(len(k), dtype=k.dtype))
    return float(logdet) if float(sign) > 0 else -math.inf


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model = model.double().eval()  # BatchNorm on its (initial) running statistics, not the batch's
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    _logits(model(ones)).sum().backward()
    return float(sum((m.weight.detach() * m.weight.grad).abs().sum() for m in _layers(model) if m.weight.grad is not None))


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "grad_norm": grad_norm, "snip": snip, "grasp": grasp, "fisher": fisher, "jacob_cov": jacob_cov,
    "naswot": naswot, "synflow": synflow}


def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: tuple[str, ...] = tuple(PROXIES)) -> dict[str, float]:
    """Each named proxy of ``model`` on the minibatch, every one on its own copy of the model."""
    unknown = [n for n in names if n not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxy {', '.join(unknown)}; proxies: {', '.join(PROXIES)}")
    return {n: PROXIES[n](copy.deepcopy(model), x, y) for n in names}


__all__ = ["PROXIES", "VOTE", "fisher", "grad_norm", "grasp", "jacob_cov", "naswot", "score", "snip", "synflow"]
