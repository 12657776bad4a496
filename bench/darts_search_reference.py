"""A plain, hand-written PyTorch DARTS *search* network (the one-shot supernet), no nasdsl.

The reference that ``bench/bench_oneshot.py`` times nasdsl's DARTS search step against.  Written
from the paper (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019) in the
usual hand-written style: a Python loop over cells, nodes and edges, one ``MixedOp`` per edge.

* 8 candidates per edge: ``none`` (zero) + skip_connect, max_pool_3x3, avg_pool_3x3, sep_conv_3x3,
  sep_conv_5x5, dil_conv_3x3, dil_conv_5x5; a mixed edge is sum_o softmax(alpha)_o * o(x);
* a cell: 2 inputs, 4 nodes, every node takes one mixed edge from every earlier state (2 + 3 + 4 + 5
  = 14 edges), output = concat of the 4 nodes;
* alphas: one [14, 8] table for the normal cells, one for the reduction cells, init 1e-3 * randn,
  held apart from the weights (``weights()`` / ``arch_parameters()``);
* stem conv 3x3 (3 -> 3C) + BN; reduction cells at ``layers // 3`` and ``2 * layers // 3`` (channels
  doubled, stride 2 on the edges that read one of the two cell inputs); preprocessing
  ReLU-conv1x1-BN, or FactorizedReduce when the previous cell reduced; global avg pool + linear.

The ops are the ones of ``bench/darts_reference.py`` (the hand-written evaluation network), imported
from there, so the search and the evaluation network are built from identical op modules.

It is meant to be the *same* network as the supernet nasdsl builds from ``spaces/darts.nas``
(``build_supernet(space, (3, 32, 32), add_none=True)``), so where nasdsl differs from the paper's
reference search code (``cnn/model_search.py`` of the DARTS release) this file follows nasdsl:

1. Batch norm is affine everywhere.  The paper's search code builds every op inside a cell and the
   two preprocessing ops with ``affine=False`` (only the stem BN is affine); nasdsl uses the same
   affine ops for the supernet as for a derived child.  This adds 2 x channels weights per BN inside
   the cells (``python bench/darts_search_reference.py`` prints both counts).
2. No BN after the pooling candidates.  The paper's MixedOp appends ``BatchNorm2d(C, affine=False)``
   to max_pool_3x3 and avg_pool_3x3 (no weights, but one more normalisation per pooling edge);
   nasdsl's pool candidates are the bare pools.
3. ``none`` is not run.  The paper's MixedOp evaluates ``w_none * Zero(x)`` (a tensor of zeros it
   multiplies and adds); nasdsl gives ``none`` a logit (it takes softmax mass) and computes nothing
   for it.  Values and gradients are the same; ``compute_zero=True`` restores the paper's way.
4. The alpha layout.  The paper keeps one [14, 8] table per cell type with ``none`` in column 0
   (kept here, in the paper's PRIMITIVES order); nasdsl keeps one [inputs, 8] table per node
   (2 + 3 + 4 + 5 rows) with ``none`` appended as the last column.  Same 2 x 14 x 8 = 224 logits.
5. FactorizedReduce: nasdsl pads one zero row and column before the one-pixel shift (for odd sizes);
   at the even sizes of CIFAR it reads the same pixels as the paper's op (no numerical difference).

No auxiliary head, no drop path (neither is used in the DARTS search).
"""

from __future__ import annotations

import os
import sys
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darts_reference import OPS, FactorizedReduce, ReLUConvBN, Zero, stack_cells  # noqa: E402

# The paper's order (genotypes.PRIMITIVES of the DARTS release): 'none' first.
PRIMITIVES: List[str] = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]

STEPS = 4  # intermediate nodes per cell
MULTIPLIER = 4  # nodes concatenated into the cell's output
EDGES = sum(2 + i for i in range(STEPS))  # 14


