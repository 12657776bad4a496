"""Lowering steps, as named functions: what turns the language's constructs into primitive ops.

Each is used by the realize reading (while it walks a genotype) and by the
supernet IR's selection (``SupernetIR.select``), so both give the same
architecture:

* :func:`lower_op`          a strided ``skip_connect`` on a feature map becomes ``factorized_reduce``;
                            ``channels = same`` takes the input's channel count, another ``same``
                            argument (a sequence op's ``dim``, ``out``) the input's last dim
* :func:`drop_zero_inputs`  a merge ignores inputs made by the zero op ``none``
* :func:`align_plan`        how many factorized reductions bring each merged map to the smallest size
* :func:`merge_shape`       the shape a sum / concat / mul of shapes gives (or the error)
* :func:`prune_dead`        nodes that do not reach the output are removed (the input stays)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import networkx as nx

from .. import primitives
from ..errors import NasError, Span

Shape = tuple[int, ...]


def lower_op(prim: primitives.Primitive, args: dict[str, Any], in_shape: Shape) -> tuple[primitives.Primitive, dict[str, Any]]:
    """The primitive that really runs and its arguments, resolved against the input's shape."""
    if prim.canonical == "skip_connect" and args.get("stride", 1) == 2 and len(in_shape) == 3:
        return primitives.get("factorized_reduce"), {"channels": in_shape[0]}
    if in_shape and any(v == primitives.SAME for v in args.values()):
        args = dict(args)
        for k, v in args.items():
            if v == primitives.SAME:  # channels: the first dim; a sequence op's width (dim, out): the last
                args[k] = in_shape[0] if k == "channels" else in_shape[-1]
    return prim, args


def infer_shape(prim: primitives.Primitive, args: dict[str, Any], in_shape: Shape, span: Span | None) -> Shape:
    try:
        return primitives.infer(prim, args, in_shape)
    except primitives.ShapeError as err:
        raise NasError(f"{err}", span) from None


def is_zero(attrs: dict[str, Any]) -> bool:
    return attrs.get("kind") == "op" and attrs.get("base") == "none"


def drop_zero_inputs(inputs: Sequence[Any], zero: Callable[[Any], bool]) -> list[Any]:
    """The inputs a merge really adds: those not made by the zero op."""
    return [t for t in inputs if not zero(t)]


def align_plan(spatial: Sequence[Shape], span: Span | None) -> list[int]:
    """For each merged feature map, how many factorized reductions (each halving H and W, rounding up)
    bring it to the smallest size; as ENAS and DARTS reduce mismatched maps."""
    if len(set(spatial)) == 1 or any(len(s) != 2 for s in spatial):
        return [0] * len(spatial)
    target = min(spatial)
    plan = []
    for s in spatial:
        n = 0
        while s != target:
            if s[0] <= target[0] or s[1] <= target[1]:
                raise NasError(f"cannot merge feature maps of sizes {[list(x) for x in spatial]}", span)
            s = (-(-s[0] // 2), -(-s[1] // 2))
            n += 1
        plan.append(n)
    return plan


def merge_shape(mode: str, shapes: Sequence[Shape], span: Span | None) -> Shape:
    if mode in ("sum", "mul"):
        if len(set(shapes)) != 1:
            verb = "sum" if mode == "sum" else "multiply"
            raise NasError(f"cannot {verb} tensors of shapes {', '.join(str(list(s)) for s in shapes)}", span)
        return shapes[0]
    if len({s[1:] for s in shapes}) != 1:
        raise NasError(f"cannot concat tensors of shapes {', '.join(str(list(s)) for s in shapes)}: "
                       "all but the channels must agree", span)
    return (sum(s[0] for s in shapes),) + tuple(shapes[0][1:])


def prune_dead(graph: nx.DiGraph, output: str) -> None:
    """Remove the nodes the output does not depend on (the input node stays)."""
    live = nx.ancestors(graph, output) | {output}
    graph.remove_nodes_from([n for n in list(graph) if n not in live and graph.nodes[n]["kind"] != "input"])
