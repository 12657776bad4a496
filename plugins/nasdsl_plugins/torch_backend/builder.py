"""Architecture IR -> ``torch.nn.Module``, compiled once into straight-line code.

The DAG is turned into a ``torch.fx`` graph (one ``call_module`` per op node,
``add`` / ``mul`` / ``cat`` for merges) and wrapped in a ``GraphModule``, whose generated
``forward`` is plain Python: no graph is interpreted per call, and the module
works with ``torch.compile``, TorchScript and ONNX export.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Callable

import torch
from torch import fx, nn

from nasdsl import primitives
from nasdsl.architecture import Architecture
from nasdsl.errors import NasdslError


class BuildError(NasdslError):
    """An architecture the PyTorch backend cannot build (names the op and where it comes from)."""


class DropPath(nn.Module):
    """Zero a whole sample's branch with probability ``p`` while training (DARTS' drop path)."""

    def __init__(self) -> None:
        super().__init__()
        self.p = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0.0:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.dim() - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x / keep * mask


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier for 8x8 maps: ReLU, 5x5 avg pool /3, 1x1 conv 128, BN, ReLU, 2x2 conv 768, BN, ReLU, linear.

    Maps smaller than 5x5 (small inputs such as 8x8 digits) are pooled to 2x2 adaptively instead.
    """

    def __init__(self, channels: int, classes: int, size: int = 8):
        super().__init__()
        pool: nn.Module = (nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False) if size >= 5
                           else nn.AdaptiveAvgPool2d(2))
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def _safe(name: str, taken: set[str]) -> str:
    s = re.sub(r"\W", "_", name).strip("_") or "op"
    if s[0].isdigit():
        s = "n" + s
    base, i = s, 2
    while s in taken:
        s = f"{base}_{i}"
        i += 1
    taken.add(s)
    return s


class Network(nn.Module):
    """Holds the op modules; its ``forward`` is replaced by the generated one of a GraphModule."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = nn.ModuleDict()
        self.drop = nn.ModuleDict()


def build(arch: Architecture, get_op: Callable[[str], Callable[..., nn.Module] | None], *,
          drop_path: bool = True, auxiliary: bool = False) -> fx.GraphModule:
    """Build ``arch`` into a GraphModule.

    Args:
        arch: a linted Architecture IR.
        get_op: base op name -> factory ``(args, in_shape) -> nn.Module`` (None when unknown).
        drop_path: put a DropPath after every non-identity op that feeds a sum (DARTS cells);
            inactive until ``set_drop_path(model, p)`` sets p > 0.
        auxiliary: add DARTS' auxiliary head on the first cell output at the final resolution;
            ``forward`` then returns ``(logits, aux_logits)``.
    """
    g = arch.graph
    root = Network()
    graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    taken: set[str] = set()
    order = arch.topological()
    # build every module first, so an unsupported op is reported before anything runs
    modules: dict[str, nn.Module] = {}
    for n in order:
        a = g.nodes[n]
        if a["kind"] != "op":
            continue
        base = a.get("base") or a["op"]
        factory = get_op(base)
        if factory is None:
            raise BuildError(_no_implementation(a["op"], base, a.get("span", "?")))
        ins = arch.inputs_of(n)
        in_shape = tuple(g.nodes[ins[0]]["shape"])
        try:
            modules[n] = factory(dict(a.get("args") or {}), in_shape)
        except (ValueError, TypeError) as e:
            raise BuildError(f"op '{a['op']}' (at {a.get('span', '?')}): {e}") from None
    feeds_sum = {u for u, v in g.edges() if g.nodes[v]["kind"] == "sum"}
    for n in order:
        a = g.nodes[n]
        kind = a["kind"]
        ins = [values[u] for u in arch.inputs_of(n)]
        if kind == "input":
            values[n] = graph.placeholder("x")
        elif kind == "op":
            name = _safe(n, taken)
            root.ops[name] = modules[n]
            out = graph.call_module(f"ops.{name}", (ins[0],))
            if drop_path and n in feeds_sum and (a.get("base") or a["op"]) not in ("skip_connect", "none"):
                root.drop[name] = DropPath()
                out = graph.call_module(f"drop.{name}", (out,))
            values[n] = out
        elif kind == "sum":
            acc = ins[0]
            for t in ins[1:]:
                acc = graph.call_function(operator.add, (acc, t))
            values[n] = acc
        elif kind == "mul":
            acc = ins[0]
            for t in ins[1:]:
                acc = graph.call_function(operator.mul, (acc, t))
            values[n] = acc
        elif kind == "concat":
            values[n] = graph.call_function(torch.cat, (tuple(ins), 1))
        elif kind == "output":
            result: Any = ins[0]
            if auxiliary:
                src = _aux_source(arch)
                shape = g.nodes[src]["shape"]
                root.aux = AuxiliaryHead(shape[0], int(a["shape"][0]), size=min(shape[1:]))
                result = (ins[0], graph.call_module("aux", (values[src],)))
            graph.output(result)
        else:  # pragma: no cover - lint rejects other kinds
            raise BuildError(f"node '{n}' has unknown kind {kind!r}")
    graph.lint()
    gm = fx.GraphModule(root, graph, class_name="NasdslNetwork")
    gm.meta["space"] = arch.space
    return gm


def _no_implementation(op: str, base: str, span: str) -> str:
    """Why an op cannot be built: it names the op, the backend, who declared the op and how to add one."""
    origin = primitives.declared_by(base)
    declared = f"; the op is declared by plugin '{origin}'" if origin not in (None, primitives.CORE) else ""
    alias = f" (an alias of '{base}')" if base != op else ""
    return (f"op '{op}'{alias} (at {span}) has no PyTorch implementation: the 'torch' backend has no op "
            f"'{base}'{declared}; a plugin can add one with register_ops: "
            f"register({base!r}, factory, backend=\"torch\")")


def _aux_source(arch: Architecture) -> str:
    """DARTS attaches the auxiliary head to the output of the cell that first reaches the final resolution."""
    g = arch.graph
    pooled = [n for n in arch.topological() if g.nodes[n].get("base") == "global_avg_pool"]
    if not pooled:
        raise BuildError("the auxiliary head needs a global_avg_pool in the network")
    final = tuple(g.nodes[arch.inputs_of(pooled[0])[0]]["shape"])
    for n in arch.topological():
        a = g.nodes[n]
        if a["kind"] == "concat" and tuple(a["shape"]) == final:
            return n
    raise BuildError("no cell output at the final resolution for the auxiliary head")


def set_drop_path(model: nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, DropPath):
            m.p = float(p)
