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

