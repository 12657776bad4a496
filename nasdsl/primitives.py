"""The primitive op vocabulary of the language: names, arguments and shape rules.

The language knows each op's signature and how it changes a tensor's shape; a
backend (``register_ops``) gives the implementation.  Shapes are tuples:
``(C, H, W)`` for images, ``(C,)`` for flat features (after pooling, or a
graph node's feature vector).

Shape rules:
    spatial   needs (C, H, W); out channels = ``channels`` (default: the input's);
              ``stride`` s gives ceil(H / s) x ceil(W / s) ("same" padding)
    keep      any rank; keeps the shape (``stride`` reduces H, W when present)
    gap       (C, H, W) -> (C,)
    flatten   any -> (C * H * W,)
    linear    (C,) -> (out,)
    graph     (C,) -> (channels or C,): a graph op on node features
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil, prod
from typing import Any, Mapping

SAME = "same"  # default for ``channels``: as many as the input has
REQUIRED = object()

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Primitive:
    name: str
    params: tuple[tuple[str, Any], ...]
    rule: str
    doc: str
    base: str | None = None  # the op this name is an alias of
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        return self.base or self.name

    def param_names(self) -> list[str]:
        return [p for p, _ in self.params if p not in self.fixed]


_PRIMS: dict[str, Primitive] = {}


def define(name: str, params: tuple[tuple[str, Any], ...], rule: str, doc: str, aliases: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Add an op (and aliases with some arguments fixed) to the vocabulary."""
    if name in _PRIMS:
        raise ValueError(f"op '{name}' is already defined")
    _PRIMS[name] = Primitive(name, params, rule, doc)
    for alias, fixed in (aliases or {}).items():
        if alias in _PRIMS:
            raise ValueError(f"op '{alias}' is already defined")
        _PRIMS[alias] = Primitive(alias, params, rule, doc, base=name, fixed=dict(fixed))


def get(name: str) -> Primitive | None:
    return _PRIMS.get(name)


def names() -> list[str]:
    return sorted(_PRIMS)


def all_primitives() -> dict[str, Primitive]:
    return dict(_PRIMS)


_C = ("channels", SAME)
_S = ("stride", 1)

define("conv", (_C, ("k", 3), _S, ("dilation", 1), ("groups", 1)), "spatial", "plain k x k convolution, no bias",
       {f"conv_{k}x{k}": {"k": k} for k in (1, 3, 5, 7)})
define("conv_bn_relu", (_C, ("k", 3), _S), "spatial", "conv k x k, batch norm, ReLU (Genetic CNN, hierarchical nodes)")
define("relu_conv_bn", (_C, ("k", 1), _S), "spatial", "ReLU, conv k x k, batch norm (DARTS preprocessing, NAS-Bench-201 conv)",
       {"nor_conv_1x1": {"k": 1}, "nor_conv_3x3": {"k": 3}})
define("sep_conv", (_C, ("k", 3), _S), "spatial", "DARTS separable conv: (ReLU, depthwise k x k, 1x1, BN) twice",
       {f"sep_conv_{k}x{k}": {"k": k} for k in (3, 5, 7)})
define("dil_conv", (_C, ("k", 3), _S, ("dilation", 2)), "spatial", "ReLU, depthwise dilated k x k, 1x1, BN",
       {"dil_conv_3x3": {"k": 3}, "dil_conv_5x5": {"k": 5}})
define("dw_conv", (("k", 3), _S), "spatial", "depthwise k x k conv, BN, ReLU", {"dw_conv_3x3": {"k": 3}})
define("conv_7x1_1x7", (_C, _S), "spatial", "ReLU, 1x7 conv, 7x1 conv, BN (NASNet, PNAS)", {"conv_1x7_7x1": {}})
define("conv_3x1_1x3", (_C, _S), "spatial", "ReLU, 1x3 conv, 3x1 conv, BN (NASNet)", {"conv_1x3_3x1": {}})
define("enas_conv", (_C, ("k", 3), _S), "spatial", "ENAS conv branch: ReLU, conv k x k, BN")
define("enas_sep_conv", (_C, ("k", 3), _S), "spatial", "ENAS separable branch: ReLU, depthwise k x k, 1x1, BN")
define("mbconv", (_C, ("k", 3), ("e", 6), _S), "spatial", "MobileNetV2 inverted residual: 1x1 expand by e, depthwise k x k, 1x1 project")
define("resnet_block", (_C, ("stride", 2)), "spatial", "ResNet basic block (NAS-Bench-201 reduction block)")
define("max_pool", (("k", 3), _S), "spatial", "max pooling, padding k // 2",
       {"max_pool_2x2": {"k": 2}, "max_pool_3x3": {"k": 3}, "max_pool_5x5": {"k": 5}, "max_pool_7x7": {"k": 7}})
