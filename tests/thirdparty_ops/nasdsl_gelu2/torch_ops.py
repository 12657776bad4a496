"""The PyTorch module of ``gelu2`` (imported only when a model is built)."""

from __future__ import annotations

import math

import torch
from torch import nn


class Gelu2(nn.Module):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), written out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
