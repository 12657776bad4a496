"""The explore reading: every decision registered with its domain and guard, one template per definition.

A template is a networkx multigraph (a cell called with one tensor twice has two edges from it) whose choice nodes still hold every candidate
(what ``nasdsl show --ir`` prints and ``nasdsl draw`` pictures).  Node kinds
(attribute ``kind``):

    input    index, name              a parameter of the definition
    op       op, args                 a fixed primitive (args as bound; value choices at their first value)
    choice   decision, options        one of several ops / cells / paths
    call     template, reduction      a cell or block instance (template = its template's key)
    pick     decision, mode, k, each  an input choice; in-edges are the candidates
    subset   decision                 any subset of the in-edges (the last one is the default, if any)
    leaves                            the in-edges nothing else consumes
    merge    mode (sum|concat|mul) or decision
    depth    decision                 in-edges are the ends of each repetition (port = depth)
    cond     decision, values, name   after an ``if`` on a decision: port 0 when the decision is in values, else port 1
    output                            the definition's result
"""

from __future__ import annotations

from typing import Any, Optional

import networkx as nx

from .. import ast, primitives
from ..decisions import Decision, OpChoice
from ..errors import NasError, Span
from .values import OpSet, Scope, Tensor, TensorList, _join
from .walker import CellCall, PickSite, Walker, max_nodes


