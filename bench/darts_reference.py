"""A plain, hand-written PyTorch DARTS CIFAR-10 evaluation network (no nasdsl).

The reference that ``bench/bench_torch.py`` times nasdsl's generated model
against.  Written from the published definitions (Liu, Simonyan & Yang, ICLR
2019; the op definitions are summarised in NAS-SURVEY.md), in the usual
"Python loop over cells and nodes" style of hand-written DARTS code:

* stem: conv 3x3 (3 -> 3C) + BN;
* ``layers`` cells; the cells at ``layers // 3`` and ``2 * layers // 3`` are
  reduction cells: they double the channels and apply stride 2 on every op
  that reads one of the two cell inputs;
* a cell: preprocess0 = ReLU-conv1x1-BN (FactorizedReduce when the previous
  cell was a reduction cell), preprocess1 = ReLU-conv1x1-BN; 4 nodes, each the
  sum of two ops on earlier states; output = concat of nodes 2..5;
* head: global average pool + linear.

Ops: sep_conv_k = (ReLU, depthwise kxk, 1x1, BN) twice, stride in the first
depthwise conv only; dil_conv_k = ReLU, depthwise kxk dilation 2, 1x1, BN;
skip_connect = identity (FactorizedReduce at stride 2); max/avg pool 3x3
padding 1 (avg does not count the padding); every conv is bias-free; BN affine.

No drop path and no auxiliary head.  ``DARTS_V2`` at C=36, 20 layers, 10
classes has exactly 3,349,342 parameters (checked by ``python
bench/darts_reference.py``).
"""

from __future__ import annotations

import ast
from collections import namedtuple
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

DARTS_V2_STR = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)

DARTS_V2_PARAMS = 3_349_342


def parse_genotype(text: str) -> Genotype:
    """Read a ``Genotype(normal=[...], normal_concat=range(2, 6), ...)`` string without ``eval``."""
    node = ast.parse(text.strip(), mode="eval").body
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Genotype"):
        raise ValueError("expected Genotype(...)")

    def value(v: ast.AST):
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "range":
            return list(range(*[ast.literal_eval(a) for a in v.args]))
        return ast.literal_eval(v)

    fields = {kw.arg: value(kw.value) for kw in node.keywords}
    return Genotype(normal=[tuple(e) for e in fields["normal"]], normal_concat=list(fields["normal_concat"]),
                    reduce=[tuple(e) for e in fields["reduce"]], reduce_concat=list(fields["reduce_concat"]))


DARTS_V2 = parse_genotype(DARTS_V2_STR)


# ----------------------------------------------------------------------------- ops


class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.relu(x)))


class DilConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.depthwise = nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                                   groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pointwise(self.depthwise(self.relu(x))))


class SepConv(nn.Module):
    """Two stacked dilation-1 DilConvs; only the first one is strided."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.first = DilConv(c_in, c_in, kernel, stride, padding, 1)
        self.second = DilConv(c_in, c_out, kernel, 1, padding, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


class FactorizedReduce(nn.Module):
    """ReLU, then two 1x1 stride-2 convs to C/2 each (on x and x shifted one pixel), concat, BN."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        assert c_out % 2 == 0
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(x[:, :, 1:, 1:])], dim=1))


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


OPS: Dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda c, s: Zero(s),
    "skip_connect": lambda c, s: Identity() if s == 1 else FactorizedReduce(c, c),
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, stride=s, padding=1),
    "avg_pool_3x3": lambda c, s: nn.AvgPool2d(3, stride=s, padding=1, count_include_pad=False),
    "sep_conv_3x3": lambda c, s: SepConv(c, c, 3, s, 1),
    "sep_conv_5x5": lambda c, s: SepConv(c, c, 5, s, 2),
    "dil_conv_3x3": lambda c, s: DilConv(c, c, 3, s, 2, 2),
    "dil_conv_5x5": lambda c, s: DilConv(c, c, 5, s, 4, 2),
}


# ----------------------------------------------------------------------------- network


class Cell(nn.Module):
    def __init__(self, genotype: Genotype, c_prev_prev: int, c_prev: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        edges: Sequence[Tuple[str, int]] = genotype.reduce if reduction else genotype.normal
        concat = genotype.reduce_concat if reduction else genotype.normal_concat
        assert len(edges) % 2 == 0
        self.steps = len(edges) // 2
        self.concat: List[int] = list(concat)
        self.indices: List[int] = [idx for _, idx in edges]
        self.ops = nn.ModuleList()
        for name, idx in edges:
            stride = 2 if reduction and idx < 2 else 1
            self.ops.append(OPS[name](c, stride))
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self.steps):
            a = self.ops[2 * i](states[self.indices[2 * i]])
            b = self.ops[2 * i + 1](states[self.indices[2 * i + 1]])
            states.append(a + b)
        return torch.cat([states[i] for i in self.concat], dim=1)


def stack_cells(net: nn.Module, C: int, layers: int, classes: int, stem_multiplier: int, make_cell) -> None:
    """DARTS' CIFAR macro structure on ``net``: the stem, ``layers`` cells made by
    ``make_cell(c_prev_prev, c_prev, c_curr, reduction, reduction_prev)`` (reductions at layers // 3 and
    2 * layers // 3, doubling the channels), global average pooling and the classifier."""
    c_curr = stem_multiplier * C
    net.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
    c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
    net.cells = nn.ModuleList()
    reduction_prev = False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_curr *= 2
        cell = make_cell(c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
        net.cells.append(cell)
        reduction_prev = reduction
        c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
    net.global_pooling = nn.AdaptiveAvgPool2d(1)
    net.classifier = nn.Linear(c_prev, classes)


class NetworkCIFAR(nn.Module):
    def __init__(self, genotype: Genotype = DARTS_V2, C: int = 36, layers: int = 20, classes: int = 10,
                 stem_multiplier: int = 3):
        super().__init__()
        stack_cells(self, C, layers, classes, stem_multiplier,
                    lambda cpp, cp, c, red, red_prev: Cell(genotype, cpp, cp, c, red, red_prev))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def darts_v2_cifar() -> NetworkCIFAR:
    """DARTS_V2 at C=36, 20 layers, 10 classes; asserts the published parameter count."""
    model = NetworkCIFAR(DARTS_V2, C=36, layers=20, classes=10)
    n = count_params(model)
    assert n == DARTS_V2_PARAMS, f"reference DARTS_V2 has {n:,} parameters, expected {DARTS_V2_PARAMS:,}"
    return model


if __name__ == "__main__":
    m = darts_v2_cifar()
    out = m(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    print(f"DARTS_V2 reference: {count_params(m):,} parameters, output {tuple(out.shape)}")
