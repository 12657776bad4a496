"""``where`` constraints: the metrics a genotype has without training, and how many architectures pass.

Constraints come from the compiler as dicts ``{"metric", "op", "value", "text", "where"}``.  Two kinds:

* **genotype metrics**, read off the decisions (no architecture needed, so exact counting is cheap):
  ``edges`` — the inputs the input choices pick (each decision once: a shared cell counts once,
  as NAS-Bench-101 counts the edges of its cell's matrix), and ``count(OP)`` / ``count(OP, CELL)`` —
  the op decisions (of CELL only) whose chosen op is OP (its name, or the op it is an alias of);
* **architecture metrics**: ``depth`` and ``nodes`` of the realized Architecture IR, ``params`` and
  ``flops`` of the model the backend would build (from the IR's shapes, nothing allocated), ``latency`` (only an estimator that measures it).

:func:`count_feasible` is ``nasdsl count --feasible``: exact when it can be (genotype metrics by
dynamic programming over the decisions' histograms, whatever the space's size; architecture metrics by
enumeration of a small space), otherwise an estimate from uniform samples with a 95 % Wilson interval.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .decisions import Decision, InputChoice, OpChoice
from .errors import NasdslError
from . import primitives

ARCH_METRICS = ("params", "flops", "latency", "depth", "nodes")


def compare(v: float, op: str, bound: float) -> bool:
    return {"<": v < bound, "<=": v <= bound, ">": v > bound, ">=": v >= bound, "==": v == bound, "!=": v != bound}[op]


def is_genotype_metric(c: dict[str, Any]) -> bool:
    return c["metric"] == "edges" or "count" in c


def measured_before_training(c: dict[str, Any]) -> bool:
    """Whether nasdsl measures the constraint's metric itself, before any estimator runs: every metric
    but ``latency``, which only an estimator that times the model (or looks it up) can give."""
    return is_genotype_metric(c) or c["metric"] in ("params", "flops", "depth", "nodes")


def _op_of(text: str) -> str:
    """The op an op choice's option names: ``mbconv(k=3)`` -> mbconv; a path or cell keeps its text."""
    head = text.split("(", 1)[0].strip()
    return head if head.isidentifier() else text


def _matches(option: str, op: str) -> bool:
    head = _op_of(option)
    prim = primitives.get(head)
    return head == op or (prim is not None and prim.canonical == op) or (
        primitives.get(op) is not None and primitives.get(op).canonical == head)


def option_is(option: Any, op: str) -> bool:
    """Whether an op choice's option names ``op`` (``sep_conv_3x3``, ``conv(16, k=3)``, or an alias of it)."""
    return isinstance(option, str) and _matches(option, op)


def op_counts(space: Any, values: dict[str, Any], op: str) -> dict[str, int]:
    """How many active op decisions of each cell (a decision's name before its first dot) chose ``op``:
    what ``count(OP, CELL)`` counts, for every cell at once."""
    out: dict[str, int] = {}
    for d in space.decisions.values():
        if isinstance(d, OpChoice) and d.arch and space._active(d, values) and option_is(values[d.name], op):
            cell = d.name.split(".")[0]
            out[cell] = out.get(cell, 0) + 1
    return out


def _contribution(c: dict[str, Any], d: Decision, v: Any) -> int:
    """What decision ``d`` taking value ``v`` adds to the genotype metric of constraint ``c``."""
    if c["metric"] == "edges":
        return len(v) if isinstance(d, InputChoice) and d.arch else 0
    if not isinstance(d, OpChoice):
        return 0
    if c.get("scope") and not d.name.startswith(c["scope"] + "."):
        return 0
    return 1 if _matches(v, c["count"]) else 0


def genotype_metrics(space: Any, values: dict[str, Any]) -> dict[str, float]:
    """The genotype metrics the space's constraints use, for one (validated) genotype."""
    out: dict[str, float] = {}
    for c in space.constraints:
        if is_genotype_metric(c) and c["metric"] not in out:
            out[c["metric"]] = float(sum(_contribution(c, d, values[d.name]) for d in space.decisions.values()
                                         if d.arch and space._active(d, values)))
    return out


def broken(space: Any, metrics: dict[str, float]) -> Optional[dict[str, Any]]:
    """The first constraint the metrics break (those it has metrics for), or None."""
    for c in space.constraints:
        if c["metric"] in metrics and not compare(metrics[c["metric"]], c["op"], c["value"]):
            return c
    return None


def violation(c: dict[str, Any], metrics: dict[str, float]) -> str:
    """What a rejected trial records: ``edges = 10 breaks 'where edges <= 9' (file:line:col)``; a bound
    written with network parameters also says its value (``'where edges <= max_edges', i.e. <= 9``)."""
    said = f"{c['metric']} = {metrics[c['metric']]:.6g} breaks 'where {c['text']}'"
    if c["text"] != f"{c['metric']} {c['op']} {c['value']}":
        said += f", i.e. {c['op']} {c['value']:.6g}"
    return f"{said} ({c['where']})"


def model_metrics(arch: Any) -> dict[str, float]:
    """``params`` and ``flops`` of the model the PyTorch backend would build from ``arch``, computed from
    the IR's ops and shapes without building it (so rejecting a huge architecture allocates nothing)."""
    from .plugins import get_backend

    return get_backend("torch")().cost(arch)


