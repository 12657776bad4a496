"""The supernet reading and the supernet IR: every option of every decision, resolved and shaped.

``Space.supernet()`` walks the network a third way: where the realize reading
follows one genotype, this one emits *every* option of every choice with its
arguments resolved and its shapes inferred, keeps every candidate input of an
input choice and every repetition of a depth choice.  The result is what a
supernet builder consumes (a backend never re-reads the AST), and it is also
how ``Space.realize`` works: selecting a genotype's options in this IR gives
the architecture the realize reading gives, far faster.

Vocabulary of the supernet IR (a networkx DiGraph; node attribute ``kind``).
Every node has ``seq`` (emission order, a topological order), ``span``
(``file:line:col``), ``shape`` (its shape in the largest configuration: value
choices at their largest value; ``None`` where the options disagree in rank or
the shape cannot be known before selection), ``at`` (the architecture node-id
prefix its realization gets) and ``path``: the branches it exists under, outermost
first, each one of

    ["opt", CHOICE, i]       option i of the choice node CHOICE is selected
    ["slot", PICK, s, c]     slot s of the input choice PICK takes candidate c
    ["rep", DEPTH, r]        the depth choice DEPTH keeps repetition r (0-based)
    ["if", COND, b]          the condition of the ``if`` node COND is b (true or false)

Node kinds and their attributes:

    input                                   the network input
    op      op, base, args, vargs, inp      a primitive on node ``inp``: ``args`` as bound (value
                                            choices at their largest value, ``channels`` may be
                                            "same"), ``vargs`` {argument: decision} for value choices
    choice  decision, options, ends         one use of an op decision: option i ends at node ends[i]
    pick    decision, mode, k, labels,      an input choice over candidate nodes ``cands`` (their
            cands, each, slots, [ks]        source names ``labels``); with ``each``: slots[s][c] is
                                            the choice node of slot s's op on candidate c; ``ks``
                                            (``pick {1, 2} of``): how many it may pick (k: the most)
    subset  decision, labels, cands,        any subset of the candidates; ``default`` when empty
            default
    leaves  cands                           those candidates nothing else consumes
    merge   mode | decision, inputs,        sum / concat / mul of ``inputs`` (pick / subset /
            func, labels, argspans          leaves nodes stand for the tensors they select); the
                                            function written, each input's source name and the
                                            place of its argument (a genotype that makes two inputs
                                            one tensor is refused there, as the walker refuses it)
    depth   decision, ends                  a depth choice: depth v ends at node ends[str(v)]
    cond    decision, expr                  an ``if`` on a decision: ``expr`` (a decision expression,
                                            JSON lists) says which branch exists
    phi     cond, ends, name                after that ``if``: ends[0] when its condition held, else ends[1]
    output  inp                             the network's result

Edges mirror those references (``port``), so the graph can be drawn and
checked; the attributes are what selection reads.  Graph attributes: ``space``,
``network``, ``input_shape``, ``hyper`` ({hyperparameter: decision}).
Lowering (a strided skip to factorized reduction, ``channels = same``, zero
inputs dropped, merge alignment, dead nodes) happens at selection, through the
functions of :mod:`nasdsl.compiler.passes` the realize reading uses too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional, Sequence

import networkx as nx

from .. import ast, primitives
from ..decisions import Decision, ValueChoice
from ..architecture import read_graph, read_json
from ..errors import ArchitectureError, NasError, Span
from . import passes
from .values import OpSet, Scope, Tensor, TensorList, _join, eval_expr, expr_text, round_int
from .walker import CellCall, PickSite, RepeatSite, Walker, max_nodes, merged_twice

KINDS = ("input", "op", "choice", "pick", "subset", "leaves", "merge", "depth", "cond", "phi", "output")
FORMAT = "nasdsl.supernet/1"


def _widest(shapes: Sequence[Optional[tuple[int, ...]]]) -> Optional[tuple[int, ...]]:
    """The largest of several shapes of one rank (elementwise), or None."""
    if not shapes or any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        return None
    return tuple(max(d) for d in zip(*shapes))


def _span_of(text: str, source: Optional[str] = None) -> Span:
    file, line, col = text.rsplit(":", 2) if text.count(":") >= 2 else (text, "0", "0")
    try:
        return Span(file, int(line), int(col), 1, source)
    except ValueError:
        return Span(text, 0, 0, 1, source)


# ============================================================ the reading


class SupernetReading(Walker):
    """Walks a network emitting every option: the supernet IR."""

    def __init__(self, program, params, decisions: dict[str, Decision], input_shape=None):
        super().__init__(program, params, decisions, input_shape)
        self.g = nx.DiGraph()
        self.seq = 0
        self.path: tuple = ()
        self.spans: dict[str, Span] = {}

    # ------------------------------------------------------------ nodes
    def _node(self, idbase: str, scope: Scope, kind: str, shape: Optional[Sequence[int]], span: Span, **attrs: Any) -> str:
        limit = max_nodes()
        if self.g.number_of_nodes() >= limit:
            raise NasError(f"the supernet has more than {limit} nodes", span)
        at = _join(scope.node_prefix, scope.stmt)
        key = _join(at, idbase) or idbase
        if key in self.g:
            i = 2
            while f"{key}~{i}" in self.g:
                i += 1
            key = f"{key}~{i}"
        self.seq += 1
        self.g.add_node(key, kind=kind, shape=list(shape) if shape is not None else None, span=str(span),
                        seq=self.seq, at=at, path=[list(p) for p in self.path], **attrs)
        self.spans[key] = span
        return key

    def _edge(self, u: str, v: str, port: int) -> None:
        if not self.g.has_edge(u, v):
            self.g.add_edge(u, v, port=port)

    def _branch(self, key: tuple):
        walker = self

        class _In:
            def __enter__(self):
                walker.path = walker.path + (key,)

            def __exit__(self, *exc):
                walker.path = walker.path[:-1]
                return False
        return _In()

    def id_graph(self, scope: Scope) -> Any:  # pragma: no cover - this reading names nodes itself
        return self.g

    # ------------------------------------------------------------ hooks
    def end_network(self, out: Tensor, net: ast.NetworkDef, scope: Scope) -> None:
        key = self._node("output", scope, "output", out.shape, net.span, inp=out.node)
        self._edge(out.node, key, 0)

    def emit_input(self, dims: tuple[int, ...], st: ast.InputDecl, scope: Scope) -> Tensor:
        key = self._node("input", scope, "input", dims, st.span)
        return Tensor(key, tuple(dims), key)

    def decided(self, name: str, dec: Decision | None) -> Any:
        if isinstance(dec, ValueChoice) and dec.role == "value" and dec.arch and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in dec.options):
            return max(dec.options)  # a value choice stands at its largest value
        return dec.default()

    def emit_op(self, prim: primitives.Primitive, args: dict[str, Any], item: Any, x: Tensor, scope: Scope,
                sym: dict | None = None) -> Tensor:
        vargs = {k: (v.expr[1] if v.expr[0] == "d" else {"expr": v.expr, "round": whole})
                 for k, (v, whole) in (sym or {}).items() if k in args}
        plain = dict(args)
        shape = None
        if x.shape is not None:
            try:
                low, largs = passes.lower_op(prim, plain, x.shape)
                shape = primitives.infer(low, largs, x.shape)
            except (primitives.ShapeError, ValueError, TypeError):
                shape = None  # no selection can realize this one; selection reports it where it happens
        key = self._node(prim.name, scope, "op", shape, item.span, op=prim.name, base=prim.canonical,
                         args=plain, vargs=vargs, inp=x.node)
        self._edge(x.node, key, 0)
        return Tensor(key, shape, key)

    def _choice(self, ops: OpSet, item: Any, x: Tensor, scope: Scope, dname: str, scope_of) -> Tensor:
        key = self._node("choice", scope, "choice", None, item.span, decision=dname,
                         options=[o.text for o in ops.options])
        ends, shapes = [], []
        for i, o in enumerate(ops.options):
            with self._branch(("opt", key, i)):
                end = self._option(o, ops, item, x, scope_of(i, o))
            ends.append(end.node)
            shapes.append(end.shape)
            self._edge(end.node, key, i)
        shape = _widest(shapes)
        self.g.nodes[key].update(ends=ends, shape=list(shape) if shape else None)
        return Tensor(key, shape, key)

    def emit_choice(self, ops: OpSet, item: Any, x: Tensor, scope: Scope, dname: str, dec: Decision) -> Tensor:
        return self._choice(ops, item, x, scope, dname, lambda i, o: self._option_scope(scope, dname, i, o))

    def emit_cell(self, c: CellCall) -> Tensor:
        return self.inline_cell(c)

    def emit_merge(self, mode: str, dname: str | None, inputs: list[Tensor], e: Any, scope: Scope,
                   spans=None) -> Tensor:
        shapes = [t.shape for t in inputs]
        shape = None
        if all(s is not None for s in shapes):
            try:
                shape = passes.merge_shape(mode, shapes, None)
            except NasError:
                shape = None
        key = self._node(e.func if dname else mode, scope, "merge", shape, e.span, mode=None if dname else mode,
                         decision=dname, inputs=[t.node for t in inputs], func=e.func,
                         labels=[t.label for t in inputs], argspans=[str(s) for s in spans] if spans else None)
        for p, t in enumerate(inputs):
            self._edge(t.node, key, p)
        for i, s in enumerate(spans or ()):
            self.spans[f"{key}@{i}"] = s
        return Tensor(key, shape, key)

    def emit_pick(self, p: PickSite, scope: Scope) -> TensorList:
        labels = [t.label for t in p.cands]
        key = self._node("pick", scope, "pick", None, p.expr.span, decision=p.dname, mode=p.mode, k=p.k,
                         labels=labels, cands=[t.node for t in p.cands], each=list(p.op_names), slots=[],
                         **({"ks": list(p.dec.ks)} if p.dec.ks else {}))
        slots, shapes = [], []
        if p.ops is None:
            for c, t in enumerate(p.cands):
                self._edge(t.node, key, c)
            shapes = [t.shape for t in p.cands]
        else:
            port = 0
            for s, oname in enumerate(p.op_names):
                row = []
                for c, t in enumerate(p.cands):
                    with self._branch(("slot", key, s, c)):
                        ch = self._choice(p.ops, p.expr.each, t, scope, oname,
                                          lambda i, o: self.slot_scope(scope, oname, i, o))
                    row.append(ch.node)
                    shapes.append(ch.shape)
                    self._edge(ch.node, key, port)
                    port += 1
                slots.append(row)
        shape = _widest(shapes)
        self.g.nodes[key].update(slots=slots, shape=list(shape) if shape else None)
        return TensorList([Tensor(key, shape, key)])

    def emit_subset(self, cands, default, dname, dec, scope) -> TensorList:
        key = self._node("subset", scope, "subset", None, self.where, decision=dname, labels=[t.label for t in cands],
                         cands=[t.node for t in cands], default=default.node if default is not None else None)
        for c, t in enumerate(cands + ([default] if default is not None else [])):
            self._edge(t.node, key, c)
        shape = _widest([t.shape for t in cands])
        self.g.nodes[key]["shape"] = list(shape) if shape else None
        return TensorList([Tensor(key, shape, key)])

    def emit_leaves(self, cands: list[Tensor], scope: Scope) -> TensorList:
        key = self._node("leaves", scope, "leaves", None, self.where, cands=[t.node for t in cands])
        for c, t in enumerate(cands):
            self._edge(t.node, key, c)
        shape = _widest([t.shape for t in cands])
        self.g.nodes[key]["shape"] = list(shape) if shape else None
        return TensorList([Tensor(key, shape, key)])

    def repeat_count(self, dname, lo, hi, depth) -> int:
        return hi

    def emit_if(self, site, scope: Scope) -> None:
        key = self._node("if", scope, "cond", None, site.stmt.span, decision=site.decision, expr=site.cond.expr)
        branches = {}
        for b in (True, False):
            if site.guards[b] is not None:
                with self._branch(("if", key, b)):
                    branches[b] = self.walk_branch(site, b, scope)

        def pick(name: str, vals: dict) -> Tensor:
            shape = _widest([vals[True].shape, vals[False].shape])
            phi = self._node("phi", scope, "phi", shape, site.stmt.span, cond=key,
                             ends=[vals[True].node, vals[False].node], name=name)
            self._edge(vals[True].node, phi, 0)
            self._edge(vals[False].node, phi, 1)
            return Tensor(phi, shape, phi)
        self.join_branches(site, scope, branches, pick)

    def _depth_node(self, site: RepeatSite, scope: Scope) -> str:
        if site.node is None:
            site.node = self._node("depth", scope, "depth", None, site.expr.count.span, decision=site.dname, ends={})
        return site.node

    def enter_repetition(self, site: RepeatSite, r: int, scope: Scope) -> None:
        if site.dname and r >= site.lo:
            parent = scope.child(stmt=scope.stmt.rsplit("[", 1)[0])
            key = self._depth_node(site, parent)
            self.path = self.path + (("rep", key, r),)

    def leave_repetition(self, site: RepeatSite, r: int) -> None:
        if site.dname and r >= site.lo:
            self.path = self.path[:-1]

    def emit_repeat(self, dname, vals, ends, t, scope, site=None) -> Tensor:
        if not dname:
            return t
        key = self._depth_node(site, scope)
        got = {str(v): ends[v].node for v in vals}
        for p, (v, n) in enumerate(sorted(got.items(), key=lambda kv: int(kv[0]))):
            self._edge(n, key, p)
        shape = _widest([ends[v].shape for v in vals])
        self.g.nodes[key].update(ends=got, shape=list(shape) if shape else None)
        return Tensor(key, shape, key)


def build_supernet(space: Any, input_shape: Optional[Sequence[int]] = None) -> "SupernetIR":
    """The supernet IR of a compiled space (``Space.supernet()`` calls this)."""
    from .walker import guarded

    shape = tuple(input_shape) if input_shape else space._input_override
    rd = SupernetReading(space.program, space._params_override, space.decisions, input_shape=shape)
    guarded(rd.run_network)(space.name)
    rd.g.graph.update(space=space.name, network=space.name, input_shape=list(rd.input_shape or ()),
                      hyper={k: _join(space.name, k) for k in rd.hyper})
    return SupernetIR(rd.g, rd.spans)


# ============================================================ the IR


class SupernetIR:
    """The supernet IR: a networkx DiGraph (vocabulary in this module's docstring) and its selection."""

    def __init__(self, graph: nx.DiGraph, spans: Optional[dict[str, Span]] = None):
        self.graph = graph
        self._spans = spans or {}
        self._plan: Optional[_Block] = None
        self._leaves = any(k == "leaves" for _, k in graph.nodes(data="kind"))

    # ---------------------------------------------------------------- queries
    def nodes(self, kind: Optional[str] = None) -> list[str]:
        """Node keys in emission order (a topological order), optionally of one kind."""
        order = sorted(self.graph.nodes(data="seq"), key=lambda kv: kv[1])
        return [n for n, _ in order if kind is None or self.graph.nodes[n]["kind"] == kind]

    def choices(self) -> dict[str, list[str]]:
        """Decision name -> the nodes that use it (a shared cell's decision is used by each of its copies)."""
        out: dict[str, list[str]] = {}
        for n in self.nodes():
            d = self.graph.nodes[n].get("decision")
            if d:
                out.setdefault(d, []).append(n)
        return out

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    # ---------------------------------------------------------------- text and json
    def to_text(self) -> str:
        """One line per node in emission order, e.g. ``%n2.op0 = choice[cell.n2.op0](%a, %b)  [16, 8, 8]``."""
        lines = []
        g = self.graph
        for n in self.nodes():
            a = g.nodes[n]
            kind = a["kind"]
            ins = ", ".join(f"%{u}" for u, _, _ in sorted(g.in_edges(n, data="port"), key=lambda e: e[2]))
            if kind == "op":
                args = dict(a["args"])
                for k, d in a.get("vargs", {}).items():
                    args[k] = f"<{d if isinstance(d, str) else expr_text(d['expr'])}>"
                head = f"op[{a['op']}]({ins})" + (" {" + ", ".join(f"{k}={v}" for k, v in args.items()) + "}" if args else "")
            elif kind in ("choice", "pick", "subset", "depth", "cond"):
                head = f"{kind}[{a['decision']}]({ins})"
            elif kind == "merge":
                head = f"{a['mode'] or '<' + a['decision'] + '>'}({ins})"
            else:
                head = f"{kind}({ins})"
            when = " when " + " & ".join(_cond_text(g, p) for p in a["path"]) if a["path"] else ""
            shape = list(a["shape"]) if a["shape"] is not None else "?"
            lines.append(f"%{n} = {head}  {shape}{when}")
        return "\n".join(lines)

    __str__ = to_text

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "graph": nx.node_link_data(self.graph, edges="edges")}

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SupernetIR":
        ir = cls(read_graph(d, FORMAT, "supernet"))
        lint_supernet(ir)
        return ir

    @classmethod
    def from_json(cls, text: str) -> "SupernetIR":
        return cls.from_dict(read_json(text, "supernet"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SupernetIR):
            return NotImplemented
        return nx.utils.graphs_equal(self.graph, other.graph) and self.graph.graph == other.graph.graph

    # ---------------------------------------------------------------- selection
    def span(self, key: str) -> Span:
        sp = self._spans.get(key)
        return sp if sp is not None else _span_of(self.graph.nodes[key]["span"])

    def arg_span(self, key: str, i: int) -> Span:
        """Where the argument of merge ``key`` that gave its input ``i`` is written."""
        sp = self._spans.get(f"{key}@{i}")
        return sp if sp is not None else _span_of(self.graph.nodes[key]["argspans"][i])

    def plan(self) -> "_Block":
        if self._plan is None:
            self._plan = _compile(self)
        return self._plan

    def select(self, values: dict[str, Any]) -> "Selection":
        """The architecture a genotype's (validated) values select: nodes in realization order, dead ones pruned."""
        plan = self.plan()
        st = Selection(values, consumers=self._leaves)
        plan.run(st)
        st.finish()
        return st


def _cond_text(g: nx.DiGraph, p: list) -> str:
    kind, owner = p[0], p[1]
    dec = g.nodes[owner].get("decision", owner) if owner in g else owner
    if kind == "opt":
        return f"{dec}=={g.nodes[owner]['options'][p[2]]!r}" if owner in g else f"{dec}=={p[2]}"
    if kind == "slot":
        return f"{dec}[{p[2]}]=={g.nodes[owner]['labels'][p[3]]!r}" if owner in g else f"{dec}[{p[2]}]=={p[3]}"
    if kind == "if":
        text = expr_text(g.nodes[owner]["expr"]) if owner in g else owner
        return text if p[2] else f"not {text}"
    return f"{dec}>{p[2]}"


def lint_supernet(ir: SupernetIR) -> None:
    """Check the supernet IR's invariants; raise ArchitectureError naming the first broken one.

    Acyclic; one input and one output; known kinds; every node it refers to exists and comes
    before it; every branch of a node's path is owned by a node of the right kind that comes before it.
    """
    g = ir.graph
    kinds = dict(g.nodes(data="kind"))
    for n, k in kinds.items():
        if k not in KINDS:
            raise ArchitectureError(f"supernet node '{n}' has unknown kind {k!r}; known: {', '.join(KINDS)}")
    for k in ("input", "output"):
        found = [n for n, kk in kinds.items() if kk == k]
        if len(found) != 1:
            raise ArchitectureError(f"the supernet must have exactly one {k} node; it has {len(found)}")
    if not nx.is_directed_acyclic_graph(g):
        raise ArchitectureError("the supernet has a cycle")
    seq = {n: a.get("seq") for n, a in g.nodes(data=True)}
    if any(not isinstance(s, int) for s in seq.values()) or len(set(seq.values())) != len(seq):
        raise ArchitectureError("every supernet node needs a distinct integer 'seq'")
    owners = {"opt": "choice", "slot": "pick", "rep": "depth", "if": "cond"}
    for n, a in g.nodes(data=True):
        refs: list[str] = []
        k = a["kind"]
        if k in ("op", "output"):
            refs = [a["inp"]]
        elif k == "choice":
            refs = list(a["ends"])
        elif k == "pick":
            refs = list(a["cands"]) + [c for row in a["slots"] for c in row]
        elif k == "subset":
            refs = list(a["cands"]) + ([a["default"]] if a.get("default") else [])
        elif k == "leaves":
            refs = list(a["cands"])
        elif k == "merge":
            refs = list(a["inputs"])
        elif k == "depth":
            refs = list(a["ends"].values())
        elif k == "phi":
            refs = [a["cond"]] + list(a["ends"])
        for r in refs:
            if r not in g:
                raise ArchitectureError(f"supernet node '{n}' refers to a missing node '{r}'")
            if k not in ("choice", "pick", "depth") and seq[r] >= seq[n]:
                raise ArchitectureError(f"supernet node '{n}' refers to '{r}', which comes after it")
        for p in a["path"]:
            if p[0] not in owners or p[1] not in g or kinds[p[1]] != owners[p[0]] or seq[p[1]] >= seq[n]:
                raise ArchitectureError(f"supernet node '{n}' lies under a branch {p} that has no owner before it")


# ============================================================ selection


class Selection:
    """What selecting one genotype gives: the realized nodes, in the order the realize reading adds them.

    Nodes are kept as records numbered in the order they are added (inputs refer to those numbers);
    their architecture names (``at.base``, made unique as the realize reading names them) are given
    only when asked for (:attr:`nodes`, :meth:`graph`, :attr:`origin`), so a genotype that is only
    hashed never pays for naming.
    """

    __slots__ = ("values", "real", "raw", "consumers", "zero", "output", "limit", "live", "_names", "_merkle")

    def __init__(self, values: dict[str, Any], consumers: bool = True):
        self.limit = max_nodes()
        self.values = values
        self.real: dict[str, Any] = {}  # supernet node -> (record number, shape), or a list of them
        self.raw: list[tuple] = []  # (base name, kind, shape, span, attrs, inputs, hash prefix, supernet op)
        self.consumers: Optional[dict[int, int]] = {} if consumers else None  # read by 'leaves of'
        self.zero: set[int] = set()
        self.output: Optional[int] = None
        self.live: list[int] = []
        self._names: Optional[list[str]] = None
        self._merkle: Optional[str] = None

    def add(self, base: str, kind: str, inputs: list[int], shape: tuple, span: str, attrs: dict,
            prefix: str, src: Optional[str] = None) -> int:
        """Add a node (``attrs`` is not copied); its number."""
        raw = self.raw
        i = len(raw)
        if i >= self.limit:
            raise NasError(f"the architecture has more than {self.limit} nodes", _span_of(span))
        raw.append((base, kind, shape, span, attrs, inputs, prefix, src))
        cons = self.consumers
        if cons is not None:
            for u in inputs:
                cons[u] = cons.get(u, 0) + 1
        return i

    def finish(self) -> None:
        """Keep the nodes the output depends on (the input stays); inputs always precede their node."""
        raw = self.raw
        keep = bytearray(len(raw))
        keep[self.output] = 1
        for i in range(len(raw) - 1, -1, -1):
            if keep[i]:
                for u in raw[i][5]:
                    keep[u] = 1
            elif raw[i][1] == "input":
                keep[i] = 1
        self.live = [i for i in range(len(raw)) if keep[i]]
        self.real = self.consumers = None  # only selection reads them

    # ---------------------------------------------------------------- names
    def names(self) -> list[str]:
        """Every record's architecture node id: the first free ``base#i`` (i >= 2) where ``base`` is taken."""
        if self._names is None:
            taken: set[str] = set()
            nexts: dict[str, int] = {}
            out = []
            for r in self.raw:
                nid = r[0]
                if nid in taken:
                    i = nexts.get(nid, 2)
                    while f"{nid}#{i}" in taken:
                        i += 1
                    nexts[nid] = i + 1
                    nid = f"{nid}#{i}"
                taken.add(nid)
                out.append(nid)
            self._names = out
        return self._names

    @property
    def nodes(self) -> list[list]:
        """The live nodes as ``[id, kind, shape, span, attrs, input ids, hash prefix, order]``."""
        names, raw = self.names(), self.raw
        return [[names[i], r[1], r[2], r[3], r[4], [names[u] for u in r[5]], r[6], i + 1]
                for i, r in ((i, raw[i]) for i in self.live)]

    @property
    def origin(self) -> dict[str, str]:
        """Architecture op node id -> the supernet op node it realizes (alignment ops have none)."""
        names = self.names()
        return {names[i]: r[7] for i, r in enumerate(self.raw) if r[7] is not None}

    # ---------------------------------------------------------------- results
    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        nodes = self.nodes
        g.add_nodes_from((n[0], _attrs(n)) for n in nodes)
        g.add_edges_from((u, n[0], {"port": p}) for n in nodes for p, u in enumerate(n[5]))
        return g

    def merkle(self) -> str:
        """``Architecture.canonical_hash`` of the selected architecture, computed on the records."""
        if self._merkle is None:
            raw = self.raw
            h: list = [None] * len(raw)
            sha = hashlib.sha256
            merges, join = _MERGE_KINDS, '", "'.join
            for i in self.live:
                r = raw[i]
                ins = r[5]
                if len(ins) == 1:
                    text = f'{r[6]}, ["{h[ins[0]]}"]]'
                elif not ins:
                    text = f"{r[6]}, []]"
                else:
                    hs = [h[u] for u in ins]
                    if r[1] in merges:
                        hs.sort()
                    text = f'{r[6]}, ["{join(hs)}"]]'
                h[i] = sha(text.encode()).hexdigest()
            self._merkle = h[self.output][:32]
        return self._merkle


def varg_value(d: str | dict, values: dict[str, Any]) -> Any:
    """The value under ``values`` of an op argument that depends on decisions: a ``vargs`` entry, a decision's
    name or an expression of decisions ({"expr": tree, "round": bool})."""
    if isinstance(d, str):
        return values[d]
    v = eval_expr(d["expr"], values)
    return round_int(v) if d.get("round") else v


def _attrs(n: list) -> dict[str, Any]:
    a = {"kind": n[1], "shape": list(n[2]), "span": n[3], "order": n[7]}
    extra = n[4]
    if extra:
        a.update(op=extra["op"], base=extra["base"], args=dict(extra["args"]))
    return a


def _nid(at: str, base: str) -> str:
    return f"{at}.{base}" if at else base


_MERGE_KINDS = frozenset(("sum", "concat", "mul"))
_PREFIXES: dict[tuple, str] = {}
_CACHE = 64  # entries a step keeps of what it computed for an input shape (and value-choice values)


def _prefix(kind: str, shape: tuple, base: Optional[str] = None, args: Optional[dict] = None) -> str:
    """The start of a node's canonical-hash label (``Architecture.canonical_hash``), its inputs left out."""
    if base is not None:
        return json.dumps([kind, base, sorted(args.items()), list(shape)], default=str)[:-1]
    key = (kind, shape)
    p = _PREFIXES.get(key)
    if p is None:
        p = json.dumps([kind, None, [], list(shape)])[:-1]
        if len(_PREFIXES) < 10_000:
            _PREFIXES[key] = p
    return p


def _nothing(st: "Selection") -> None:
    return None


class _Block:
    __slots__ = ("steps", "runs")

    def __init__(self):
        self.steps: list = []
        self.runs: tuple = ()

    def run(self, st: Selection) -> None:
        for run in self.runs:
            run(st)

    def runner(self):
        """The fastest callable that runs this block: its one step's ``run`` where it has one step."""
        self.runs = tuple(s.run for s in self.steps)
        if not self.runs:
            return _nothing
        return self.runs[0] if len(self.runs) == 1 else self.run


class _Step:
    __slots__ = ("key", "at", "span_text", "ir")

    def __init__(self, ir: SupernetIR, key: str):
        a = ir.graph.nodes[key]
        self.key, self.at, self.span_text, self.ir = key, a["at"], a["span"], ir

    def span(self) -> Span:
        return self.ir.span(self.key)

    def seal(self) -> None:
        """Called once the plan is complete (steps with branches take their blocks' runners)."""


class _Input(_Step):
    __slots__ = ("shape",)

    def __init__(self, ir, key):
        super().__init__(ir, key)
        self.shape = tuple(ir.graph.nodes[key]["shape"])

    def run(self, st: Selection) -> None:
        i = st.add(_nid(self.at, "input"), "input", [], self.shape, self.span_text, {}, _prefix("input", self.shape))
        st.real[self.key] = (i, self.shape)


class _Output(_Step):
    __slots__ = ("inp",)

    def __init__(self, ir, key):
        super().__init__(ir, key)
        self.inp = ir.graph.nodes[key]["inp"]

    def run(self, st: Selection) -> None:
        x = st.real[self.inp]
        st.output = st.add(_nid(self.at, "output"), "output", [x[0]], x[1], self.span_text, {},
                           _prefix("output", x[1]))


class _Op(_Step):
    __slots__ = ("inp", "prim", "args", "vnames", "vdecs", "cache")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.inp, self.prim, self.args = a["inp"], primitives.get(a["op"]), dict(a["args"])
        if self.prim is None:
            raise ArchitectureError(f"supernet node '{key}' has unknown op {a['op']!r}")
        self.vnames = tuple(a.get("vargs", {}))
        self.vdecs = tuple(a.get("vargs", {}).values())  # a decision name, or {"expr": tree, "round": bool}
        self.cache: dict = {}

    def _lower(self, shape: tuple, vals: tuple) -> tuple:
        args = dict(self.args)
        for k, v in zip(self.vnames, vals):
            args[k] = v
        prim, args = passes.lower_op(self.prim, args, shape)
        out = passes.infer_shape(prim, args, shape, self.span())
        return (_nid(self.at, prim.name), {"op": prim.name, "base": prim.canonical, "args": args}, out,
                _prefix("op", out, prim.canonical, args), prim.canonical == "none")

    def run(self, st: Selection) -> None:
        x = st.real[self.inp]
        if self.vdecs:
            values = st.values
            ck = (x[1], tuple(varg_value(d, values) for d in self.vdecs))
        else:
            ck = x[1]
        c = self.cache.get(ck)
        if c is None:
            c = self._lower(x[1], ck[1] if self.vdecs else ())
            if len(self.cache) < _CACHE:
                self.cache[ck] = c
        raw = st.raw
        i = len(raw)
        if i >= st.limit or st.consumers is not None:  # the general path: the limit's error, consumers counted
            st.add(c[0], "op", [x[0]], c[2], self.span_text, c[1], c[3], self.key)
        else:  # Selection.add, inlined: the one step every selected op takes
            raw.append((c[0], "op", c[2], self.span_text, c[1], [x[0]], c[3], self.key))
        if c[4]:
            st.zero.add(i)
        st.real[self.key] = (i, c[2])


class _Choice(_Step):
    __slots__ = ("decision", "index", "options", "ends", "runs")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.decision = a["decision"]
        self.index = {t: i for i, t in enumerate(a["options"])}
        self.options = [_Block() for _ in a["options"]]
        self.ends = a["ends"]

    def branch(self, p: list) -> _Block:
        return self.options[p[2]]

    def seal(self) -> None:
        self.runs = {t: (b.runner(), self.ends[i]) for t, i, b in ((t, i, self.options[i]) for t, i in self.index.items())}

    def run(self, st: Selection) -> None:
        run, end = self.runs[st.values[self.decision]]
        run(st)
        st.real[self.key] = st.real[end]


class _Pick(_Step):
    __slots__ = ("decision", "position", "cands", "slots", "blocks", "runs")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.decision = a["decision"]
        self.position = {t: i for i, t in enumerate(a["labels"])}
        self.cands, self.slots = a["cands"], a["slots"]
        self.blocks = [[_Block() for _ in row] for row in self.slots]

    def branch(self, p: list) -> _Block:
        return self.blocks[p[2]][p[3]]

    def seal(self) -> None:
        self.runs = [[(b.runner(), self.slots[s][c]) for c, b in enumerate(row)] for s, row in enumerate(self.blocks)]

    def run(self, st: Selection) -> None:
        position, real = self.position, st.real
        picked = st.values[self.decision]
        if not self.slots:
            cands = self.cands
            real[self.key] = [real[cands[position[c]]] for c in picked]
            return
        out = []
        for row, c in zip(self.runs, picked):
            run, end = row[position[c]]
            run(st)
            out.append(real[end])
        real[self.key] = out


class _Subset(_Step):
    __slots__ = ("decision", "labels", "cands", "default")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.decision, self.labels, self.cands, self.default = a["decision"], a["labels"], a["cands"], a.get("default")

    def run(self, st: Selection) -> None:
        chosen = set(st.values[self.decision])
        picked = [st.real[c] for c, lab in zip(self.cands, self.labels) if lab in chosen]
        if not picked and self.default is not None:
            picked = [st.real[self.default]]
        st.real[self.key] = picked


class _Leaves(_Step):
    __slots__ = ("cands",)

    def __init__(self, ir, key):
        super().__init__(ir, key)
        self.cands = ir.graph.nodes[key]["cands"]

    def run(self, st: Selection) -> None:
        ts = [st.real[c] for c in self.cands]
        out = list({t[0]: t for t in ts if not st.consumers.get(t[0])}.values())
        st.real[self.key] = out or [ts[-1]]


class _Merge(_Step):
    __slots__ = ("mode", "decision", "inputs", "func", "labels", "argspans", "shaped")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.mode, self.decision, self.inputs = a.get("mode"), a.get("decision"), a["inputs"]
        self.func, self.labels, self.argspans = a.get("func"), a.get("labels"), a.get("argspans")
        self.shaped: dict = {}  # (mode, *input shapes) -> (merged shape, hash prefix, base name), if none is aligned

    def run(self, st: Selection) -> None:
        ins: list = []
        real = st.real
        for k in self.inputs:
            v = real[k]
            if v.__class__ is list:
                ins.extend(v)
            else:
                ins.append(v)
        if self.argspans and len({t[0] for t in ins}) < len(ins):
            self._twice(st)
        zero = st.zero
        live = [t for t in ins if t[0] not in zero] if zero else ins
        if len(live) < 2:
            real[self.key] = live[0] if live else ins[0]
            return
        mode = self.mode or st.values[self.decision]
        ck = (mode, *[t[1] for t in live])
        c = self.shaped.get(ck)
        if c is None:
            c, live = self._shape(st, mode, live)
            if c is None:  # inputs were aligned: not cached (the alignment adds nodes)
                return
            if len(self.shaped) < _CACHE:
                self.shaped[ck] = c
        i = st.add(c[2], mode, [t[0] for t in live], c[0], self.span_text, {}, c[1])
        real[self.key] = (i, c[0])

    def _shape(self, st: Selection, mode: str, live: list):
        """(merged shape, hash prefix, base name) of inputs of one spatial shape; else aligns them, adds the merge."""
        spatial = [t[1][1:] for t in live]
        aligned = len(set(spatial)) != 1
        if aligned:
            plan = passes.align_plan(spatial, self.span())
            fr = primitives.get("factorized_reduce")
            out = []
            for t, n in zip(live, plan):
                for _ in range(n):
                    prim, args = passes.lower_op(fr, {"channels": primitives.SAME}, t[1])
                    shape = passes.infer_shape(prim, args, t[1], self.span())
                    t = (st.add(_nid(self.at, prim.name), "op", [t[0]], shape, self.span_text,
                                {"op": prim.name, "base": prim.canonical, "args": args},
                                _prefix("op", shape, prim.canonical, args)), shape)
                out.append(t)
            live = out
        try:
            shape = passes.merge_shape(mode, [t[1] for t in live], None)
        except NasError as e:
            raise NasError(e.message, self.span()) from None
        c = (shape, _prefix(mode, shape), _nid(self.at, mode))
        if not aligned:
            return c, live
        i = st.add(_nid(self.at, mode), mode, [t[0] for t in live], shape, self.span_text, {}, c[1])
        st.real[self.key] = (i, shape)
        return None, live

    def _twice(self, st: Selection) -> None:
        """The walker's error for a merge whose arguments turn out to be one tensor (see ``merged_twice``)."""
        seen: dict[int, Optional[str]] = {}
        names = st.names()
        for i, (k, label) in enumerate(zip(self.inputs, self.labels)):
            v = st.real[k]
            for rec, _ in (v if isinstance(v, list) else [v]):
                if rec in seen:
                    raise merged_twice(self.func, seen[rec], label if not isinstance(v, list) else None, names[rec],
                                       self.ir.arg_span(self.key, i))
                seen[rec] = label if not isinstance(v, list) else None


class _Depth(_Step):
    __slots__ = ("decision", "ends", "reps", "runs")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.decision, self.ends = a["decision"], {int(v): n for v, n in a["ends"].items()}
        self.reps: dict[int, _Block] = {}

    def branch(self, p: list) -> _Block:
        return self.reps.setdefault(p[2], _Block())

    def seal(self) -> None:
        top = max([*self.ends, *self.reps, 0])
        self.runs = [self.reps[r].runner() if r in self.reps else _nothing for r in range(top + 1)]

    def run(self, st: Selection) -> None:
        depth = st.values[self.decision]
        for run in self.runs[:depth]:
            run(st)
        st.real[self.key] = st.real[self.ends[depth]]


class _Cond(_Step):
    __slots__ = ("expr", "blocks", "runs")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        self.expr = ir.graph.nodes[key]["expr"]
        self.blocks: dict[bool, _Block] = {}

    def branch(self, p: list) -> _Block:
        return self.blocks.setdefault(bool(p[2]), _Block())

    def seal(self) -> None:
        self.runs = {b: (self.blocks[b].runner() if b in self.blocks else _nothing) for b in (True, False)}

    def run(self, st: Selection) -> None:
        truth = bool(eval_expr(self.expr, st.values))
        self.runs[truth](st)
        st.real[self.key] = truth


class _Phi(_Step):
    __slots__ = ("cond", "ends")

    def __init__(self, ir, key):
        super().__init__(ir, key)
        a = ir.graph.nodes[key]
        self.cond, self.ends = a["cond"], a["ends"]

    def run(self, st: Selection) -> None:
        st.real[self.key] = st.real[self.ends[0] if st.real[self.cond] else self.ends[1]]


_STEPS = {"cond": _Cond, "phi": _Phi, "input": _Input, "output": _Output, "op": _Op, "choice": _Choice, "pick": _Pick, "subset": _Subset,
          "leaves": _Leaves, "merge": _Merge, "depth": _Depth}


def _compile(ir: SupernetIR) -> _Block:
    """The selection plan: the nodes as nested blocks, so a genotype visits only what it selects."""
    lint_supernet(ir)
    root = _Block()
    blocks: dict[tuple, _Block] = {(): root}
    steps: dict[str, Any] = {}
    g = ir.graph
    for n in ir.nodes():
        a = g.nodes[n]
        path = tuple(tuple(p) for p in a["path"])
        blk = blocks.get(path)
        if blk is None:
            blk = steps[path[-1][1]].branch(list(path[-1]))
            blocks[path] = blk
        step = _STEPS[a["kind"]](ir, n)
        steps[n] = step
        blk.steps.append(step)
    for step in steps.values():
        step.seal()
    root.runner()
    return root