class MixedOp(nn.Module):
    """One edge: every candidate op on the same input, summed with the edge's softmax weights."""

    def __init__(self, c: int, stride: int, compute_zero: bool = False):
        super().__init__()
        self.ops = nn.ModuleList(OPS[name](c, stride) for name in PRIMITIVES)
        # which columns of the weights run; 'none' contributes w * 0 and is skipped unless asked
        self.live: List[int] = [i for i, op in enumerate(self.ops) if compute_zero or not isinstance(op, Zero)]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = None
        for i in self.live:
            y = weights[i] * self.ops[i](x)
            out = y if out is None else out + y
        return out


class SearchCell(nn.Module):
    multiplier = MULTIPLIER  # the cell's output is this many nodes' channels

    def __init__(self, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool,
                 compute_zero: bool = False):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        self.edges = nn.ModuleList()
        for i in range(STEPS):
            for j in range(2 + i):  # one edge from every earlier state
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(c, stride, compute_zero))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(STEPS):
            node = None
            for j, h in enumerate(states):
                y = self.edges[offset + j](h, weights[offset + j])
                node = y if node is None else node + y
            offset += len(states)
            states.append(node)
        return torch.cat(states[-MULTIPLIER:], dim=1)


class SearchNetwork(nn.Module):
    """DARTS' search network (CIFAR-10 settings: C = 16, 8 cells)."""

    def __init__(self, C: int = 16, layers: int = 8, classes: int = 10, stem_multiplier: int = 3,
                 compute_zero: bool = False):
        super().__init__()
        stack_cells(self, C, layers, classes, stem_multiplier,
                    lambda cpp, cp, c, red, red_prev: SearchCell(cpp, cp, c, red, red_prev, compute_zero))
        # plain tensors, not registered parameters: self.parameters() stays the weights only
        self.alphas_normal = (1e-3 * torch.randn(EDGES, len(PRIMITIVES))).requires_grad_(True)
        self.alphas_reduce = (1e-3 * torch.randn(EDGES, len(PRIMITIVES))).requires_grad_(True)

    def weights(self) -> List[nn.Parameter]:
        return list(self.parameters())

    def arch_parameters(self) -> List[torch.Tensor]:
        return [self.alphas_normal, self.alphas_reduce]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))

    def genotype(self) -> dict:
        """The paper's derivation: per node the 2 inputs whose best non-'none' op weighs most, that op on each."""
        out = {}
        for kind, alpha in (("normal", self.alphas_normal), ("reduce", self.alphas_reduce)):
            w = F.softmax(alpha.detach(), dim=-1)
            gene, start = [], 0
            for i in range(STEPS):
                rows = w[start:start + 2 + i]
                best = [max((k for k in range(len(PRIMITIVES)) if PRIMITIVES[k] != "none"), key=lambda k: float(r[k]))
                        for r in rows]
                top = sorted(range(len(rows)), key=lambda j: -float(rows[j][best[j]]))[:2]
                gene += [(PRIMITIVES[best[j]], j) for j in top]
                start += 2 + i
            out[kind] = gene
        return out


def count_weights(model: SearchNetwork) -> int:
    return sum(p.numel() for p in model.weights())


def affine_bn_weights_in_cells(model: SearchNetwork) -> int:
    """Weights of the affine BNs inside the cells: what the paper's affine=False search code does not have."""
    return sum(p.numel() for cell in model.cells for m in cell.modules()
               if isinstance(m, nn.BatchNorm2d) for p in m.parameters())


# ----------------------------------------------------------------------------- self-check against nasdsl


def _nasdsl_table(sup, prefix: str, grad: bool = False) -> torch.Tensor:
    """nasdsl's per-node edge tables of one cell type ([inputs, 7 ops + 'none'] each, 'none' last) as one
    [14, 8] table in PRIMITIVES order ('none' first), like the paper's alphas."""
    rows = []
    for n in range(2, 2 + STEPS):
        decision = f"{prefix}.n{n}.inputs"
        options = [str(o) for o in sup._edge_ops[decision]] + ["none"]
        cols = [options.index(p) for p in PRIMITIVES]
        a = sup.alpha(decision)
        rows.append((a.grad if grad else a.detach())[:, cols])
    return torch.cat(rows, 0)


