"""The Architecture IR: one concrete network, as a networkx DAG of primitive ops.

``Space.realize(genotype)`` produces it; backends only ever see this.  The
hierarchy of the ``.nas`` file is flattened (each node id is its path, e.g.
``cells.3.n2.op0``), every choice is resolved, and shapes are inferred.

Node kinds (attribute ``kind``) and their attributes:
    input     shape                      the network's input (one example, no batch dim)
    op        op, base, args, shape      a primitive op; ``op`` as written in the source,
                                         ``base`` the op it is an alias of, ``args`` all its
                                         arguments resolved (channels, k, stride, ...)
    sum       shape                      elementwise sum of its inputs
    concat    shape                      concatenation along channels, in port order
    mul       shape                      elementwise product of its inputs (gates, attention-style mixing)
    output    shape                      the network's result (exactly one)

Every node has ``span`` (``file:line:col`` of the source construct) and ``shape``
(a list: ``[C, H, W]`` or ``[C]``).  Edges carry ``port``: the position of the
input among the node's inputs.  Anything else a pass needs goes into ``meta``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

import networkx as nx

from . import primitives
from .errors import ArchitectureError

KINDS = ("input", "op", "sum", "concat", "mul", "output")


class Architecture:
    """A concrete network: ``graph`` (networkx.DiGraph) plus what it was made from."""

    def __init__(self, graph: nx.DiGraph | None, *, space: str = "", genotype: dict[str, Any] | None = None,
                 hyperparameters: dict[str, Any] | None = None, constraints: list[dict[str, Any]] | None = None,
                 build: Callable[[], nx.DiGraph] | None = None, canonical: Callable[[], str] | None = None):
        self._graph = graph
        self._build = build  # makes the graph on first use (``Space.realize`` gives architectures this way)
        self._canonical = canonical  # computes the canonical hash without the graph (``Space.realize`` knows how)
        self.space = space
        self.genotype = dict(genotype or {})
        self.hyperparameters = dict(hyperparameters or {})
        self.constraints = list(constraints or [])

    @property
    def graph(self) -> nx.DiGraph:
        if self._graph is None:
            self._graph = self._build()
            self._build = None
        return self._graph

    @graph.setter
    def graph(self, g: nx.DiGraph) -> None:
        self._graph, self._build, self._canonical = g, None, None

    # ---------------------------------------------------------------- queries
    def inputs_of(self, node: str) -> list[str]:
        preds = list(self.graph.in_edges(node, data="port"))
        return [u for u, _, _ in sorted(preds, key=lambda e: e[2])]

    def topological(self) -> list[str]:
        """Node ids in a deterministic topological order."""
        return list(nx.lexicographical_topological_sort(self.graph, key=lambda n: self.graph.nodes[n].get("order", 0)))

    @property
    def input_node(self) -> str:
        return next(n for n, k in self.graph.nodes(data="kind") if k == "input")

    @property
    def output_node(self) -> str:
        return next(n for n, k in self.graph.nodes(data="kind") if k == "output")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.graph.nodes[self.input_node]["shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.graph.nodes[self.output_node]["shape"])

    def ops(self) -> list[str]:
        return [n for n in self.topological() if self.graph.nodes[n]["kind"] == "op"]

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    # ---------------------------------------------------------------- text
    def to_text(self) -> str:
        """One line per node in topological order, e.g. ``%n3 = sum(%a, %b)  [36, 32, 32]``."""
        lines = []
        for n in self.topological():
            a = self.graph.nodes[n]
            ins = ", ".join(f"%{u}" for u in self.inputs_of(n))
            kind = a["kind"]
            if kind == "op":
                args = {k: v for k, v in a["args"].items()}
                argtxt = " {" + ", ".join(f"{k}={v}" for k, v in args.items()) + "}" if args else ""
                head = f"op[{a['op']}]({ins}){argtxt}"
            elif kind == "input":
                head = "input()"
            else:
                head = f"{kind}({ins})"
            lines.append(f"%{n} = {head}  {list(a['shape'])}")
        return "\n".join(lines)

    __str__ = to_text

    # ---------------------------------------------------------------- json
    def to_dict(self) -> dict[str, Any]:
        data = nx.node_link_data(self.graph, edges="edges")
        return {"format": "nasdsl.architecture/1", "space": self.space, "genotype": self.genotype,
                "hyperparameters": self.hyperparameters, "constraints": self.constraints, "graph": data}

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Architecture":
        g = read_graph(d, "nasdsl.architecture/1", "architecture")
        for _, a in g.nodes(data=True):
            if "shape" in a:
                a["shape"] = list(a["shape"])
        arch = cls(nx.DiGraph(g), space=d.get("space", ""), genotype=d.get("genotype"),
                   hyperparameters=d.get("hyperparameters"), constraints=d.get("constraints"))
        lint(arch)
        return arch

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        return cls.from_dict(read_json(text, "architecture"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return (self.space == other.space and self.genotype == other.genotype
                and nx.utils.graphs_equal(self.graph, other.graph))

    # ---------------------------------------------------------------- identity
    def canonical_hash(self) -> str:
        """A hash equal for isomorphic architectures: a Merkle hash of the computation.

        Each node hashes its kind, op and arguments with the hashes of its inputs;
        ``sum`` and ``concat`` inputs are sorted (the order of a sum does not matter
        and a channel permutation is absorbed by the layers that follow).  Nodes that
        do not reach the output do not count; node names do not count.  An identity
        op still counts as a node: backends may follow every op with more layers
        (NAS-Bench-Graph does), so ``skip(x)`` and ``x`` are not merged.
        """
        if self._canonical is not None and self._graph is None:  # once the graph exists, it is the truth
            return self._canonical()
        g = self.graph
        out = self.output_node
        live = nx.ancestors(g, out) | {out}
        h: dict[str, str] = {}
        for n in self.topological():
            if n not in live:
                continue
            a = g.nodes[n]
            ins = [h[u] for u in self.inputs_of(n)]
            if a["kind"] in ("sum", "concat", "mul"):
                ins.sort()
            label = [a["kind"], a.get("base") or a.get("op"), sorted((a.get("args") or {}).items()), list(a["shape"]), ins]
            h[n] = hashlib.sha256(json.dumps(label, default=str).encode()).hexdigest()
        return h[out][:32]


def read_graph(d: Any, fmt: str, what: str) -> nx.DiGraph:
    """The graph of a saved IR (``{"format": fmt, "graph": node-link data}``), or an ArchitectureError."""
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise ArchitectureError(f"not a nasdsl {what} (missing format '{fmt}')")
    try:
        return nx.DiGraph(nx.node_link_graph(d["graph"], directed=True, multigraph=False, edges="edges"))
    except (KeyError, TypeError, nx.NetworkXError) as e:
        raise ArchitectureError(f"bad {what} graph: {e}") from None


def read_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ArchitectureError(f"{what} is not valid JSON: {e}") from None


def lint(arch: Architecture) -> None:
    """Check the Architecture IR's invariants; raise ArchitectureError naming the first broken one.

    Acyclic; one input and one output; known node kinds; input ports 0..n-1;
    every shape valid and equal to what the node's op or merge gives its inputs.
    """
    g = arch.graph
    if not isinstance(g, nx.DiGraph) or g.is_multigraph():
        raise ArchitectureError("the graph must be a networkx DiGraph")
    nodes = g.nodes
    outputs = [n for n, a in nodes.items() if a.get("kind") == "output"]
    inputs = [n for n, a in nodes.items() if a.get("kind") == "input"]
    if len(outputs) != 1:
        raise ArchitectureError(f"the graph must have exactly one output node; it has {len(outputs)}")
    if len(inputs) != 1:
        raise ArchitectureError(f"the graph must have exactly one input node; it has {len(inputs)}")
    try:
        order = list(nx.topological_sort(g))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(g)
        raise ArchitectureError(f"the graph has a cycle: {' -> '.join(u for u, _ in cycle)}") from None
    for n in order:
        a = nodes[n]
        kind = a.get("kind")
        if kind not in KINDS:
            raise ArchitectureError(f"node '{n}' has unknown kind {kind!r}; known: {', '.join(KINDS)}")
        shape = a.get("shape")
        if not isinstance(shape, (list, tuple)) or not shape or not all(isinstance(x, int) and x > 0 for x in shape):
            raise ArchitectureError(f"node '{n}' has no valid shape")
        preds = sorted((p.get("port", -1), u) for u, p in g.pred[n].items())
        if [p for p, _ in preds] != list(range(len(preds))):
            raise ArchitectureError(f"node '{n}' has input ports {[p for p, _ in preds]}; expected 0..{len(preds) - 1}")
        shapes = [tuple(nodes[u]["shape"]) for _, u in preds]
        if kind == "input":
            if preds:
                raise ArchitectureError(f"input node '{n}' has inputs")
            continue
        if kind == "op":
            if len(preds) != 1:
                raise ArchitectureError(f"op node '{n}' must have one input; it has {len(preds)}")
            prim = primitives.get(a.get("op", ""))
            if prim is None:
                raise ArchitectureError(f"op node '{n}' has unknown op {a.get('op')!r}")
            try:
                expect = primitives.infer(prim, a.get("args", {}), shapes[0])
            except primitives.ShapeError as e:
                raise ArchitectureError(f"op node '{n}': {e}") from None
        elif kind in ("sum", "concat", "mul"):
            if not preds:
                raise ArchitectureError(f"{kind} node '{n}' has no inputs")
            if len({s[1:] for s in shapes}) != 1:
                raise ArchitectureError(f"{kind} node '{n}' merges different sizes {[list(s) for s in shapes]}")
            if kind in ("sum", "mul") and len(set(shapes)) != 1:
                raise ArchitectureError(f"{kind} node '{n}' merges different shapes {[list(s) for s in shapes]}")
            expect = shapes[0] if kind in ("sum", "mul") else (sum(s[0] for s in shapes),) + shapes[0][1:]
        else:  # output
            if len(preds) != 1:
                raise ArchitectureError(f"output node '{n}' must have one input")
            if g.out_degree(n):
                raise ArchitectureError("the output node feeds other nodes")
            expect = shapes[0]
        if tuple(shape) != tuple(expect):
            raise ArchitectureError(f"{kind} node '{n}' has shape {list(shape)}; expected {list(expect)}")
    if inputs[0] not in nx.ancestors(g, outputs[0]):
        raise ArchitectureError("the output does not depend on the input")