def structural_metrics(arch: Any) -> dict[str, float]:
    """Metrics of the Architecture IR itself: ``nodes`` (its ops) and ``depth`` (ops on the longest
    input -> output path)."""
    import networkx as nx

    g = arch.graph
    depth: dict[str, int] = {}
    for n in nx.topological_sort(g):
        d = max((depth[u] for u in g.predecessors(n)), default=0)
        depth[n] = d + (1 if g.nodes[n]["kind"] == "op" else 0)
    return {"nodes": float(len(arch.ops())), "depth": float(depth[arch.output_node])}


@dataclass
class Feasible:
    """How many architectures satisfy a space's constraints."""

    count: float  # exact (an int) or estimated
    total: int  # the space's size
    exact: bool
    method: str
    samples: int = 0
    low: Optional[float] = None  # 95 % interval of an estimate
    high: Optional[float] = None
    reasons: Counter = field(default_factory=Counter)  # constraint text -> how many (sampled) genotypes broke it first

    def describe(self) -> str:
        if self.exact:
            return f"{int(self.count)} of {self.total} architectures satisfy the constraints (exact, {self.method})"
        return (f"about {self.count:.4g} of {self.total} architectures satisfy the constraints "
                f"(estimate from {self.samples} samples, 95% interval {self.low:.4g} .. {self.high:.4g})")


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return p, max(0.0, mid - half), min(1.0, mid + half)


def _histograms(space: Any, cons: list[dict[str, Any]]) -> Counter:
    """The joint distribution, over every architecture, of the genotype metrics of ``cons`` (exact counts)."""
    kids: dict[str, list[Decision]] = {}
    for d in space.decisions.values():
        if d.guard is not None and d.arch:
            kids.setdefault(d.guard.decision, []).append(d)
    zero = tuple(0 for _ in cons)

    def conv(a: Counter, b: Counter) -> Counter:
        out: Counter = Counter()
        for ka, na in a.items():
            for kb, nb in b.items():
                out[tuple(x + y for x, y in zip(ka, kb))] += na * nb
        return out

    memo: dict[str, Counter] = {}

    def leaf(d: Decision) -> Counter:
        """The histogram of a decision that guards no other: without enumerating a large input choice."""
        if isinstance(d, InputChoice):
            n = len(d.candidates)
            ks = range(n + 1) if d.mode == "subset" else d.sizes() if d.mode == "distinct" else ()
            sizes = {j: math.comb(n, j) for j in ks} or {d.k: d.size()}
            return Counter({tuple(j if c["metric"] == "edges" else 0 for c in cons): cnt for j, cnt in sizes.items()})
        if isinstance(d, OpChoice):
            return Counter(tuple(_contribution(c, d, v) for c in cons) for v in d.values())
        return Counter({zero: d.size()})

    def hist(d: Decision) -> Counter:
        if d.name not in memo:
            ks = kids.get(d.name, [])
            if not ks:
                memo[d.name] = leaf(d)
            else:
                total: Counter = Counter()
                for v in d.values():
                    h = Counter({tuple(_contribution(c, d, v) for c in cons): 1})
                    for k in ks:
                        if k.guard.holds(v):
                            h = conv(h, hist(k))
                    total.update(h)
                memo[d.name] = total
        return memo[d.name]

    out = Counter({zero: 1})
    for d in space.decisions.values():
        if d.arch and d.guard is None:
            out = conv(out, hist(d))
    return out


def count_feasible(space: Any, samples: int = 2000, seed: int = 0, exact_limit: int = 20_000,
                   arch_metrics: Optional[Callable[[Any], dict[str, float]]] = None) -> Feasible:
    """Count the architectures of ``space`` that satisfy its ``where`` constraints.

    Args:
        samples: how many uniform samples an estimate uses.
        exact_limit: the largest space whose architecture metrics are counted by enumerating it.
        arch_metrics: architecture -> its metrics (depth, nodes, params, flops); without it only the
            structural ones (depth, nodes) can be checked.
    """
    total = space.size()
    cons = list(space.constraints)
    if any(c["metric"] == "latency" for c in cons):
        raise NasdslError("'latency' is measured by an estimator during a search; count --feasible cannot check it")
    gcons = [c for c in cons if is_genotype_metric(c)]
    acons = [c for c in cons if not is_genotype_metric(c)]
    if not cons:
        return Feasible(total, total, True, "no constraints")
    if not acons:
        hist = _histograms(space, gcons)
        n = sum(cnt for key, cnt in hist.items()
                if all(compare(v, c["op"], c["value"]) for v, c in zip(key, gcons)))
        return Feasible(n, total, True, "counted over the decisions' domains")

    def ok(g: Any, reasons: Counter) -> bool:
        values = g.values
        first = broken(space, genotype_metrics(space, values))
        if first is None:
            try:
                arch = space.realize(g)
            except NasdslError:
                reasons["cannot be realized"] += 1
                return False
            metrics = structural_metrics(arch)
            if arch_metrics is not None and any(c["metric"] in ("params", "flops") for c in acons):
                metrics.update(arch_metrics(arch))
            missing = [c["metric"] for c in acons if c["metric"] not in metrics]
            if missing:
                raise NasdslError(f"count --feasible cannot measure '{missing[0]}' here")
            first = broken(space, metrics)
        if first is not None:
            reasons[first["text"]] += 1
            return False
        return True

    reasons: Counter = Counter()
    if total <= exact_limit:
        n = sum(1 for g in space.enumerate() if ok(g, reasons))
        return Feasible(n, total, True, "every architecture realized", reasons=reasons)
    rng = random.Random(seed)
    k = sum(1 for _ in range(samples) if ok(space.sample(rng), reasons))
    p, lo, hi = _wilson(k, samples)
    return Feasible(p * total, total, False, "sampled", samples, lo * total, hi * total, reasons)