def _copy_into_reference(sup, ref: SearchNetwork) -> None:
    """Put the nasdsl supernet's weights and alphas into ``ref`` (both list their weights in the same order:
    stem, then per cell pre0, pre1 and the edges node by node, then the linear head)."""
    theirs, mine = list(sup.weights()), ref.weights()
    assert len(theirs) == len(mine), (len(theirs), len(mine))
    with torch.no_grad():
        for a, b in zip(theirs, mine):
            assert a.shape == b.shape, (a.shape, b.shape)
            b.copy_(a)
        ref.alphas_normal.copy_(_nasdsl_table(sup, "darts_cell"))
        ref.alphas_reduce.copy_(_nasdsl_table(sup, "reduce_cell"))


def _main() -> int:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from nasdsl import Space
    from nasdsl_plugins.torch_backend.supernet import build_supernet

    torch.manual_seed(0)
    ref = SearchNetwork(C=16, layers=8, classes=10)
    space = Space.from_file(os.path.join(here, "spaces", "darts.nas"), params={"C": 16, "layers": 8})
    sup = build_supernet(space, (3, 32, 32), add_none=True)

    n_ref, n_sup = count_weights(ref), sum(p.numel() for p in sup.weights())
    a_ref = sum(a.numel() for a in ref.arch_parameters())
    a_sup = sum(a.numel() for a in sup.arch_parameters())
    paper = n_ref - affine_bn_weights_in_cells(ref)
    print(f"reference search net weights: {n_ref:,}")
    print(f"nasdsl supernet weights:      {n_sup:,}")
    print(f"(the paper's affine=False search code would have {paper:,} weights)")
    print(f"alphas: reference {a_ref} {[tuple(a.shape) for a in ref.arch_parameters()]}, nasdsl {a_sup} "
          f"{[tuple(a.shape) for a in sup.arch_parameters()]}")
    ok = True
    if n_ref != n_sup:
        print("MISMATCH: weight counts differ")
        ok = False
    if not (a_ref == a_sup == 2 * EDGES * len(PRIMITIVES)):
        print(f"MISMATCH: alphas should be 2 x {EDGES} x {len(PRIMITIVES)} = {2 * EDGES * len(PRIMITIVES)}")
        ok = False

    # Same function: copy nasdsl's weights and alphas in, then compare logits and alpha gradients in float64
    # (in float32 the two summation orders differ by rounding only).
    if ok:
        _copy_into_reference(sup, ref)
        sup.double().train()
        ref.double().train()
        ref.alphas_normal = ref.alphas_normal.detach().double().requires_grad_(True)
        ref.alphas_reduce = ref.alphas_reduce.detach().double().requires_grad_(True)
        x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
        y = torch.tensor([0, 1, 2, 3])
        out_s, out_r = sup(x), ref(x)
        diff = float((out_s - out_r).detach().abs().max())
        F.cross_entropy(out_s, y).backward()
        F.cross_entropy(out_r, y).backward()
        g_sup = torch.cat([_nasdsl_table(sup, "darts_cell", True), _nasdsl_table(sup, "reduce_cell", True)])
        g_ref = torch.cat([ref.alphas_normal.grad, ref.alphas_reduce.grad])
        gdiff = float((g_sup - g_ref).abs().max()) / max(float(g_ref.abs().max()), 1e-30)
        print(f"same weights and alphas (float64): max |logit difference| {diff:.1e}, "
              f"max |alpha gradient difference| / max |gradient| {gdiff:.1e}")
        if diff > 1e-9 or gdiff > 1e-9:
            print("MISMATCH: the two networks compute different functions")
            ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_main())
