"""Weight slicing: a smaller op run on a slice of one op's weights (value choices in the supernet).

The supernet builds an op whose arguments are value choices (``mbconv(k = {3, 5, 7}, e = {3, 4, 6})``,
``tokens(embed)``, ``mlp(E * ratio)``) once, at the largest value of each choice.  A child at a smaller
value runs the op the backend would build for it (:func:`child_module`, on the meta device: no memory)
with every parameter and buffer a slice of the large op's:

* a convolution's kernel is centre-cropped (a 3x3 kernel is the middle of the 7x7 one);
* every other dimension that is smaller keeps its prefix (the first channels, the first hidden units,
  the first features): a conv's output and input channels, a linear layer's rows and columns, a norm's
  scale, shift and running statistics;
* a tensor that stacks several equal blocks along its first dimension keeps the prefix of each block: a
  module declares it with a ``slice_chunks`` attribute, {its state key: number of blocks} (the q, k, v
  rows of an attention's one input projection: ``{"qkv.weight": 3, "qkv.bias": 3}``).

The slices are views where they can be (plain slices: gradients reach the large op's weights, and a
norm's running statistics are updated in place); a chunked tensor is a concatenation, so it is
allowed for parameters only.  :class:`Slicer` refuses, with the reason, a child whose state is not such
a slice (another structure, a larger dimension, a kernel crop that is not centred).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.func import functional_call


def _spatial_keys(module: nn.Module) -> set[str]:
    """State keys of convolution kernels (their dimensions from 2 on are spatial: centre-cropped)."""
    return {f"{name}.weight" if name else "weight" for name, m in module.named_modules()
            if isinstance(m, nn.modules.conv._ConvNd)}


def _chunk_keys(module: nn.Module) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, m in module.named_modules():
        for key, n in getattr(m, "slice_chunks", {}).items():
            out[f"{name}.{key}" if name else key] = int(n)
    return out


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``module`` by its state key."""
    out = dict(module.named_parameters())
    out.update(module.named_buffers())
    return out


def _state_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(t.shape) for k, t in _tensors(module).items()}


class SliceError(ValueError):
    """The child op's state is not a slice of the large op's."""


def plan_slices(full: nn.Module, child: nn.Module) -> dict[str, Optional[tuple]]:
    """For each state key of ``child``: None (the large op's tensor as it is), or (chunks, slices) that cut
    the child's tensor from the large op's.  Raises :class:`SliceError` with the reason when it is not one."""
    fs, cs = _state_shapes(full), _state_shapes(child)
    if set(fs) != set(cs):
        extra, missing = sorted(set(cs) - set(fs)), sorted(set(fs) - set(cs))
        raise SliceError("the ops differ in structure (" + "; ".join(
            s for s in (f"only the smaller has {', '.join(extra)}" if extra else "",
                        f"only the larger has {', '.join(missing)}" if missing else "") if s) + ")")
    spatial, chunks = _spatial_keys(full), _chunk_keys(full)
    buffers = {k for k, _ in full.named_buffers()}
    plan: dict[str, Optional[tuple]] = {}
    for key, c in cs.items():
        f = fs[key]
        if len(f) != len(c):
            raise SliceError(f"'{key}' has rank {len(c)} in the smaller op and {len(f)} in the larger")
        if f == c:
            plan[key] = None
            continue
        n = chunks.get(key, 1)
        if n > 1 and key in buffers:
            raise SliceError(f"buffer '{key}' is declared in blocks, which cannot be sliced in place")
        if n > 1 and (f[0] % n or c[0] % n):
            raise SliceError(f"'{key}' is declared as {n} blocks but has {f[0]} / {c[0]} rows")
        sl = []
        for d, (fd, cd) in enumerate(zip(f, c)):
            if d == 0 and n > 1:
                fd, cd = fd // n, cd // n
            if cd > fd:
                raise SliceError(f"'{key}' is larger in the smaller op ({list(c)} against {list(f)})")
            if key in spatial and d >= 2:
                if (fd - cd) % 2:
                    raise SliceError(f"kernel '{key}' of size {cd} is not a centred crop of size {fd}")
                lo = (fd - cd) // 2
                sl.append(slice(lo, lo + cd))
            else:
                sl.append(slice(0, cd))
        plan[key] = (n, tuple(sl), f[0] // n)
    return plan


def _cut(t: torch.Tensor, step: tuple) -> torch.Tensor:
    n, sl, block = step
    if n == 1:
        return t[sl]
    rows = sl[0]
    return torch.cat([t[(slice(i * block + rows.start, i * block + rows.stop), *sl[1:])] for i in range(n)], 0)


class Slicer:
    """Runs ``child`` (a module on the meta device: its structure and arguments) on slices of a large op's
    state; ``state(full)`` gives those slices (what ``export`` loads into the child's own module)."""

    def __init__(self, full: nn.Module, child: nn.Module):
        self.plan = plan_slices(full, child)
        self.child = child

    def state(self, full: nn.Module) -> dict[str, torch.Tensor]:
        own = _tensors(full)
        return {k: own[k] if step is None else _cut(own[k], step) for k, step in self.plan.items()}

    def __call__(self, full: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.child.training != full.training:
            self.child.train(full.training)
        return functional_call(self.child, self.state(full), (x,), strict=True)

    def param_count(self) -> int:
        """How many parameters the sliced op has."""
        return sum(p.numel() for p in self.child.parameters())


def child_module(factory: Any, args: Mapping[str, Any], in_shape: Sequence[int]) -> nn.Module:
    """The op ``factory`` builds for ``args`` on ``in_shape``, on the meta device (no memory)."""
    with torch.device("meta"):
        return factory(dict(args), tuple(in_shape))


__all__ = ["SliceError", "Slicer", "child_module", "plan_slices"]
