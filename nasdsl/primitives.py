"""The primitive op vocabulary of the language: names, arguments and shape rules.

The language knows each op's signature and how it changes a tensor's shape; a
backend (``register_ops``) gives the implementation.  The vocabulary is open:
the core ops are defined here, and a plugin declares more through the
``register_primitives`` hook (signature, shape rule, doc, aliases).
:func:`get`, :func:`names` and :func:`all_primitives` see both; the plugins'
declarations are read lazily, once, through the plugin manager, the first time
a name outside the core is looked up (looking up a core op never loads plugins).
A plugin op may not reuse a core name or another plugin's.

Shapes are tuples without the batch dimension: ``(C, H, W)`` for images,
``(C,)`` for flat features (after pooling, or a graph node's feature vector),
``(T, D)`` for sequences (T tokens of D features).

Shape rules (a plugin op names one, or gives its own ``shape`` function):
    spatial     needs (C, H, W); out channels = ``channels`` (default: the input's);
                ``stride`` s gives ceil(H / s) x ceil(W / s) ("same" padding); a ``groups``
                argument must divide the input and output channels
    keep        any rank; keeps the shape (``stride`` reduces H, W when present); some ops
                check more (layernorm: rank 1 to 3; se: (C, H, W); channel_shuffle: (C, H, W)
                or (C,) with C divisible by ``groups``)
    gap         (C, H, W) -> (C,)
    flatten     any -> (C * H * W,)
    linear      (C,) -> (out,); (T, D) -> (T, out): acts on the last dim
    mlp         (C,) -> (out or C,); (T, D) -> (T, out or D): acts on the last dim
    attention   (T, D) -> (T, dim or D); ``dim`` divisible by ``heads``
    tokens      (T, F) -> (T, dim); (C, H, W) -> (H/p * W/p, dim) for patches of p x p
    token_pool  (T, D) -> (D,)
    graph       (C,) -> (channels or C,): a graph op on node features

The rules read the arguments named above (``linear`` needs ``out``, ``tokens``
``dim``; the others fall back to defaults).  Argument defaults: a value;
:data:`SAME` (as many as the input has; resolved by the op's rule and backend,
except ``channels``, which the compiler resolves); :data:`REQUIRED`;
:data:`OPTIONAL` (keyword-only, and left out of the resolved arguments unless
given, so adding such a parameter to an op changes no existing architecture's
arguments, its IR text or its canonical hash, nor what a positional call means).
Arguments named ``channels``, ``k``, ``kh``, ``kw``, ``stride``, ``dilation``,
``groups``, ``e``, ``out``, ``heads``, ``dim``, ``hidden``, ``ratio`` and ``patch``
must be positive integers; ``p`` a number in [0, 1).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from math import ceil, prod
from typing import Any, Callable, Iterable, Mapping

SAME = "same"  # default for ``channels`` (and ``out``, ``dim``): as many as the input has
REQUIRED = object()
OPTIONAL = object()  # a parameter that stays out of ``bind``'s result unless it is given

CORE = "nasdsl"  # the origin of the core vocabulary (a plugin op's origin is its plugin's name)

Shape = tuple[int, ...]
ShapeFn = Callable[[Mapping[str, Any], Shape], Shape]

RULES = ("spatial", "keep", "gap", "flatten", "linear", "mlp", "attention", "tokens", "token_pool", "graph")
CUSTOM = "custom"  # the rule of an op whose shape comes from its own function

_POSITIVE_INTS = ("channels", "k", "kh", "kw", "stride", "dilation", "groups", "e", "out", "heads", "dim", "hidden",
                  "ratio", "patch")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RULE_NEEDS = {"linear": ("out",), "tokens": ("dim",)}  # arguments a rule reads without a fallback
# names the language gives a meaning of its own (the compiler's merge builtins): never an op's
RESERVED = ("sum", "concat", "mul", "dag", "cells")


@dataclass(frozen=True)
class Primitive:
    name: str
    params: tuple[tuple[str, Any], ...]
    rule: str
    doc: str
    base: str | None = None  # the op this name is an alias of
    fixed: Mapping[str, Any] = field(default_factory=dict)
    shape_fn: ShapeFn | None = field(default=None, compare=False)  # a plugin op's own shape rule
    origin: str = CORE  # who declared it: the core, or a plugin's name

    @property
    def canonical(self) -> str:
        return self.base or self.name

    def param_names(self) -> list[str]:
        """The arguments a call may give, in positional order (not the fixed or keyword-only ones)."""
        return [p for p, d in self.params if p not in self.fixed and d is not OPTIONAL]

    def keyword_names(self) -> list[str]:
        """The :data:`OPTIONAL` arguments, which a call may give by keyword only (conv's ``kh``, ``kw``)."""
        return [p for p, d in self.params if p not in self.fixed and d is OPTIONAL]


_PRIMS: dict[str, Primitive] = {}


def make(name: str, params: Iterable[Any] = (), rule: str | None = None, *, shape: ShapeFn | None = None,
         doc: str = "", aliases: Mapping[str, Mapping[str, Any]] | None = None,
         origin: str = CORE) -> list[Primitive]:
    """The primitives one declaration makes: the op, then its aliases; a ValueError in words when it is malformed.

    Args:
        name: the op's name, as a ``.nas`` file writes it.
        params: ``(name, default)`` pairs in positional order (a bare string is a required
            parameter); a default is a value, :data:`SAME`, :data:`REQUIRED` or :data:`OPTIONAL`.
        rule: one of :data:`RULES`; leave it out when ``shape`` is given.
        shape: ``shape(args, in_shape) -> out_shape``, the op's own rule; raises :class:`ShapeError`
            (or ValueError) in words for an input it cannot take.
        doc: one line on what the op computes.
        aliases: alias name -> the arguments it fixes (``{"conv_3x3": {"k": 3}}``).
        origin: who declares it (a plugin's name).
    """
    _check_name(name, "an op name")
    plist: list[tuple[str, Any]] = []
    for p in params:
        if isinstance(p, str):
            p = (p, REQUIRED)
        if not (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and _NAME.match(p[0])):
            raise ValueError(f"op '{name}': a parameter is a name or a (name, default) pair; got {p!r}")
        if p[0] in {q for q, _ in plist}:
            raise ValueError(f"op '{name}': parameter '{p[0]}' is declared twice")
        plist.append(p)
    if shape is not None:
        if not callable(shape):
            raise ValueError(f"op '{name}': shape must be a function (args, in_shape) -> out_shape; got {shape!r}")
        if rule not in (None, CUSTOM):
            raise ValueError(f"op '{name}': give a shape rule or a shape function, not both")
        rule = CUSTOM
    elif rule not in RULES:
        raise ValueError(f"op '{name}' has an unknown shape rule {rule!r}; rules: {', '.join(RULES)} "
                         "(or give shape=function(args, in_shape) -> out_shape)")
    else:
        missing = [a for a in _RULE_NEEDS.get(rule, ()) if a not in {p for p, _ in plist}]
        if missing:
            raise ValueError(f"op '{name}': shape rule '{rule}' reads the argument {', '.join(missing)}, "
                             "which the op does not declare")
    if not isinstance(doc, str):
        raise ValueError(f"op '{name}': doc must be a string")
    out = [Primitive(name, tuple(plist), rule, doc, shape_fn=shape, origin=origin)]
    for alias, fixed in (aliases or {}).items():
        _check_name(alias, f"an alias of op '{name}'")
        unknown = sorted(set(fixed) - {p for p, _ in plist})
        if unknown:
            raise ValueError(f"alias '{alias}' of op '{name}' fixes {', '.join(unknown)}, which '{name}' does not take")
        out.append(Primitive(alias, tuple(plist), rule, doc, base=name, fixed=dict(fixed), shape_fn=shape,
                             origin=origin))
    return out


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
        raise ValueError(f"{what} must be an identifier; got {name!r}")
    if name in RESERVED:
        raise ValueError(f"{what} cannot be '{name}': the language's own {', '.join(RESERVED)} take those names")


def define(name: str, params: tuple[tuple[str, Any], ...], rule: str, doc: str,
           aliases: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Add a core op (and aliases with some arguments fixed) to the vocabulary."""
    for prim in make(name, params, rule, doc=doc, aliases=aliases):
        _add(prim)


def _add(prim: Primitive) -> None:
    if prim.name in _PRIMS:
        raise ValueError(f"op '{prim.name}' is already defined")
    _PRIMS[prim.name] = prim


def _plugin_primitives() -> Mapping[str, Primitive]:
    """The plugins' declarations (loads the plugins on first use)."""
    from . import plugins

    return plugins.primitives.table()


def get(name: str) -> Primitive | None:
    """The op called ``name`` (core first, then the plugins'), or None."""
    prim = _PRIMS.get(name)
    if prim is None:
        prim = _plugin_primitives().get(name)
    return prim


def names() -> list[str]:
    """Every op name the language knows, aliases included, sorted."""
    return sorted({**_plugin_primitives(), **_PRIMS})


def all_primitives() -> dict[str, Primitive]:
    """Name -> primitive for the whole vocabulary (core and plugins)."""
    return {**_plugin_primitives(), **_PRIMS}


def core_primitives() -> dict[str, Primitive]:
    """Name -> primitive for the core vocabulary only (never loads plugins)."""
    return dict(_PRIMS)


def declared_by(name: str) -> str | None:
    """Who declared op ``name``: :data:`CORE` or a plugin's name; None for an unknown op."""
    prim = get(name)
    return None if prim is None else prim.origin


_C = ("channels", SAME)
_S = ("stride", 1)

# kh / kw (a rectangular kh x kw kernel; each defaults to k) are OPTIONAL: the arguments of every conv
# written without them stay {channels, k, stride, dilation, groups}, as printed and hashed before they existed
define("conv", (_C, ("k", 3), _S, ("dilation", 1), ("groups", 1), ("kh", OPTIONAL), ("kw", OPTIONAL)), "spatial",
       "plain convolution, no bias: k x k, or kh x kw when given (each defaults to k); groups divide the channels",
       {f"conv_{k}x{k}": {"k": k} for k in (1, 3, 5, 7)})
# a grouped 1x1 conv (ShuffleNet, ResNeXt): its own argument order, so group_conv_1x1(64, 4) is 4 groups
_add(Primitive("group_conv_1x1", (_C, ("groups", REQUIRED), _S, ("k", 3), ("dilation", 1)), "spatial",
               "grouped 1x1 convolution, no bias: conv(k=1, groups=groups)", base="conv", fixed={"k": 1, "dilation": 1}))
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
define("linear", (("out", REQUIRED),), "linear", "fully connected layer: (C,) -> (out,); on a sequence (T, D) -> (T, out)")
define("gelu", (), "keep", "GELU (the exact, erf form)")
define("tanh", (), "keep", "tanh")
define("sigmoid", (), "keep", "logistic sigmoid")
define("layernorm", (), "keep", "layer normalisation, affine: over D for a sequence (T, D), over C for (C,), "
       "over the channels at each position for (C, H, W)")
define("se", (("ratio", 4),), "keep", "squeeze-and-excitation on (C, H, W): global average pool, 1x1 conv to "
       "max(1, C // ratio), ReLU, 1x1 conv to C, sigmoid, rescale the channels")
define("channel_shuffle", (("groups", 2),), "keep", "ShuffleNet channel shuffle: (g, C / g) -> (C / g, g) "
       "on (C, H, W) or (C,); C divisible by groups")
define("tokens", (("dim", REQUIRED), ("patch", 1)), "tokens", "embed data as tokens: (T, F) -> (T, dim) by a linear "
       "projection of each token; (C, H, W) -> (H/p * W/p, dim) by a p x p patch embedding (p = patch)")
define("multihead_attention", (("heads", 1), ("dim", SAME)), "attention", "multi-head self-attention on (T, D): "
       "q, k, v projected to dim (default D) in heads heads, scaled dot product, output projection: (T, dim)")
define("mlp", (("hidden", REQUIRED), ("out", SAME)), "mlp", "two-layer perceptron on the last dim: linear to hidden, "
       "GELU, linear to out (default: the input's): (T, D) -> (T, out), (C,) -> (out,)")
define("seq_mean_pool", (), "token_pool", "the mean over the tokens: (T, D) -> (D,)", {"token_pool": {}})


class ShapeError(ValueError):
    """An op cannot take a tensor of this shape (message in words)."""


def bind(prim: Primitive, positional: list[Any], keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Bind call arguments to the op's parameters; raise ValueError in words.

    The result holds every parameter in declaration order (an alias's fixed ones too),
    except :data:`OPTIONAL` ones that were not given; those are keyword-only, so the
    positional slots (and their errors) are what they were before such a parameter existed.
    """
    names_ = prim.param_names()
    if len(positional) > len(names_):
        raise ValueError(f"op '{prim.name}' takes at most {len(names_)} argument{'s' if len(names_) != 1 else ''} "
                         f"({', '.join(names_) or 'none'}); {len(positional)} given")
    args: dict[str, Any] = dict(zip(names_, positional))
    by_keyword = prim.keyword_names()
    for k, v in keywords.items():
        if k not in names_ and k not in by_keyword:
            allowed = (", ".join(names_) or "none") + (f"; by keyword: {', '.join(by_keyword)}" if by_keyword else "")
            raise ValueError(f"op '{prim.name}' has no argument '{k}' (its arguments: {allowed})")
        if k in args:
            raise ValueError(f"argument '{k}' of op '{prim.name}' given twice")
        args[k] = v
    out: dict[str, Any] = {}
    defaults = dict(prim.params)
    for p, default in prim.params:
        if p in prim.fixed:
            out[p] = prim.fixed[p]
        elif p in args:
            out[p] = args[p]
        elif default is REQUIRED:
            raise ValueError(f"op '{prim.name}' needs argument '{p}'")
        elif default is OPTIONAL:
            continue
        else:
            out[p] = default
    for p, v in out.items():
        if p in _POSITIVE_INTS:
            if v == SAME and (p == "channels" or defaults[p] == SAME):
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"argument '{p}' of op '{prim.name}' must be a positive integer; got {v!r}")
        if p == "p" and not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise ValueError(f"argument 'p' of op '{prim.name}' must be a number in [0, 1); got {v!r}")
    return out


def _same(v: Any, default: int) -> int:
    return default if v == SAME or v is None else int(v)


def _rank(prim: Primitive, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        raise ShapeError(f"op '{prim.name}' needs {what}; got {list(shape)}")


def _check_keep(prim: Primitive, args: Mapping[str, Any], shape: Shape) -> None:
    """What some keep-shape ops need of their input beyond the rule."""
    base = prim.canonical
    if base == "layernorm":
        _rank(prim, shape, (1, 2, 3), "a [C], [T, D] or [C, H, W] input")
    elif base == "se":
        _rank(prim, shape, (3,), "a [C, H, W] input")
    elif base == "channel_shuffle":
        _rank(prim, shape, (1, 3), "a [C, H, W] or [C] input")
        g = args.get("groups", 2)
        if shape[0] % g:
            raise ShapeError(f"op '{prim.name}': groups={g} must divide the channels ({shape[0]})")


def infer(prim: Primitive, args: Mapping[str, Any], shape: Shape) -> Shape:
    """The output shape of ``prim`` with ``args`` on an input of ``shape``."""
    shape = tuple(shape)
    rule = prim.rule
    if prim.shape_fn is not None:
        return _custom(prim, args, shape)
    if rule == "spatial":
        if len(shape) != 3:
            raise ShapeError(f"op '{prim.name}' needs a [C, H, W] input; got {list(shape)}")
        c = args.get("channels", SAME)
        c = shape[0] if c == SAME or c is None else c
        s = 2 if prim.canonical == "factorized_reduce" else args.get("stride", 1)
        if prim.canonical == "dw_conv" and c != shape[0]:
            raise ShapeError("a depthwise conv keeps its channels")
        g = args.get("groups", 1)
        if g != 1 and (shape[0] % g or int(c) % g):
            raise ShapeError(f"op '{prim.name}': groups={g} must divide the input channels ({shape[0]}) "
                             f"and the output channels ({c})")
        return (int(c), ceil(shape[1] / s), ceil(shape[2] / s))
    if rule == "keep":
        _check_keep(prim, args, shape)
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
        if len(shape) not in (1, 2):
            raise ShapeError(f"{prim.name} needs a flat [C] input or a sequence [T, D]; got {list(shape)} "
                             "(add global_avg_pool or flatten first)")
        return tuple(shape[:-1]) + (int(args["out"]),)
    if rule == "mlp":
        _rank(prim, shape, (1, 2), "a flat [C] input or a sequence [T, D]")
        return tuple(shape[:-1]) + (_same(args.get("out", SAME), shape[-1]),)
    if rule == "attention":
        _rank(prim, shape, (2,), "a sequence [T, D] (tokens then features; tokens(dim) makes one)")
        dim = _same(args.get("dim", SAME), shape[1])
        heads = args.get("heads", 1)
        if dim % heads:
            raise ShapeError(f"op '{prim.name}': dim {dim} is not divisible by heads={heads}")
        return (shape[0], dim)
    if rule == "tokens":
        dim, p = int(args["dim"]), args.get("patch", 1)
        if len(shape) == 2:
            if p != 1:
                raise ShapeError(f"op '{prim.name}' with patch={p} needs a [C, H, W] input; got the sequence {list(shape)}")
            return (shape[0], dim)
        if len(shape) == 3:
            if shape[1] % p or shape[2] % p:
                raise ShapeError(f"op '{prim.name}': patch={p} must divide the height and width of {list(shape)}")
            return ((shape[1] // p) * (shape[2] // p), dim)
        raise ShapeError(f"op '{prim.name}' needs a [T, F] or [C, H, W] input; got {list(shape)}")
    if rule == "token_pool":
        _rank(prim, shape, (2,), "a sequence [T, D]")
        return (shape[1],)
    if rule == "graph":
        if len(shape) != 1:
            raise ShapeError(f"graph op '{prim.name}' needs node features [C]; got {list(shape)}")
        c = args.get("channels", SAME)
        return (shape[0] if c == SAME else int(c),)
    raise ShapeError(f"op '{prim.name}' has an unknown shape rule '{rule}'")


def _custom(prim: Primitive, args: Mapping[str, Any], shape: Shape) -> Shape:
    """A plugin op's own shape function, its errors said as ShapeErrors naming the op."""
    where = "" if prim.origin == CORE else f" (declared by plugin '{prim.origin}')"
    try:
        out = prim.shape_fn(dict(args), shape)  # type: ignore[misc]
    except ShapeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as e:
        raise ShapeError(f"op '{prim.name}'{where}: {e}") from None
    try:
        out = tuple(out)
    except TypeError:
        out = None  # type: ignore[assignment]
    if not out or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in out):
        raise ShapeError(f"the shape function of op '{prim.name}'{where} gave {out!r}, not a shape "
                         "(a tuple of positive integers)")
    return out
