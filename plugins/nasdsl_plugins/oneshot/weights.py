"""What every one-shot run has, whatever it does with the architecture: the supernet, the weights' optimizer
and schedule, the halves of the training split, mixed precision, checkpoints.

The training split is halved with the run's seed: the first half trains the weights, the second is what
the architecture is chosen on (DARTS' α steps, a sampled child's score); the validation split is left for
the final evaluation of the retrained genotype.  The weights: SGD with momentum and weight decay, cosine
to ``w_lr_min`` over ``epochs``, gradient norm clipped at ``grad_clip``; ``amp`` runs their forward under
autocast (fp16 through a gradient scaler).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from ..torch_backend.supernet import Supernet, build_supernet
from .config import DartsError


class SharedWeights:
    """One run on the supernet of ``space``: its weights and their optimizer, the data halves, the epoch.
    ``single_level``: one batch and one loss for everything (the whole training split for both halves)."""

    config_class: type
    single_level = False

    def __init__(self, space: Any, dataset: Any, config: Any = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise DartsError(f"{type(self).__name__} takes a {self.config_class.__name__}")
        self.space, self.config = space, config
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.supernet: Supernet = build_supernet(space, dataset.input_shape, **self.supernet_options(config))
        self.supernet.to(device=self.device, dtype=dtype)
        self.dtype = dtype
        n = len(dataset.y_train)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed))
        half = n // 2
        x = torch.as_tensor(dataset.x_train, dtype=dtype)
        y = torch.as_tensor(dataset.y_train, dtype=torch.long)
        if self.single_level:
            half = n
            self.w_x, self.w_y = self.a_x, self.a_y = x[perm], y[perm]
        else:
            self.w_x, self.w_y = x[perm[:half]], y[perm[:half]]
            self.a_x, self.a_y = x[perm[half:]], y[perm[half:]]
        self.valid = (torch.as_tensor(dataset.x_valid, dtype=dtype), torch.as_tensor(dataset.y_valid, dtype=torch.long))
        self.weights = self.supernet.weights()
        self.w_opt = torch.optim.SGD(self.weights, lr=config.w_lr, momentum=config.w_momentum,
                                     weight_decay=config.w_weight_decay)
        self.steps_per_epoch = math.ceil(half / config.batch_size)
        if config.max_steps:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_steps)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, T_max=config.epochs, eta_min=config.w_lr_min)
        self.epoch = 0
        self.stopped = ""  # why the run stopped before its last epoch, once it has
        self.gen = torch.Generator().manual_seed(config.seed + 1)
        self.amp = self._amp_dtype(config.amp)  # the weights' forward under autocast to this dtype (None: off)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp == torch.float16 else None

    def supernet_options(self, config: Any) -> dict[str, Any]:
        """What the supernet is built with (DARTS: the added ``none``; PC-DARTS: partial channels)."""
        return {}

    def _amp_dtype(self, amp: str) -> Optional[torch.dtype]:
        if amp == "auto":
            amp = "fp16" if self.device.type == "cuda" and self.dtype == torch.float32 else "off"
        if amp != "off" and self.dtype != torch.float32:
            raise DartsError(f"amp={amp} needs float32 weights; the supernet is {self.dtype}")
        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)

    # ---------------------------------------------------------------- the weights' step
    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.supernet(x.to(self.device)), y.to(self.device))

    def _weight_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The weights' training loss, its forward under autocast when amp is on (an architecture step never is)."""
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            return self.loss(x, y)

    def _backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def _weight_step(self, lt: torch.Tensor, also: Optional[torch.optim.Optimizer] = None) -> float:
        """Clip and step the weights, then ``also`` (single level: α's optimizer, unclipped).  Under fp16 both go
        through the grad scaler: unscaled first, a step with an inf/NaN gradient skipped, the scale updated once."""
        opts = [self.w_opt] + ([also] if also is not None else [])
        if self.scaler is not None:
            for opt in opts:
                self.scaler.unscale_(opt)
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.weights, self.config.grad_clip)
        for opt in opts:
            if self.scaler is None:
                opt.step()
            else:
                self.scaler.step(opt)
        if self.scaler is not None:
            self.scaler.update()
        value = float(lt.detach())
        if not math.isfinite(value):
            raise DartsError(f"the supernet's training loss became {value} at epoch {self.epoch + 1}")
        return value

    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's (weights' batch indices, architecture batch indices), one pair per step."""
        bs = self.config.batch_size
        wi = torch.randperm(len(self.w_y), generator=self.gen)
        ai = torch.randperm(len(self.a_y), generator=self.gen)
        out = []
        for s in range(self.steps_per_epoch):
            tw, ta = wi[s * bs:(s + 1) * bs], ai[(s * bs) % len(ai):][:bs]
            if len(ta) < len(tw):
                ta = ai[:len(tw)]
            out.append((tw, ta))
        return out

    # ---------------------------------------------------------------- the run
    def run_epoch(self) -> dict[str, Any]:  # pragma: no cover - every method has its own
        raise NotImplementedError

    @property
    def done(self) -> bool:
        return bool(self.stopped) or self.epoch >= self.total_epochs

    @property
    def total_epochs(self) -> int:
        return self.config.epochs

    def run(self, on_epoch: Optional[Callable[[dict[str, Any]], None]] = None) -> list[dict[str, Any]]:
        """The remaining epochs; each epoch's record is given to ``on_epoch`` as it ends."""
        out = []
        while not self.done:
            rec = self.run_epoch()
            out.append(rec)
            if on_epoch is not None:
                on_epoch(rec)
        return out

    def _accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
        """The supernet's accuracy on (x, y) in eval mode, as it is set now (mixed, or a child)."""
        was = self.supernet.training
        self.supernet.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(y), batch):
                correct += int((self.supernet(x[i:i + batch].to(self.device)).argmax(1).cpu() == y[i:i + batch]).sum())
        self.supernet.train(was)
        return correct / max(1, len(y))

    # ---------------------------------------------------------------- checkpoints
    def read_latency_table(self, path: str, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """The latency table a search reads: ``path``'s (a ``nasdsl latency`` table, which must have been timed
        at this input), or, with no path, one timed on this device now."""
        if path:
            from nasdsl.latency import load_table

            table = load_table(path)
            if list(table.get("input_shape") or []) != list(input_shape):
                raise DartsError(f"the latency table {path} was measured at input {table.get('input_shape')}, "
                                 f"and the supernet's input is {list(input_shape)}")
            return table
        from ..torch_backend.latency import measure_table

        return measure_table(self.space, tuple(input_shape), repeats=10, warmup=2, device=self.device)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (plain tensors and numbers: loads with weights_only=True)."""
        return {"supernet": self.supernet.state_dict(), "w_opt": self.w_opt.state_dict(),
                "sched": self.sched.state_dict(), "epoch": self.epoch, "stopped": self.stopped, "gen": self.gen.get_state(),
                "torch_rng": torch.get_rng_state(), "config": asdict(self.config), "method": self.config.method,
                "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("config") != asdict(self.config) or state.get("method", "DARTS") != self.config.method:
            raise DartsError(f"the checkpoint is of a {state.get('method', 'DARTS')} run with other options")
        self.supernet.load_state_dict(state["supernet"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.sched.load_state_dict(state["sched"])
        self.epoch = int(state["epoch"])
        self.stopped = str(state.get("stopped", ""))
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":  # samples drawn on the GPU
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if state.get("scaler") is not None and self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])


__all__ = ["SharedWeights"]