define("avg_pool", (("k", 3), _S), "spatial", "average pooling, padding k // 2, padding not counted",
       {"avg_pool_2x2": {"k": 2}, "avg_pool_3x3": {"k": 3}})
define("factorized_reduce", (_C,), "spatial", "ReLU, two 1x1 stride-2 convs (x and x shifted), concat, BN: halves H and W")
define("skip_connect", (_S,), "keep", "identity (at stride 2: factorized_reduce)", {"identity": {}, "skip": {}})
define("none", (_C, _S), "keep", "the zero op: no connection", {"zero": {}})
define("batchnorm", (), "keep", "batch normalisation")
define("relu", (), "keep", "ReLU")
define("dropout", (("p", 0.0),), "keep", "dropout with probability p")
define("global_avg_pool", (), "gap", "global average pooling: (C, H, W) -> (C,)")
define("flatten", (), "flatten", "flatten to (C * H * W,)")
define("linear", (("out", REQUIRED),), "linear", "fully connected layer: (C,) -> (out,)")
for _g in ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc"):
    define(_g, (_C,), "graph", f"NAS-Bench-Graph '{_g}' layer on node features")


class ShapeError(ValueError):
    """An op cannot take a tensor of this shape (message in words)."""


def bind(prim: Primitive, positional: list[Any], keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Bind call arguments to the op's parameters; raise ValueError in words."""
    names_ = prim.param_names()
    if len(positional) > len(names_):
        raise ValueError(f"op '{prim.name}' takes at most {len(names_)} argument{'s' if len(names_) != 1 else ''} "
                         f"({', '.join(names_) or 'none'}); {len(positional)} given")
    args: dict[str, Any] = dict(zip(names_, positional))
    for k, v in keywords.items():
        if k not in names_:
            allowed = ", ".join(names_) or "none"
            raise ValueError(f"op '{prim.name}' has no argument '{k}' (its arguments: {allowed})")
        if k in args:
            raise ValueError(f"argument '{k}' of op '{prim.name}' given twice")
        args[k] = v
    out: dict[str, Any] = {}
    for p, default in prim.params:
        if p in prim.fixed:
            out[p] = prim.fixed[p]
        elif p in args:
            out[p] = args[p]
        elif default is REQUIRED:
            raise ValueError(f"op '{prim.name}' needs argument '{p}'")
        else:
            out[p] = default
    for p, v in out.items():
        if p in ("channels", "k", "stride", "dilation", "groups", "e", "out"):
            if v == SAME and p == "channels":
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"argument '{p}' of op '{prim.name}' must be a positive integer; got {v!r}")
        if p == "p" and not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise ValueError(f"argument 'p' of op '{prim.name}' must be a number in [0, 1); got {v!r}")
    return out


def infer(prim: Primitive, args: Mapping[str, Any], shape: Shape) -> Shape:
    """The output shape of ``prim`` with ``args`` on an input of ``shape``."""
    rule = prim.rule
    if rule == "spatial":
        if len(shape) != 3:
            raise ShapeError(f"op '{prim.name}' needs a [C, H, W] input; got {list(shape)}")
        c = args.get("channels", SAME)
        c = shape[0] if c == SAME or c is None else c
        s = 2 if prim.canonical == "factorized_reduce" else args.get("stride", 1)
        if prim.canonical == "dw_conv" and c != shape[0]:
            raise ShapeError("a depthwise conv keeps its channels")
        return (int(c), ceil(shape[1] / s), ceil(shape[2] / s))
    if rule == "keep":
        c = args.get("channels", SAME)
        c = shape[0] if c == SAME or c is None else c
        s = args.get("stride", 1)
        if prim.canonical == "skip_connect" and c != shape[0]:
            raise ShapeError("skip_connect cannot change the number of channels")
        if len(shape) == 3:
            return (int(c), ceil(shape[1] / s), ceil(shape[2] / s))
        if s != 1:
            raise ShapeError(f"op '{prim.name}' with stride {s} needs a [C, H, W] input; got {list(shape)}")
        return (int(c),) + tuple(shape[1:])
    if rule == "gap":
        if len(shape) != 3:
            raise ShapeError(f"global_avg_pool needs a [C, H, W] input; got {list(shape)}")
        return (shape[0],)
    if rule == "flatten":
        return (prod(shape),)
    if rule == "linear":
        if len(shape) != 1:
            raise ShapeError(f"linear needs a flat [C] input; got {list(shape)} (add global_avg_pool or flatten first)")
        return (int(args["out"]),)
    if rule == "graph":
        if len(shape) != 1:
            raise ShapeError(f"graph op '{prim.name}' needs node features [C]; got {list(shape)}")
        c = args.get("channels", SAME)
        return (shape[0] if c == SAME else int(c),)
    raise ShapeError(f"op '{prim.name}' has an unknown shape rule '{rule}'")