class Explore(Walker):
    def __init__(self, program, params=None, input_shape=None):
        super().__init__(program, params, None, input_shape)
        self.templates: dict[str, nx.DiGraph] = {}
        self.template_nodes = 0

    # ------------------------------------------------------------ graph helpers
    def _tnode(self, base: str, scope: Scope, **attrs: Any) -> Tensor:
        self.template_nodes += 1
        limit = max_nodes()
        if self.template_nodes > limit:
            raise NasError(f"the search space has more than {limit} nodes", self.where)
        nid = self._nid(scope, base)
        scope.graph.add_node(nid, **attrs)
        return Tensor(nid, None, base)

    @staticmethod
    def _tedges(scope: Scope, srcs: list[Tensor], dst: str) -> None:
        for p, s in enumerate(srcs):
            scope.graph.add_edge(s.node, dst, port=p)

    def id_graph(self, scope: Scope) -> Any:
        return scope.graph

    # ------------------------------------------------------------ hooks
    def begin_network(self, name: str) -> Optional[nx.DiGraph]:
        graph = nx.MultiDiGraph(name=name, kind="network", defn=name)
        self.templates[name] = graph
        return graph

    def end_network(self, out: Tensor, net: ast.NetworkDef, scope: Scope) -> None:
        scope.graph.add_node("output", kind="output")
        scope.graph.add_edge(out.node, "output", port=0)

    def emit_input(self, dims: tuple[int, ...], st: ast.InputDecl, scope: Scope) -> Tensor:
        return self._tnode("input", scope, kind="input", index=0, name="input")

    def register(self, dec: Decision, span: Span) -> Decision:
        old = self.decisions.get(dec.name)
        if old is not None:
            if old.describe() != dec.describe():
                raise NasError(f"decision '{dec.name}' is made twice with different options ({old.describe()} vs "
                               f"{dec.describe()}); if a cell is used with different arguments, declare it as a block", span)
            return old
        self.decisions[dec.name] = dec
        return dec

    def decided(self, name: str, dec: Decision | None) -> Any:
        return dec.default()

    def emit_op(self, prim: primitives.Primitive, args: dict[str, Any], item: Any, x: Tensor, scope: Scope,
                sym: dict | None = None) -> Tensor:
        t = self._tnode(prim.name, scope, kind="op", op=prim.name, args=dict(args))
        scope.graph.add_edge(x.node, t.node, port=0)
        return t

    def _options(self, ops: OpSet, item: Any, dname: str, scope_of) -> None:
        """Walk every option (in a graph of its own), so the decisions inside them are registered."""
        for i, o in enumerate(ops.options):
            inner = scope_of(i, o)
            src = self._tnode("in", inner, kind="input", index=0)
            self._option(o, ops, item, src, inner)

    def emit_choice(self, ops: OpSet, item: Any, x: Tensor, scope: Scope, dname: str, dec: Decision) -> Tensor:
        node = self._tnode("choice", scope, kind="choice", decision=dname, options=[o.text for o in ops.options])
        scope.graph.add_edge(x.node, node.node, port=0)
        self._options(ops, item, dname, lambda i, o: self._option_scope(scope, dname, i, o, graph=nx.DiGraph()))
        return node

    def emit_cell(self, c: CellCall) -> Tensor:
        d, scope = c.defn, c.scope
        key = c.prefix if d.kind == "block" else c.ref.prefix
        sig = tuple(v for v in c.args if not isinstance(v, Tensor))
        tkey = key if not sig else f"{key}{list(sig)}"
        have = self.templates.get(tkey)
        if have is not None and have.graph.get("defn") != d.name:  # a block used in the return of the cell named so
            tkey = _join(tkey, c.ref.text)
        node = self._tnode(c.ref.text, scope, kind="call", template=tkey, reduction=c.reduction)
        self._tedges(scope, [v for v in c.args if isinstance(v, Tensor)], node.node)
        if tkey not in self.templates:
            g = nx.MultiDiGraph(name=tkey, kind=d.kind, defn=d.name)
            self.templates[tkey] = g
            inner = Scope(c.prefix, c.env, "", g, c.guard)
            for i, t in enumerate(c.tensors):  # named after the parameters, not after the first call site
                g.add_node(t.label, kind="input", index=i, name=t.label)
                c.env[t.label] = Tensor(t.label, None, t.label)
            inner.current = c.env[c.tensors[0].label] if c.tensors else None
            self._body(d.body, inner)
            out = self._cell_result(inner, d, c.call)
            g.add_node("output", kind="output")
            g.add_edge(out.node, "output", port=0)
        return node

    def emit_merge(self, mode: str, dname: str | None, inputs: list[Tensor], e: Any, scope: Scope,
                   spans=None) -> Tensor:
        node = self._tnode(e.func, scope, kind="merge", mode=None if dname else mode, decision=dname)
        self._tedges(scope, inputs, node.node)
        return node

    def may_pass(self, t: Tensor, scope: Scope) -> dict[str, str | None]:
        if t.node not in scope.graph:
            return {t.node: t.label}
        a = scope.graph.nodes[t.node]
        if a.get("kind") in ("subset", "leaves") or (a.get("kind") == "pick" and not a.get("each")):
            return {u: None for u in scope.graph.predecessors(t.node)}
        return {t.node: t.label}

    def check_distinct(self, cands: list[Tensor], e: Any) -> None:
        first: dict[str, str] = {}
        for t in cands:
            if t.node in first:
                raise NasError(f"'{t.label}' and '{first[t.node]}' are the same tensor; list it once", e.span)
            first[t.node] = t.label

    def emit_pick(self, p: PickSite, scope: Scope) -> TensorList:
        ops, e = p.ops, p.expr
        node = self._tnode("pick", scope, kind="pick", decision=p.dname, mode=p.mode, k=p.k,
                           each=list(p.op_names), options=[o.text for o in ops.options] if ops else [],
                           **({"ks": list(p.dec.ks)} if p.dec.ks else {}))
        self._tedges(scope, p.cands, node.node)
        for oname, guard in zip(p.op_names, p.op_guards):
            self.register(OpChoice(oname, str(e.each.span), guard, options=tuple(o.text for o in ops.options)), e.each.span)
            self._options(ops, e.each, oname, lambda i, o: self.slot_scope(scope, oname, i, o, graph=nx.DiGraph()))
        return TensorList([node])

    def emit_subset(self, cands, default, dname, dec, scope) -> TensorList:
        node = self._tnode("subset", scope, kind="subset", decision=dname)
        self._tedges(scope, cands + ([default] if default is not None else []), node.node)
        return TensorList([node])

    def emit_leaves(self, cands: list[Tensor], scope: Scope) -> TensorList:
        node = self._tnode("leaves", scope, kind="leaves")
        self._tedges(scope, cands, node.node)
        return TensorList([node])

    def emit_if(self, site, scope: Scope) -> None:
        branches = {b: self.walk_branch(site, b, scope) for b in (True, False) if site.guards[b] is not None}

        def pick(name: str, vals: dict) -> Tensor:
            node = self._tnode("cond", scope, kind="cond", decision=site.decision,
                               values=list(site.guards[True].value), name=name)
            self._tedges(scope, [vals[True], vals[False]], node.node)
            return node
        self.join_branches(site, scope, branches, pick)

    def repeat_count(self, dname, lo, hi, depth) -> int:
        return hi

    def emit_repeat(self, dname, vals, ends, t, scope, site=None) -> Tensor:
        if not dname:
            return t
        node = self._tnode("depth", scope, kind="depth", decision=dname)
        for v in vals:
            scope.graph.add_edge(ends[v].node, node.node, port=v)
        return node
