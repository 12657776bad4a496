"""The values the walker computes with: tensors, cells, op sets, families, and where it stands (``Scope``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import networkx as nx

from .. import ast, primitives
from ..decisions import Guard
from ..errors import NasError, Span

MAX_INT = 10 ** 15

@dataclass(frozen=True)
class Tensor:
    node: str
    shape: tuple[int, ...] | None  # None while exploring
    label: str  # how the source names it (for input choices)


@dataclass(frozen=True)
class CellRef:
    """A cell, block or motif member usable as an op; ``prefix`` names its decisions."""

    defn: ast.CellDef
    prefix: str
    text: str


@dataclass
class Option:
    """One candidate of an op set: its text and what to apply."""

    text: str
    expr: Any  # ast expression, or a CellRef
    env: dict


@dataclass
class OpSet:
    options: list[Option]
    span: Span
    applied: tuple = ()  # (positional, keywords) given by calling the set: ``mb_ops(40, stride=2)``


@dataclass
class Family:
    """A motif family (``motif m[6]``) or an indexed tensor family (``l[i] = ...``)."""

    name: str
    members: dict[int, Any]


@dataclass
class TensorList:
    items: list[Tensor]


# ============================================================ contexts


@dataclass
class Scope:
    """Where the evaluator stands inside one definition instance."""

    prefix: str  # decision-name prefix
    env: dict[str, Any]
    node_prefix: str  # architecture node-id prefix (realize)
    graph: Optional[nx.DiGraph]  # the template being built (explore)
    guard: Optional[Guard] = None
    reduce_inputs: frozenset = frozenset()  # tensor nodes whose ops get stride 2
    current: Optional[Tensor] = None
    stmt: str = ""
    counters: dict = field(default_factory=dict)
    returned: Any = None

    def child(self, **kw: Any) -> "Scope":
        base = dict(prefix=self.prefix, env=self.env, node_prefix=self.node_prefix, graph=self.graph,
                    guard=self.guard, reduce_inputs=self.reduce_inputs, current=self.current,
                    stmt=self.stmt, counters=self.counters)
        base.update(kw)
        return Scope(**base)


def _join(*parts: str) -> str:
    return ".".join([p for p in parts if p])



def _literal(e: ast.Number) -> int | float:
    """A number as written, within the bounds arithmetic keeps to."""
    v = e.value
    if isinstance(v, float) and not math.isfinite(v):
        raise NasError(f"number '{e.text}' is too large", e.span)
    if isinstance(v, int) and abs(v) > MAX_INT:
        raise NasError(f"number '{e.text}' is too large ({MAX_INT} at most)", e.span)
    return v


def _describe(v: Any) -> str:
    if isinstance(v, DValue):
        return f"the decision value '{v.text()}'"
    if isinstance(v, bool):
        return "a condition"
    if isinstance(v, int):
        return f"the integer {v}"
    if isinstance(v, float):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the word '{v}'"
    if isinstance(v, Tensor):
        return f"the tensor '{v.label}'"
    if isinstance(v, TensorList):
        return "a list of tensors"
    if isinstance(v, CellRef):
        return f"the {v.defn.kind} '{v.text}'"
    if isinstance(v, primitives.Primitive):
        return f"the op '{v.name}'"
    if isinstance(v, ast.OpsDef):
        return f"the op set '{v.name}'"
    if isinstance(v, ast.NetworkDef):
        return f"the network '{v.name}'"
    if isinstance(v, Family):
        return f"the family '{v.name}'"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__



# ------------------------------------------------------------ values that depend on decisions

_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) else a / b,
        "%": lambda a, b: a % b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "in": lambda a, b: a in b, "and": lambda a, b: a and b, "or": lambda a, b: a or b}


def eval_expr(tree: Any, values: dict[str, Any]) -> Any:
    """The value of a decision expression (``["d", name]``, ``["c", v]``, ``[op, a, b]``, ``["neg", a]``)."""
    head = tree[0]
    if head == "d":
        return values[tree[1]]
    if head == "c":
        return tree[1]
    if head == "neg":
        return -eval_expr(tree[1], values)
    if head == "not":
        return not eval_expr(tree[1], values)
    return _OPS[head](eval_expr(tree[1], values), eval_expr(tree[2], values))


def expr_text(tree: Any) -> str:
    head = tree[0]
    if head == "d":
        return tree[1]
    if head == "c":
        return repr(tree[1])
    if head == "neg":
        return f"-({expr_text(tree[1])})"
    if head == "not":
        return f"not ({expr_text(tree[1])})"
    return f"({expr_text(tree[1])} {head} {expr_text(tree[2])})"


def expr_decisions(tree: Any) -> list[str]:
    if tree[0] == "d":
        return [tree[1]]
    if tree[0] == "c":
        return []
    return [d for t in tree[1:] for d in expr_decisions(t)]


@dataclass(frozen=True)
class DValue:
    """A number that depends on decisions: ``width``, ``4 * width``, ``C * {0.5, 1.0}``.

    ``value`` is what the reading follows (explore: the first option; realize: the genotype's;
    supernet: the largest), ``expr`` how it is computed from the decisions (JSON-ready lists).
    """

    value: Any
    expr: Any

    @property
    def decisions(self) -> list[str]:
        return sorted(set(expr_decisions(self.expr)))

    def text(self) -> str:
        return expr_text(self.expr)

    def __repr__(self) -> str:
        return f"<{self.text()}>"


def as_expr(v: Any) -> Any:
    return v.expr if isinstance(v, DValue) else ["c", v]


def round_int(v: Any) -> Any:
    """How a computed argument becomes an integer: nearest, halves up (``C * 0.75`` with C = 10 gives 8)."""
    if isinstance(v, float) and math.isfinite(v):
        return int(math.floor(v + 0.5))
    return v
