"""Hardware-aware differentiable search: ProxylessNAS and FBNet optimise a latency a table predicts.

Both read a ``nasdsl latency`` table (``-S latency_table=PATH``), or time one on this device when the search
starts (kept in the checkpoint, so a resumed run optimises the same numbers).  The expected latency of the
supernet is E[LAT] = Σ over the choices of Σᵢ wᵢ · LAT(option i) + LAT(the ops under no choice), with w the
probabilities (ProxylessNAS: softmax(α)) or the sampled Gumbel weights (FBNet), through
:meth:`Supernet.expected_cost`; an op under a depth choice counts as fixed (its depth's probability is not
in the sum).

* :class:`ProxylessSearch`: binary gates (:class:`~.relax.BinaryGates`); after each architecture step the
  two sampled logits of every row are shifted by log(Σ e^α_old / Σ e^α_new) over the pair, so the paths not
  sampled keep their probability (exactly, without a latency term; the latency term's gradient reaches
  every option, as in the reference code).
* :class:`FbnetSearch`: Gumbel-softmax weights, temperature τ₀ · exp(−0.045 · epoch), architecture loss
  CE · α · log(LAT)^β.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from nasdsl.latency import LatencyError, op_key

from .config import DartsError, FbnetConfig, ProxylessConfig
from .darts import DartsSearch
from .relax import BinaryGates, Gumbel


class LatencyAware(DartsSearch):
    """A DARTS-style search whose architecture loss reads the supernet's expected latency."""

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.input_shape = tuple(self.supernet.input_shape)
        self.set_table(self.read_latency_table(self.config.latency_table, self.input_shape))

    def set_table(self, table: dict[str, Any]) -> None:
        self.latency_table = table
        self.supernet._costs.pop("latency", None)
        self.expected_latency()  # every op of the supernet must be in it: refused now, not mid-run

    def _cost(self, n: str, j: Any) -> float:
        sup = self.supernet
        spec = sup._spec[n] if j is None else sup._variants[n][j]
        row = self.latency_table["ops"].get(op_key(*spec))
        if row is None:
            raise LatencyError(f"the latency table has no op {spec[0]} with {spec[1]} at input {list(spec[2])} (node "
                               f"'{n}'): it is of another space or input; measure it again with nasdsl latency")
        return float(row["median_ms"]) * (1000.0 if self.config.lat_unit == "us" else 1.0)

    def expected_latency(self, mix: Any = None) -> torch.Tensor:
        """E[LAT] (in ``lat_unit``) under ``mix`` (default: softmax of α, every option on)."""
        sup = self.supernet
        if mix is None:
            mix = {d: (torch.softmax(sup.logits(d), -1), None) for d in sup._alpha}
        return sup.expected_cost("latency", self._cost, mix, fixed=True)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
        """The derived child's accuracy on the shared weights."""
        return self.child_accuracy(x, y, batch)

    def run_epoch(self) -> dict[str, Any]:
        rec = super().run_epoch()
        with torch.no_grad():
            rec["expected_latency"] = float(self.expected_latency())
        return rec

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "latency_table": json.dumps(self.latency_table)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.set_table(json.loads(state["latency_table"]))


class ProxylessSearch(LatencyAware):
    """ProxylessNAS: binary gates, two paths per architecture step, the latency in the loss."""

    config_class = ProxylessConfig

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.gates = torch.Generator().manual_seed(self.config.seed + 4)
        with torch.no_grad():
            self.target = self.config.target_latency or float(self.expected_latency())
        if self.config.latency_loss == "mul#log" and self.target <= 1:
            raise DartsError(f"ProxylessNAS' mul#log loss takes log of the latency, and the target is {self.target:.3g} "
                             f"{self.config.lat_unit}: use -S lat_unit=us, a larger -S target_latency, or "
                             "-S latency_loss=add#linear")

    def relaxation(self) -> Any:
        return BinaryGates(self.gates) if hasattr(self, "gates") else super().relaxation()

    def arch_objective(self, lv: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.latency_loss == "none":
            return lv
        lat = self.expected_latency()
        if cfg.latency_loss == "add#linear":
            return lv + cfg.lat_alpha * (lat - self.target) / self.target
        ratio = torch.log(lat.clamp_min(1 + 1e-6)) / math.log(self.target)
        return lv * cfg.lat_alpha * ratio ** cfg.lat_beta

    def step(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> tuple[float, Any]:
        """An architecture step on two paths per row (then the pair's logits shifted back), then a weight step on
        one path per row."""
        self.supernet.train()
        a_loss = None
        if self.epoch >= self.config.warmup:
            self.supernet.relax = BinaryGates(self.gates, two=True)
            grads, a_loss = self._arch_gradient(xt, yt, xv, yv)
            pairs = {d: on for d, (_, on) in self.supernet.last_mixture.items()}
            old = {d: self.supernet.alpha(d).detach().clone() for d in pairs}
            self.a_opt.zero_grad(set_to_none=True)
            for p, g in zip(self.alphas, grads):
                p.grad = g.detach()
            self.a_opt.step()
            self.rescale(pairs, old)
        self.supernet.relax = BinaryGates(self.gates)
        self.w_opt.zero_grad(set_to_none=True)
        lt = self._weight_loss(xt, yt)
        self._backward(lt)
        for p in self.alphas:
            p.grad = None
        return self._weight_step(lt), a_loss

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "gates": self.gates.get_state(), "target": self.target}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.gates.set_state(state["gates"])
        self.target = float(state["target"])

    def rescale(self, pairs: dict[str, list], old: dict[str, torch.Tensor]) -> None:
        """Shift each row's sampled logits so that their exponentials sum as before the step."""
        with torch.no_grad():
            for d, on in pairs.items():
                a = self.supernet.alpha(d)
                rows, before = a.view(-1, a.shape[-1]), old[d].view(-1, a.shape[-1])
                mask = torch.tensor(on, dtype=torch.bool, device=a.device).view(rows.shape)
                for r in range(rows.shape[0]):
                    m = mask[r]
                    offset = torch.logsumexp(rows[r][m], 0) - torch.logsumexp(before[r][m], 0)
                    rows[r][m] -= offset


class FbnetSearch(LatencyAware):
    """FBNet: Gumbel-softmax weights, the architecture loss CE · α · log(LAT)^β."""

    config_class = FbnetConfig

    def relaxation(self) -> Any:
        return Gumbel(self.config.tau * math.exp(-self.config.tau_decay * self.epoch))

    def arch_objective(self, lv: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        lat = self.expected_latency(self.supernet.last_mixture)
        if float(lat.detach()) <= 1:
            raise DartsError(f"FBNet's loss takes log of the latency, and it is {float(lat.detach()):.3g} {cfg.lat_unit} "
                             "here: use -S lat_unit=us")
        return lv * cfg.lat_alpha * torch.log(lat) ** cfg.lat_beta


__all__ = ["FbnetSearch", "LatencyAware", "ProxylessSearch"]
