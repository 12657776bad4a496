"""The options of the one-shot strategies (no torch here: a strategy's options are checked without it)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from nasdsl.errors import NasdslError
from nasdsl.plugins import convert_option


class DartsError(NasdslError):
    """A bad DARTS option, or a search that diverged."""


@dataclass
class DartsConfig:
    """DARTS' hyperparameters (the paper's defaults; every one can be overridden with ``-S``)."""

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
    max_steps: int = 0  # > 0: at most this many steps per epoch (a shorter run)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise DartsError(f"order is 1 or 2; got {self.order}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise DartsError(f"{name} must be at least 1; got {getattr(self, name)}")
        for name in ("w_lr", "a_lr"):
            if not getattr(self, name) > 0:
                raise DartsError(f"{name} must be positive; got {getattr(self, name)}")
        for name in ("w_lr_min", "w_weight_decay", "a_weight_decay", "grad_clip", "max_steps"):
            if getattr(self, name) < 0:
                raise DartsError(f"{name} must be 0 or more; got {getattr(self, name)}")
        for name in ("w_momentum", "a_beta1", "a_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise DartsError(f"{name} must be in [0, 1); got {getattr(self, name)}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "DartsConfig":
        """From ``-S`` options (strings converted to each field's type; an unknown name is an error)."""
        known = {f.name: type(f.default) for f in fields(cls)}
        out: dict[str, Any] = {}
        for k, v in options.items():
            if k not in known:
                raise DartsError(f"DARTS has no option '{k}'; options: {', '.join(known)}")
            try:
                out[k] = convert_option(known[k], v)
            except ValueError as e:
                raise DartsError(f"DARTS option '{k}' {e}") from None
        return cls(**out)
