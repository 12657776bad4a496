"""The realize reading: one genotype followed to the Architecture IR, hierarchy flattened, shapes inferred.

This is the reference realization: it walks the language itself.  ``Space.realize``
selects the genotype's options in the precompiled supernet IR instead (much faster);
tests hold the two equal.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from .. import ast, primitives
from ..decisions import Decision
from ..errors import NasError, Span
from . import passes
from .values import OpSet, Scope, Tensor, TensorList
from .walker import CellCall, PickSite, Walker, max_nodes


class Realize(Walker):
    def __init__(self, program, params, genotype: dict[str, Any], decisions: dict[str, Decision], input_shape=None):
        super().__init__(program, params, decisions, input_shape)
        self.genotype = genotype
        self.arch = nx.DiGraph()
        self.order = 0

    def _add(self, idbase: str, kind: str, inputs: list[Tensor], shape: tuple[int, ...], span: Span, scope: Scope,
             **attrs: Any) -> Tensor:
        limit = max_nodes()
        if self.arch.number_of_nodes() >= limit:
            raise NasError(f"the architecture has more than {limit} nodes", span)
        nid = self._nid(scope, idbase)
        self.order += 1
        self.arch.add_node(nid, kind=kind, shape=list(shape), span=str(span), order=self.order, **attrs)
        for p, t in enumerate(inputs):
            self.arch.add_edge(t.node, nid, port=p)
        return Tensor(nid, tuple(shape), nid)

    def id_graph(self, scope: Scope) -> Any:
        return self.arch

    # ------------------------------------------------------------ hooks
    def end_network(self, out: Tensor, net: ast.NetworkDef, scope: Scope) -> None:
        end = self._add("output", "output", [out], out.shape, net.span, scope)
        passes.prune_dead(self.arch, end.node)

    def emit_input(self, dims: tuple[int, ...], st: ast.InputDecl, scope: Scope) -> Tensor:
        return self._add("input", "input", [], dims, st.span, scope)

    def decided(self, name: str, dec: Decision | None) -> Any:
        return self.genotype[name]

    def emit_op(self, prim: primitives.Primitive, args: dict[str, Any], item: Any, x: Tensor, scope: Scope,
                sym: dict | None = None) -> Tensor:
        prim, args = passes.lower_op(prim, args, x.shape)
        shape = passes.infer_shape(prim, args, x.shape, item.span)
        return self._add(prim.name, "op", [x], shape, item.span, scope, op=prim.name, base=prim.canonical, args=args)

    def emit_choice(self, ops: OpSet, item: Any, x: Tensor, scope: Scope, dname: str, dec: Decision) -> Tensor:
        chosen = self.genotype[dname]
        i, o = next((i, o) for i, o in enumerate(ops.options) if o.text == chosen)
        return self._option(o, ops, item, x, self._option_scope(scope, dname, i, o))

    def emit_cell(self, c: CellCall) -> Tensor:
        return self.inline_cell(c)

    def _zero(self, t: Tensor) -> bool:
        return passes.is_zero(self.arch.nodes[t.node])

    def emit_merge(self, mode: str, dname: str | None, inputs: list[Tensor], e: Any, scope: Scope,
                   spans=None) -> Tensor:
        live = passes.drop_zero_inputs(inputs, self._zero)
        if not live:
            return inputs[0]
        if len(live) == 1:
            return live[0]
        plan = passes.align_plan([t.shape[1:] for t in live], e.span)
        if any(plan):
            fr = primitives.get("factorized_reduce")
            aligned = []
            for t, n in zip(live, plan):
                for _ in range(n):
                    t = self._prim(fr, e, t, scope.child(reduce_inputs=frozenset()), (), {})
                aligned.append(t)
            live = aligned
        shape = passes.merge_shape(mode, [t.shape for t in live], e.span)
        return self._add(mode, mode, live, shape, e.span, scope)

    def emit_pick(self, p: PickSite, scope: Scope) -> TensorList:
        by_label = {t.label: t for t in p.cands}
        picked = [by_label[c] for c in self.genotype[p.dname]]
        if p.ops is None:
            return TensorList(picked)
        out = []
        for s, t in enumerate(picked):
            oname = p.op_names[s]
            text = self.genotype[oname]
            i, o = next((i, o) for i, o in enumerate(p.ops.options) if o.text == text)
            out.append(self._option(o, p.ops, p.expr.each, t, self.slot_scope(scope, oname, i, o)))
        return TensorList(out)

    def emit_subset(self, cands, default, dname, dec, scope) -> TensorList:
        chosen = set(self.genotype[dname])
        picked = [t for t in cands if t.label in chosen]
        if not picked and default is not None:
            picked = [default]
        return TensorList(picked)

    def emit_if(self, site, scope: Scope) -> None:
        taken = bool(site.cond.value)
        self.join_branches(site, scope, {taken: self.walk_branch(site, taken, scope)}, None)

    def emit_leaves(self, cands: list[Tensor], scope: Scope) -> TensorList:
        out = list({t.node: t for t in cands if self.arch.out_degree(t.node) == 0}.values())  # one per tensor
        return TensorList(out or [cands[-1]])
