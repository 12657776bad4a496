"""The walker: what the language means, in one place.

A :class:`Walker` evaluates a network definition — statements, expressions,
names, op sets, argument binding, cells, blocks, motifs, repeat, pick, subset,
dag, leaves and merges — and is the only place decisions are named.  What the
walk *makes* is left to a reading, a subclass that implements the ``emit_*``
hooks (as torch.fx's ``Interpreter`` calls one method per opcode):

* :class:`~nasdsl.compiler.explore.Explore` registers every decision with its
  domain and guard and builds one template graph per network / cell / block;
* :class:`~nasdsl.compiler.realize.Realize` follows one genotype to the
  Architecture IR, shapes inferred;
* :class:`~nasdsl.compiler.supernet.SupernetReading` emits every option of every
  decision, resolved and shaped: the supernet IR.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import networkx as nx

from .. import ast, primitives
from ..decisions import Decision, Guard, HyperRange, InputChoice, OpChoice, ValueChoice
from ..errors import NasError, Span, did_you_mean
from .program import BUILTINS, Program
from .values import (CellRef, DValue, Family, OpSet, Option, Scope, Tensor, TensorList, _describe, _join, _literal,
                     as_expr, eval_expr, expr_decisions, expr_text, round_int)

MAX_LOOP = 100_000
MAX_STEPS = 1_000_000  # statements and loop rounds one evaluation may run
MAX_INT = 10 ** 15
MAX_OPSET_DEPTH = 50
METRICS = ("params", "flops", "latency", "depth", "nodes", "edges")
GENOTYPE_METRICS = ("edges", "count")  # computed from the decisions, no architecture needed
MERGES = ("sum", "concat", "mul")


def max_nodes() -> int:
    """The node limit of one graph (read from the package, so a test can lower it)."""
    return sys.modules["nasdsl.compiler"].MAX_NODES


@dataclass
class CellCall:
    """One use of a cell, block or motif member, its arguments bound: what ``emit_cell`` reads."""

    ref: CellRef
    defn: ast.CellDef
    call: ast.Call
    args: list[Any]  # tensors and values, in parameter order
    tensors: list[Tensor]  # the tensor arguments, named after their parameters
    env: dict[str, Any]  # the body's names: globals and parameters
    prefix: str  # decision-name prefix of the body
    guard: Optional[Guard]
    node_prefix: str
    reduction: bool
    scope: Scope  # the caller's


@dataclass
class PickSite:
    """An input choice ``pick k of [...] (independently) (each OPS)``, checked: what ``emit_pick`` reads."""

    expr: ast.Pick
    cands: list[Tensor]
    k: int
    dname: str
    dec: Decision
    mode: str  # distinct | independent
    op_names: tuple[str, ...]  # the op decision of each slot (with ``each``)
    ops: Optional[OpSet]
    op_guards: tuple[Optional[Guard], ...] = ()  # each slot's op decision exists under this guard


@dataclass
class DecisionIf:
    """An ``if`` whose condition depends on one decision: what ``emit_if`` reads."""

    stmt: ast.If
    cond: DValue
    decision: str
    guards: dict  # True / False -> the Guard under which that branch exists (None: never)
    both: set  # the names both branches define


def _assigned(stmts: Iterable[Any]) -> set[str]:
    """The names a list of statements defines at its own level (and in its plain ifs and loops)."""
    out: set[str] = set()
    for st in stmts:
        if isinstance(st, ast.Assign) and st.index is None:
            out.add(st.target)
        elif isinstance(st, ast.If):
            out |= _assigned(st.then) & _assigned(st.orelse)
    return out


_OPS_CMP = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
            "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "in": lambda a, b: a in b}


@dataclass
class RepeatSite:
    """One ``repeat`` being walked (a depth choice when ``dname`` is set): what the repetition hooks read."""

    expr: ast.Repeat
    dname: Optional[str]
    vals: list[int]
    lo: int
    hi: int
    node: Optional[str] = None  # a reading's own use (the supernet's depth node)



def merged_twice(func: str, first: str | None, second: str | None, node: str, span: Any) -> NasError:
    """The error of a merge given one tensor twice (the graph holds one edge per pair of nodes)."""
    names = sorted({n for n in (first, second) if n}) or [node]
    said = (f"'{names[0]}' twice" if len(names) == 1 else
            f"one tensor twice ('{names[0]}' and '{names[1]}' are the same tensor here)")
    return NasError(f"{func}(...) may take {said}; a tensor can be merged once", span)

class Walker:
    """The language's meaning, read one way by each subclass through its ``emit_*`` hooks."""

    def __init__(self, program: Program, params: dict[str, Any] | None,
                 decisions: dict[str, Decision] | None = None, input_shape: tuple[int, ...] | None = None):
        self.prog = program
        self.params_override = dict(params or {})
        self.decisions: dict[str, Decision] = {} if decisions is None else decisions
        self.call_stack: list[str] = []
        self.input_shape_override = input_shape
        self.network_name = ""
        self.constraints: list[dict[str, Any]] = []
        self.hyper: dict[str, Any] = {}
        self.input_shape: tuple[int, ...] | None = None
        self.params: dict[str, Any] = {}
        self._opsets: dict[str, tuple[Any, list[Option]]] = {}
        self.steps = 0  # statements and loop rounds run so far (bounded by MAX_STEPS)
        self.where: Span | None = None  # the statement or op being evaluated, for errors found deep inside
        self.template_nodes = 0
        self._naming: str | None = None  # what a {a, b} met now is named after: an argument, or the statement
        self._stmt_named = False
        self._next_suffix: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # graph -> {id: next '#n'}

    # ------------------------------------------------------------ entry
    def run_network(self, name: str) -> Any:
        net = self.prog.defs[name]
        self.network_name = name
        self.where = net.span
        env = dict(self._global_env_cached())
        known = {p.name for p in net.params}
        for k in self.params_override:
            if k not in known:
                hint = did_you_mean(k, known)
                raise NasError(f"network '{name}' has no parameter '{k}'" + (f"; {hint}" if hint else
                               f" (its parameters: {', '.join(sorted(known)) or 'none'})"), net.span)
        for p in net.params:
            if p.name in self.params_override:
                env[p.name] = self.params_override[p.name]
            elif p.default is None:
                raise NasError(f"network parameter '{p.name}' needs a default value", p.span)
            else:
                env[p.name] = self._value(p.default, Scope(name, env, "", None))
            self.params[p.name] = env[p.name]
        # the network's parameters are seen by its cells, blocks and op sets too (theirs shadow them)
        self._genv = {**self.params, **self._global_env_cached()}
        scope = Scope(prefix=name, env=env, node_prefix="", graph=self.begin_network(name))
        self._body(net.body, scope)
        if scope.returned is None:
            raise NasError(f"network '{name}' has no return statement", net.span)
        out = self._as_tensor(scope.returned, net.span, "the network's result")
        self.end_network(out, net, scope)
        return out

    # ------------------------------------------------------------ the hooks a reading implements
    def begin_network(self, name: str) -> Optional[nx.DiGraph]:
        """The graph the network's top level is written to (explore: its template)."""
        return None

    def end_network(self, out: Tensor, net: ast.NetworkDef, scope: Scope) -> None:
        """The network's result is ``out``."""
        raise NotImplementedError

    def emit_input(self, dims: tuple[int, ...], st: ast.InputDecl, scope: Scope) -> Tensor:
        raise NotImplementedError

    def register(self, dec: Decision, span: Span) -> Decision:
        """A decision met by the walk: explore records it; the others find the recorded one."""
        known = self.decisions.get(dec.name)
        if known is None:  # pragma: no cover - every reading names decisions alike
            raise NasError(f"internal: decision '{dec.name}' was not found while exploring", span)
        return known

    def decided(self, name: str, dec: Decision | None) -> Any:
        """The value the walk follows for a decision."""
        raise NotImplementedError

    def id_graph(self, scope: Scope) -> Any:
        """The graph whose node ids a new node id must not collide with."""
        raise NotImplementedError

    def emit_op(self, prim: primitives.Primitive, args: dict[str, Any], item: Any, x: Tensor, scope: Scope,
                sym: dict[str, DValue] | None = None) -> Tensor:
        """A primitive on ``x`` with ``args`` bound; ``sym`` holds the arguments that depend on decisions:
        name -> (their DValue, whether the op takes an integer there, so the value is rounded)."""
        raise NotImplementedError

    def emit_choice(self, ops: OpSet, item: Any, x: Tensor, scope: Scope, dname: str, dec: Decision) -> Tensor:
        raise NotImplementedError

    def emit_cell(self, call: "CellCall") -> Tensor:
        raise NotImplementedError

    def emit_merge(self, mode: str, dname: str | None, inputs: list[Tensor], e: Any, scope: Scope,
                   spans: Optional[list[Span]] = None) -> Tensor:
        """A merge of ``inputs``; ``spans`` (where written): the argument of ``e`` each input came from."""
        raise NotImplementedError

    def may_pass(self, t: Tensor, scope: Scope) -> dict[str, str | None]:
        """The tensors ``t`` may turn out to be (an input choice that passes its candidates on stands for them)."""
        return {t.node: t.label}

    def check_distinct(self, cands: list[Tensor], e: Any) -> None:
        """Explore refuses two names for one tensor among candidates (``v = repeat {0, 1} {...}`` may be its input)."""

    def emit_pick(self, pick: "PickSite", scope: Scope) -> TensorList:
        raise NotImplementedError

    def emit_subset(self, cands: list[Tensor], default: Tensor | None, dname: str, dec: Decision, scope: Scope) -> TensorList:
        raise NotImplementedError

    def emit_leaves(self, cands: list[Tensor], scope: Scope) -> TensorList:
        raise NotImplementedError

    def emit_if(self, site: "DecisionIf", scope: Scope) -> None:
        """An ``if`` on a decision (see ``_decision_if``): walk the branch(es) and join them."""
        raise NotImplementedError

    def repeat_count(self, dname: str | None, lo: int, hi: int, depth: int) -> int:
        """How many repetitions of a repeat body to walk."""
        return depth

    def enter_repetition(self, site: "RepeatSite", r: int, scope: Scope) -> None:
        """Repetition ``r`` (0-based) of a repeat starts."""

    def leave_repetition(self, site: "RepeatSite", r: int) -> None:
        """Repetition ``r`` ended."""

    def emit_repeat(self, dname: str | None, vals: list[int], ends: dict[int, Tensor], t: Tensor, scope: Scope,
                    site: "RepeatSite | None" = None) -> Tensor:
        """The result of a repeat whose repetition r ended at ``ends[r]``; ``t`` is the last one walked."""
        return t

    # ------------------------------------------------------------ helpers for readings
    def inline_cell(self, call: "CellCall", scope_graph: Any = None) -> Tensor:
        """Walk a cell's body in place (realize, supernet): its nodes join the caller's graph."""
        inner = Scope(call.prefix, call.env, call.node_prefix, scope_graph, call.guard,
                      reduce_inputs=frozenset(t.node for t in call.tensors) if call.reduction else frozenset())
        inner.current = call.tensors[0]
        self._body(call.defn.body, inner)
        return self._cell_result(inner, call.defn, call.call)

    def _global_env(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for name, d in self.prog.defs.items():
            if isinstance(d, ast.CellDef) and d.kind == "motif":
                n = self._int(d.family, Scope(name, {}, "", None), "a motif family size")
                if not 1 <= n <= 1000:
                    raise NasError(f"motif family size must be between 1 and 1000; got {n}", d.family.span)
                env[name] = Family(name, {i: CellRef(d, f"{name}[{i}]", f"{name}[{i}]") for i in range(n)})
            elif isinstance(d, ast.CellDef):
                env[name] = CellRef(d, name, name)
            else:
                env[name] = d
        return env

    # ------------------------------------------------------------ statements
    def _body(self, stmts: Iterable[Any], scope: Scope) -> None:
        for st in stmts:
            if scope.returned is not None:
                raise NasError("statement after return", st.span)
            self._stmt(st, scope)

    def _step(self, span: Span) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise NasError(f"the program runs too long: more than {MAX_STEPS} statements and loop rounds", span)

    def _stmt(self, st: Any, scope: Scope) -> None:
        self._step(st.span)
        self.where = st.span
        if isinstance(st, ast.Assign):
            if st.index is None:
                label = st.target
            else:
                idx = self._int(st.index, scope, "an index")
                label = f"{st.target}[{idx}]"
            sub = scope.child(stmt=label, counters={})
            self._naming, self._stmt_named = None, False
            value = self._expr(st.value, sub)
            if isinstance(value, Tensor):
                value = Tensor(value.node, value.shape, label)
                scope.current = value
            elif isinstance(value, TensorList):
                raise NasError("an input choice gives several tensors: merge them with sum(...) or concat(...)", st.value.span)
            self._bind(scope, st, value, label)
        elif isinstance(st, ast.Return):
            sub = scope.child(stmt="", counters={})
            value = self._expr(st.value, sub)
            if isinstance(value, TensorList):
                raise NasError("an input choice gives several tensors: merge them with sum(...) or concat(...)", st.value.span)
            scope.returned = value
        elif isinstance(st, ast.For):
            start = 0 if st.start is None else self._int(st.start, scope, "a range start")
            stop = self._int(st.stop, scope, "a range end")
            if stop - start > MAX_LOOP:
                raise NasError(f"loop of {stop - start} iterations is too long (at most {MAX_LOOP})", st.span)
            # the variable is removed after the loop, so it must not hide (and then delete) another name
            if st.var in scope.env or st.var in BUILTINS or primitives.get(st.var) is not None:
                raise NasError(f"loop variable '{st.var}' hides another name; pick another one", st.span)
            for i in range(start, stop):
                self._step(st.span)
                scope.env[st.var] = i
                self._body(st.body, scope)
                if scope.returned is not None:
                    break
            scope.env.pop(st.var, None)
        elif isinstance(st, ast.If):
            cond = self._value(st.cond, scope)
            if isinstance(cond, DValue):
                self._decision_if(st, cond, scope)
                return
            if not isinstance(cond, bool):
                raise NasError(f"a condition must be true or false; got {cond!r}", st.cond.span)
            self._body(st.then if cond else st.orelse, scope)
        elif isinstance(st, ast.InputDecl):
            if scope.prefix != self.network_name or scope.node_prefix:
                raise NasError("'input' belongs in a network, not in a cell", st.span)
            if scope.current is not None:
                raise NasError("the network already has an input", st.span)
            dims = tuple(self._int(d, scope, "an input dimension") for d in st.dims)
            if not dims or any(d < 1 or d > 100_000 for d in dims):
                raise NasError("input dimensions must be positive (and at most 100000)", st.span)
            if self.input_shape_override is not None:
                dims = tuple(self.input_shape_override)
            self.input_shape = dims
            t = self.emit_input(dims, st, scope)
            scope.current = t
            scope.env["input"] = t
        elif isinstance(st, ast.Where):
            if scope.node_prefix or scope.prefix != self.network_name:
                raise NasError("'where' constraints belong in a network", st.span)
            self.constraints.extend(self._constraint(st.cond, scope))
        elif isinstance(st, ast.Hp):
            if scope.node_prefix or scope.prefix != self.network_name:
                raise NasError("'hp' hyperparameters belong in a network", st.span)
            self._hp(st, scope)
        else:  # pragma: no cover - the grammar makes no other statement
            raise NasError("unknown statement", getattr(st, "span", None))

    def _decision_if(self, st: ast.If, cond: DValue, scope: Scope) -> None:
        """``if`` on a decision's value: each branch is a sub-space that exists only under some values.

        The condition may test one decision; the decisions of a branch are guarded by the values
        for which it is taken, so ``size()`` stays exact.  After the ``if``, the names both branches
        define are defined (one tensor or the other, as the decision says).
        """
        names = cond.decisions
        if len(names) != 1:
            raise NasError(f"an 'if' on decisions tests one decision; this one tests {', '.join(names)}", st.cond.span)
        d = self.decisions[names[0]]
        allowed = list(d.values())
        if scope.guard is not None and scope.guard.decision == d.name and scope.guard.op == "in":
            allowed = [v for v in allowed if v in scope.guard.value]  # 'else if' on the same decision
        elif d.guard != scope.guard:
            raise NasError(f"an 'if' on '{d.name}' must stand where that decision is made (not inside an option, "
                           "a repetition or another 'if' that it does not share)", st.cond.span)
        if not isinstance(cond.value, bool):
            raise NasError(f"a condition must be true or false; got {cond.value!r}", st.cond.span)
        taken = {True: [], False: []}
        for v in allowed:
            r = eval_expr(cond.expr, {d.name: v})
            if not isinstance(r, bool):
                raise NasError(f"a condition must be true or false; '{cond.text()}' gives {r!r}", st.cond.span)
            taken[r].append(v)
        guards = {t: (Guard(d.name, "in", tuple(vs)) if vs else None) for t, vs in taken.items()}
        both = _assigned(st.then) & _assigned(st.orelse)
        self.emit_if(DecisionIf(st, cond, d.name, guards, both), scope)

    def walk_branch(self, site: "DecisionIf", which: bool, scope: Scope) -> Scope:
        """Walk one branch of an ``if`` on a decision in a scope of its own (its names stay inside)."""
        env = dict(scope.env)
        env["__locals__"] = set(scope.env.get("__locals__", set()))
        inner = scope.child(env=env, guard=site.guards[which])
        self._body(site.stmt.then if which else site.stmt.orelse, inner)
        if inner.returned is not None:
            raise NasError("a branch of an 'if' on a decision cannot return; define a name in both branches "
                           "and return it after the 'if'", site.stmt.span)
        return inner

    def join_branches(self, site: "DecisionIf", scope: Scope, branches: dict[bool, Scope], pick) -> None:
        """Bind, after an ``if`` on a decision, the names both (walked) branches define: ``pick(name, {True: v, False: w})``
        gives the value (a reading's merge of two tensors); a name defined by one walked branch only stays inside."""
        walked = [b for b in (True, False) if b in branches]
        made: dict[tuple, Any] = {}
        merge = pick

        def pick(name: str, vals: dict) -> Any:  # one merge per pair of tensors (a name and the current one)
            key = tuple(vals[b].node for b in (True, False))
            if key not in made:
                made[key] = merge(name, vals)
            return made[key]
        names = site.both if len(walked) == 2 else (
            _assigned(site.stmt.then if walked[0] else site.stmt.orelse) if walked else set())
        locs = scope.env.setdefault("__locals__", set())
        for name in sorted(names):
            vals = {b: branches[b].env.get(name) for b in walked}
            if any(v is None for v in vals.values()):
                continue
            if all(isinstance(v, Tensor) for v in vals.values()):
                value = vals[walked[0]] if len(walked) == 1 else pick(name, vals)
            elif len({repr(v) for v in vals.values()}) == 1:
                value = vals[walked[0]]
            else:
                raise NasError(f"'{name}' is a number that the two branches set differently; compute it from the "
                               "decision instead (e.g. 'k = 2 * width')", site.stmt.span)
            if name in locs:
                raise NasError(f"duplicate name '{name}': it is already defined in this body", site.stmt.span)
            locs.add(name)
            scope.env[name] = value
        currents = {b: branches[b].current for b in walked}
        if currents and any(c is not scope.current for c in currents.values()):
            scope.current = currents[walked[0]] if len(walked) == 1 else pick("", currents)

    def _bind(self, scope: Scope, st: ast.Assign, value: Any, label: str) -> None:
        locs = scope.env.setdefault("__locals__", set())
        if st.index is None:
            if st.target in locs:
                raise NasError(f"duplicate name '{st.target}': it is already defined in this body", st.span)
            if st.target in self.prog.defs or primitives.get(st.target) or st.target in BUILTINS:
                raise NasError(f"'{st.target}' already names an op or definition", st.span)
            locs.add(st.target)
            scope.env[st.target] = value
            return
        fam = scope.env.get(st.target)
        if fam is None:
            if st.target in self.prog.defs or primitives.get(st.target):
                raise NasError(f"'{st.target}' already names an op or definition", st.span)
            fam = Family(st.target, {})
            scope.env[st.target] = fam
            locs.add(st.target)
        if not isinstance(fam, Family) or st.target not in locs:
            raise NasError(f"'{st.target}' is not an indexed name", st.span)
        idx = int(label[len(st.target) + 1:-1])
        if idx in fam.members:
            raise NasError(f"duplicate name '{label}': it is already defined in this body", st.span)
        fam.members[idx] = value

    def _constraint(self, cond: Any, scope: Scope) -> list[dict[str, Any]]:
        """``where`` conditions: ``METRIC OP BOUND`` joined by ``and``; the bound may use network parameters.

        Metrics of the realized architecture: params, flops, latency (measured by an estimator),
        depth, nodes; metrics of the genotype: ``edges`` (the inputs its input choices pick) and
        ``count(OP)`` / ``count(OP, CELL)`` (its op decisions, of one cell, that chose OP).
        """
        if isinstance(cond, ast.BoolOp) and cond.op == "and":
            return self._constraint(cond.left, scope) + self._constraint(cond.right, scope)
        if isinstance(cond, ast.Compare) and cond.op != "in":
            spec = self._metric(cond.left)
            bound = self._value(cond.right, scope)
            if isinstance(bound, DValue) or not isinstance(bound, (int, float)) or isinstance(bound, bool):
                raise NasError("a constraint's bound is a number (a network parameter, or arithmetic on them)", cond.right.span)
            return [{**spec, "op": cond.op, "value": bound, "text": str(cond), "where": str(cond.span)}]
        raise NasError("a constraint compares a metric with a number, e.g. 'where params < 5M'; join several with 'and'", cond.span)

    def _metric(self, e: Any) -> dict[str, Any]:
        if isinstance(e, ast.Name):
            if e.id not in METRICS:
                hint = did_you_mean(e.id, METRICS + ("count",))
                raise NasError(f"unknown metric '{e.id}' in constraint" + (f"; {hint}" if hint else
                               f" (known: {', '.join(METRICS)}, count(OP))"), e.span)
            return {"metric": e.id}
        if isinstance(e, ast.Call) and e.func == "count" and e.callee is None:
            names = [a.value.id if a.name is None and isinstance(a.value, ast.Name) else None for a in e.args]
            if not 1 <= len(names) <= 2 or None in names:
                raise NasError("count(OP) or count(OP, CELL) counts the op decisions that chose OP "
                               "(in CELL's decisions only)", e.span)
            op, cell = names[0], (names[1] if len(names) > 1 else None)
            if primitives.get(op) is None:
                hint = did_you_mean(op, primitives.names())
                raise NasError(f"count(...): unknown op '{op}'" + (f"; {hint}" if hint else ""), e.args[0].span)
            if cell is not None and not isinstance(self.prog.defs.get(cell), ast.CellDef):
                raise NasError(f"count(...): '{cell}' is not a cell, block or motif", e.args[1].span)
            key = f"count({op})" if cell is None else f"count({op}, {cell})"
            return {"metric": key, "count": op, "scope": cell}
        raise NasError("a constraint starts with a metric: params, flops, latency, depth, nodes, edges or count(OP)",
                       getattr(e, "span", None))

    def _hp(self, st: ast.Hp, scope: Scope) -> None:
        if st.name in self.hyper:
            raise NasError(f"duplicate hyperparameter '{st.name}'", st.span)
        name = _join(self.network_name, st.name)
        dom = st.domain
        where = str(st.span)
        if isinstance(dom, ast.ValueSet):
            vals = self._set_values(dom, scope)
            dec: Decision = ValueChoice(name, where, scope.guard, options=tuple(vals))
            dec.arch = False
        elif isinstance(dom, ast.Call) and dom.func in ("uniform", "loguniform", "int") and len(dom.args) == 2 and not any(a.name for a in dom.args):
            lo, hi = (self._value(a.value, scope) for a in dom.args)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi)) or not lo < hi:
                raise NasError(f"{dom.func}(low, high) needs two numbers with low < high", dom.span)
            if dom.func == "loguniform" and lo <= 0:
                raise NasError("loguniform needs a positive lower bound", dom.span)
            if dom.func == "int" and not (isinstance(lo, int) and isinstance(hi, int)):
                raise NasError("int(low, high) needs integer bounds", dom.span)
            dec = HyperRange(name, where, scope.guard, low=lo, high=hi, log=dom.func == "loguniform", integer=dom.func == "int")
        else:
            raise NasError("a hyperparameter is {a, b, ...}, uniform(lo, hi), loguniform(lo, hi) or int(lo, hi)", dom.span)
        self.register(dec, st.span)
        self.hyper[st.name] = self.decided(name, dec)

    # ------------------------------------------------------------ decisions
    def _name(self, scope: Scope, suffix: str) -> str:
        n = scope.counters.get(suffix, 0) + 1
        scope.counters[suffix] = n
        return _join(scope.prefix, scope.stmt, suffix if n == 1 else f"{suffix}_{n}")

    # ------------------------------------------------------------ graph building
    def _nid(self, scope: Scope, base: str) -> str:
        nid = _join(scope.node_prefix, scope.stmt, base) or base
        g = self.id_graph(scope)
        if nid in g:
            # the first free 'nid#i', i >= 2; remembering where the search ended keeps a long
            # chain of the same op linear
            nexts = self._next_suffix.setdefault(g, {})
            i = nexts.get(nid, 2)
            while f"{nid}#{i}" in g:
                i += 1
            nexts[nid] = i + 1
            nid = f"{nid}#{i}"
        return nid

    # ------------------------------------------------------------ values (numbers, names)
    def _value(self, e: Any, scope: Scope) -> Any:
        """Evaluate an expression that must not be a tensor: numbers, names, lists, sets."""
        v = self._expr(e, scope, want_value=True)
        return v

    def _int(self, e: Any, scope: Scope, what: str, instead: str = "a depth choice is 'repeat {2, 3} {...}'") -> int:
        v = self._value(e, scope)
        if isinstance(v, DValue):
            raise NasError(f"{what} must be fixed; it depends on the decision{'s' if len(v.decisions) > 1 else ''} "
                           f"{', '.join(v.decisions)} (decisions can be op arguments; {instead})", e.span)
        if not isinstance(v, int) or isinstance(v, bool):
            raise NasError(f"{what} must be an integer; got {_describe(v)}", e.span)
        return v

    def _set_values(self, e: ast.ValueSet, scope: Scope) -> list[Any]:
        vals = []
        for item in e.items:
            if isinstance(item, ast.Name) and item.id not in scope.env:
                vals.append(item.id)  # a bare word: {sum, concat}, {sgd, adam}
                continue
            v = self._value(item, scope)
            if not isinstance(v, (int, float, str)) or isinstance(v, bool):
                raise NasError(f"a value choice holds numbers or words; got {_describe(v)}", item.span)
            vals.append(v)
        if not vals:
            raise NasError("empty choice", e.span)
        if len(set(map(repr, vals))) != len(vals):
            raise NasError("a value choice lists the same value twice", e.span)
        return vals

    def _arith(self, e: ast.BinOp, scope: Scope) -> Any:
        a = self._value(e.left, scope)
        b = self._value(e.right, scope)
        if isinstance(a, DValue) or isinstance(b, DValue):  # arithmetic on decisions: keep how it is computed
            for v, side in ((a, e.left), (b, e.right)):
                w = v.value if isinstance(v, DValue) else v
                if not isinstance(w, (int, float)) or isinstance(w, bool):
                    raise NasError(f"'{e.op}' needs numbers; got {_describe(v)}", side.span)
            if not isinstance(b, DValue) and e.op in "/%" and b == 0:
                raise NasError("division by zero", e.span)
            tree = [e.op, as_expr(a), as_expr(b)]
            try:
                value = self._arith_values(e, a, b)
            except ZeroDivisionError:
                raise NasError("division by zero (for one of the decision's values)", e.span) from None
            return DValue(value, tree)
        for v, side in ((a, e.left), (b, e.right)):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise NasError(f"'{e.op}' needs numbers; got {_describe(v)}", side.span)
        if e.op in "/%" and b == 0:
            raise NasError("division by zero", e.span)
        if e.op == "+":
            r = a + b
        elif e.op == "-":
            r = a - b
        elif e.op == "*":
            r = a * b
        elif e.op == "/":
            r = a // b if isinstance(a, int) and isinstance(b, int) else a / b
        else:
            r = a % b
        if isinstance(r, int) and abs(r) > MAX_INT:
            raise NasError(f"number too large ({MAX_INT} at most)", e.span)
        if isinstance(r, float) and not math.isfinite(r):
            raise NasError("number is not finite", e.span)
        return r

    def _arith_values(self, e: ast.BinOp, a: Any, b: Any) -> Any:
        """The reading's value of ``a op b`` where one side depends on decisions (every option is checked)."""
        x = a.value if isinstance(a, DValue) else a
        y = b.value if isinstance(b, DValue) else b
        tree = [e.op, as_expr(a), as_expr(b)]
        self._check_all_values(tree, e.span)
        return eval_expr([e.op, ["c", x], ["c", y]], {})

    def _check_all_values(self, tree: Any, span: Span) -> None:
        """A decision expression must give a finite number, not too large, for every option of its decisions."""
        names = sorted(set(expr_decisions(tree)))
        doms = [list(self.decisions[n].values()) if n in self.decisions and self.decisions[n].size() else [] for n in names]
        if not names or any(not d for d in doms) or math.prod(len(d) for d in doms) > 4096:
            return
        for combo in itertools.product(*doms):
            try:
                r = eval_expr(tree, dict(zip(names, combo)))
            except ZeroDivisionError:
                raise NasError(f"division by zero when {', '.join(f'{n} = {v!r}' for n, v in zip(names, combo))}", span) from None
            if isinstance(r, bool) or not isinstance(r, (int, float)):
                raise NasError(f"'{expr_text(tree)}' is not a number", span)
            if (isinstance(r, int) and abs(r) > MAX_INT) or (isinstance(r, float) and not math.isfinite(r)):
                raise NasError(f"number too large when {', '.join(f'{n} = {v!r}' for n, v in zip(names, combo))}", span)

    def _value_decision(self, e: ast.ValueSet, scope: Scope) -> DValue:
        """``{a, b}`` where a number is expected: a decision, named after its statement (``net.width``) or
        after the argument it stands in (``net.x.channels``); its value is a :class:`DValue`."""
        vals = self._set_values(e, scope)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            raise NasError("a value choice used as a number holds numbers", e.span)
        if self._naming is None and not self._stmt_named and scope.stmt:
            dname = _join(scope.prefix, scope.stmt)
            self._stmt_named = True
        else:
            dname = self._name(scope, self._naming or "value")
        dec = self.register(ValueChoice(dname, str(e.span), scope.guard, options=tuple(vals)), e.span)
        return DValue(self.decided(dname, dec), ["d", dname])

    # ------------------------------------------------------------ expressions
    def _expr(self, e: Any, scope: Scope, want_value: bool = False) -> Any:
        if isinstance(e, ast.Number):
            return _literal(e)
        if isinstance(e, ast.String):
            return e.value
        if isinstance(e, ast.BinOp):
            return self._arith(e, scope)
        if isinstance(e, ast.Neg):
            v = self._value(e.operand, scope)
            if isinstance(v, DValue) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
                return DValue(-v.value, ["neg", v.expr])
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise NasError(f"'-' needs a number; got {_describe(v)}", e.span)
            return -v
        if isinstance(e, ast.Not):
            v = self._value(e.operand, scope)
            if isinstance(v, DValue) and isinstance(v.value, bool):
                return DValue(not v.value, ["not", v.expr])
            if not isinstance(v, bool):
                raise NasError("'not' needs a condition", e.span)
            return not v
        if isinstance(e, ast.BoolOp):
            a = self._value(e.left, scope)
            b = self._value(e.right, scope)
            if (isinstance(a, DValue) or isinstance(b, DValue)) and all(
                    isinstance(v.value if isinstance(v, DValue) else v, bool) for v in (a, b)):
                x, y = (v.value if isinstance(v, DValue) else v for v in (a, b))
                return DValue((x and y) if e.op == "and" else (x or y), [e.op, as_expr(a), as_expr(b)])
            if not isinstance(a, bool) or not isinstance(b, bool):
                raise NasError(f"'{e.op}' joins conditions", e.span)
            return (a and b) if e.op == "and" else (a or b)
        if isinstance(e, ast.Compare):
            return self._compare(e, scope)
        if isinstance(e, ast.ListExpr):
            return [self._expr(i, scope, want_value) for i in e.items]
        if isinstance(e, ast.ValueSet):
            return self._value_decision(e, scope)
        if want_value:
            if isinstance(e, ast.Name):
                return self._lookup(e, scope)
            if isinstance(e, ast.Index):
                return self._index(e, scope)
            if isinstance(e, ast.Alias):
                return self._alias(e, scope)
        return self._tensor_expr(e, scope)

    def _compare(self, e: ast.Compare, scope: Scope) -> bool:
        a = self._value(e.left, scope)
        b = self._value(e.right, scope)
        if isinstance(a, DValue) or isinstance(b, DValue):  # a condition on decisions
            x, y = (v.value if isinstance(v, DValue) else v for v in (a, b))
            if e.op == "in" and not isinstance(y, list):
                raise NasError("'in' needs a list on its right", e.right.span)
            if e.op != "in" and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
                raise NasError(f"'{e.op}' compares numbers", e.span)
            return DValue(_OPS_CMP[e.op](x, y), [e.op, as_expr(a), as_expr(b)])
        if e.op == "in":
            if not isinstance(b, list):
                raise NasError("'in' needs a list on its right", e.right.span)
            return a in b
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            if e.op in ("==", "!=") and isinstance(a, str) and isinstance(b, str):
                return (a == b) == (e.op == "==")
            raise NasError(f"'{e.op}' compares numbers", e.span)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[e.op]

    def _lookup(self, e: ast.Name, scope: Scope) -> Any:
        if e.id in scope.env and e.id != "__locals__":
            return scope.env[e.id]
        prim = primitives.get(e.id)
        if prim is not None:
            return prim
        if e.id in BUILTINS:
            raise NasError(f"'{e.id}' must be called: {e.id}(...)", e.span)
        names = [n for n in scope.env if n != "__locals__"] + primitives.names()
        hint = did_you_mean(e.id, names)
        what = "op or name"
        raise NasError(f"unknown {what} '{e.id}'" + (f"; {hint}" if hint else ""), e.span)

    def _index(self, e: ast.Index, scope: Scope) -> Any:
        fam = scope.env.get(e.base)
        if fam is None:
            hint = did_you_mean(e.base, [n for n in scope.env if n != "__locals__"])
            raise NasError(f"undefined name '{e.base}'" + (f"; {hint}" if hint else ""), e.span)
        if not isinstance(fam, Family):
            raise NasError(f"'{e.base}' is not indexed", e.span)
        i = self._int(e.index, scope, "an index")
        if i not in fam.members:
            have = sorted(fam.members)
            rng = f"{have[0]}..{have[-1]}" if have else "none yet"
            raise NasError(f"'{e.base}[{i}]' is not defined (defined: {rng})", e.span)
        return fam.members[i]

    def _alias(self, e: ast.Alias, scope: Scope) -> CellRef:
        ref = scope.env.get(e.name)
        if not isinstance(ref, CellRef):
            raise NasError(f"'{e.name}' is not a cell; only cells can be copied with 'as'", e.span)
        if e.alias in self.prog.defs or e.alias in scope.env:
            raise NasError(f"'{e.alias}' already names something; pick another name for the copy", e.span)
        return CellRef(ref.defn, e.alias, e.alias)

    # ------------------------------------------------------------ tensors
    def _as_tensor(self, v: Any, span: Span, what: str) -> Tensor:
        if isinstance(v, Tensor):
            return v
        raise NasError(f"{what} must be a tensor; got {_describe(v)}", span)

    def _current(self, scope: Scope, span: Span) -> Tensor:
        if scope.current is None:
            raise NasError("no input to apply this to: start the chain with a tensor (or declare 'input [C, H, W]' in the network)", span)
        return scope.current

    def _tensor_expr(self, e: Any, scope: Scope) -> Any:
        """A tensor-valued expression (or a list of tensors from an input choice)."""
        if isinstance(e, ast.Chain):
            head, rest = e.items[0], e.items[1:]
            val = self._source(head, scope)
            for item in rest:
                t = self._as_tensor(val, item.span, "the input of '->'")
                val = self._apply(item, t, scope)
            return val
        return self._source(e, scope)

    def _source(self, e: Any, scope: Scope) -> Any:
        """The head of a chain: a tensor, or an op applied to the current tensor."""
        if isinstance(e, ast.Name):
            v = self._lookup(e, scope)
            if isinstance(v, (Tensor, int, float, str, list, TensorList, DValue)):
                return v
            return self._apply(e, self._current(scope, e.span), scope)
        if isinstance(e, ast.Index):
            v = self._index(e, scope)
            if isinstance(v, Tensor):
                return v
            return self._apply(e, self._current(scope, e.span), scope)
        if isinstance(e, ast.Slice):
            return TensorList(self._slice(e, scope))
        if isinstance(e, ast.Call):
            if e.func in MERGES:
                return self._merge(e, scope)
            if e.func == "cells":
                return self._cells(e, scope)
            target = self._callee(e, scope) if e.callee is not None else scope.env.get(e.func)
            if isinstance(target, CellRef):
                params = target.defn.params
                if len(e.args) == len(params):
                    return self._call_cell(target, [], e, scope)
            return self._apply(e, self._current(scope, e.span), scope)
        if isinstance(e, (ast.OneOf, ast.Repeat, ast.Alias)):
            return self._apply(e, self._current(scope, e.span), scope)
        if isinstance(e, ast.Pick):
            return self._pick(e, scope)
        if isinstance(e, ast.Subset):
            return self._subset(e, scope)
        if isinstance(e, ast.Leaves):
            return self._leaves(e, scope)
        if isinstance(e, ast.Chain):
            return self._tensor_expr(e, scope)
        return self._expr(e, scope, want_value=True)

    def _slice(self, e: ast.Slice, scope: Scope) -> list[Tensor]:
        fam = scope.env.get(e.base)
        if fam is None and e.hi is not None:
            lo = 0 if e.lo is None else self._int(e.lo, scope, "a slice start")
            if self._int(e.hi, scope, "a slice end") <= lo:
                return []  # l[0:0] before l[0] exists: nothing yet
        if not isinstance(fam, Family):
            raise NasError(f"'{e.base}' is not an indexed name", e.span)
        lo = 0 if e.lo is None else self._int(e.lo, scope, "a slice start")
        hi = (max(fam.members) + 1 if fam.members else 0) if e.hi is None else self._int(e.hi, scope, "a slice end")
        out = []
        for i in range(lo, hi):
            if i not in fam.members:
                raise NasError(f"'{e.base}[{i}]' is not defined", e.span)
            v = fam.members[i]
            if not isinstance(v, Tensor):
                raise NasError(f"'{e.base}[{i}]' is not a tensor", e.span)
            out.append(Tensor(v.node, v.shape, f"{e.base}[{i}]"))
        return out

    def _tensor_list(self, e: Any, scope: Scope, what: str) -> list[Tensor]:
        """Candidates of an input choice: ``[a, b, l[2]]``, ``l[0:i]`` or a mix."""
        if isinstance(e, ast.Slice):
            return self._slice(e, scope)
        if not isinstance(e, ast.ListExpr):
            raise NasError(f"{what}s are a list: [a, b, ...] or a slice like l[0:i]", e.span)
        out: list[Tensor] = []
        for item in e.items:
            if isinstance(item, ast.Slice):
                out.extend(self._slice(item, scope))
                continue
            if isinstance(item, ast.Name):
                v, label = self._lookup(item, scope), item.id
            elif isinstance(item, ast.Index):
                v = self._index(item, scope)
                label = f"{item.base}[{self._int(item.index, scope, 'an index')}]"
            else:
                raise NasError(f"each {what} is the name of a tensor", item.span)
            t = self._as_tensor(v, item.span, f"each {what}")
            out.append(Tensor(t.node, t.shape, label))
        labels = [t.label for t in out]
        if len(set(labels)) != len(labels):
            raise NasError(f"the same input is listed twice among the {what}s", e.span)
        self.check_distinct(out, e)
        return out

    # ------------------------------------------------------------ op application
    def _apply(self, item: Any, x: Tensor, scope: Scope) -> Tensor:
        """Apply an op-like chain element (op, op set, cell, repeat, dag, path) to ``x``."""
        self.where = item.span
        if isinstance(item, ast.Chain):
            for sub in item.items:
                x = self._apply(sub, x, scope)
            return x
        if isinstance(item, ast.Name):
            v = self._lookup(item, scope)
            return self._apply_value(v, item, x, scope, (), {})
        if isinstance(item, ast.Index):
            v = self._index(item, scope)
            return self._apply_value(v, item, x, scope, (), {})
        if isinstance(item, ast.Alias):
            return self._apply_value(self._alias(item, scope), item, x, scope, (), {})
        if isinstance(item, ast.OneOf):
            return self._choose(self._opset(item.options, scope), item, x, scope)
        if isinstance(item, ast.Repeat):
            return self._repeat(item, x, scope)
        if isinstance(item, ast.Call):
            if item.func == "dag":
                return self._dag(item, x, scope)
            if item.func in MERGES:
                raise NasError(f"{item.func}(...) merges tensors; it cannot follow '->'", item.span)
            if item.func == "cells":
                raise NasError("cells(...) starts from the current tensor; it cannot follow '->'", item.span)
            target = self._callee(item, scope) if item.callee is not None else self._lookup(ast.Name(item.func, item.span), scope)
            pos, kw = [], {}
            for a in item.args:
                if a.name is None:
                    pos.append(a)
                else:
                    if a.name in kw:
                        raise NasError(f"argument '{a.name}' given twice", a.span)
                    kw[a.name] = a
            return self._apply_value(target, item, x, scope, tuple(pos), kw)
        raise NasError(f"this cannot be applied to a tensor: '{item}'", item.span)

    def _apply_value(self, v: Any, item: Any, x: Tensor, scope: Scope, pos: tuple, kw: dict) -> Tensor:
        if isinstance(v, primitives.Primitive):
            return self._prim(v, item, x, scope, pos, kw)
        if isinstance(v, CellRef):
            if isinstance(item, ast.Call):
                return self._call_cell(v, [x], item, scope)
            return self._call_cell(v, [x], ast.Call(v.text, (), item.span), scope)
        if isinstance(v, ast.OpsDef):
            ops = self._opset(ast.Name(v.name, item.span), scope)
            if pos:
                raise NasError(f"op set '{v.name}' takes keyword arguments (like channels=, stride=), "
                               "given to every op that has them", item.span)
            takes = set()
            for o in ops.options:  # only primitives receive the set's arguments, alone or on a path
                for _, target in self._path_prims(o):
                    takes.update(target.param_names() + target.keyword_names())
            for k, a in kw.items():
                if k not in takes:
                    raise NasError(f"no op of op set '{v.name}' has an argument '{k}'"
                                   f" (they take: {', '.join(sorted(takes)) or 'none'})", a.span)
            ops.applied = ((), {k: self._arg_value(a.value, scope, k, a) for k, a in kw.items()})
            return self._choose(ops, item, x, scope)
        if isinstance(v, Family) and v.members and all(isinstance(m, CellRef) for m in v.members.values()):
            ops = self._opset(ast.Name(v.name, item.span), scope)
            return self._choose(ops, item, x, scope)
        if isinstance(v, Tensor):
            raise NasError(f"'{item}' is a tensor, not an op; a tensor can only start a chain", item.span)
        raise NasError(f"'{item}' is not an op; got {_describe(v)}", item.span)

    def _args(self, pos: tuple, kw: dict, scope: Scope, opname: str) -> tuple[list[Any], dict[str, Any]]:
        """Evaluate op arguments; a ``{a, b}`` argument is a value decision named after the argument."""
        out_pos, out_kw = [], {}
        prim = primitives.get(opname)
        names = prim.param_names() if prim else []
        for i, a in enumerate(pos):
            out_pos.append(self._arg_value(a.value, scope, names[i] if i < len(names) else None, a))
        for k, a in kw.items():
            out_kw[k] = self._arg_value(a.value, scope, k, a)
        return out_pos, out_kw

    def _arg_value(self, e: Any, scope: Scope, name: str | None, a: ast.Arg) -> Any:
        if isinstance(e, ast.ValueSet):
            vals = self._set_values(e, scope)
            dname = self._name(scope, name or "value")
            dec = self.register(ValueChoice(dname, str(e.span), scope.guard, options=tuple(vals)), e.span)
            v = self.decided(dname, dec)
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
                return DValue(v, ["d", dname])
            return v
        naming, self._naming = self._naming, name or "value"
        try:
            v = self._value(e, scope)
        finally:
            self._naming = naming
        if isinstance(v, (Tensor, TensorList)):
            raise NasError("an op's arguments are numbers, not tensors", e.span)
        return v

    def _callee(self, e: ast.Call, scope: Scope) -> Any:
        """What ``m[1](...)`` or ``c as c2(...)`` calls: a motif member, a copy of a cell."""
        if isinstance(e.callee, ast.Index):
            return self._index(e.callee, scope)
        return self._alias(e.callee, scope)

    @staticmethod
    def _bad_arg_span(prim: primitives.Primitive, pos: tuple, kw: dict, item: Any, message: str = "") -> Span:
        """Where an argument that ``primitives.bind`` refused was written: an unknown keyword, the
        first argument too many, the argument whose value is wrong, or else the whole call."""
        names = prim.param_names()
        unknown = [a for k, a in kw.items() if k not in names]
        if unknown:
            return unknown[0].span
        if len(pos) > len(names):
            return pos[len(names)].span
        m = re.search(r"argument '(\w+)'", message)
        if m:
            name = m.group(1)
            if name in kw:
                return kw[name].span
            if name in names and names.index(name) < len(pos):
                return pos[names.index(name)].span
        return item.span

    def _prim(self, prim: primitives.Primitive, item: Any, x: Tensor, scope: Scope, pos: tuple, kw: dict,
              applied: tuple = ()) -> Tensor:
        p_vals, k_vals = self._args(pos, kw, scope, prim.name)
        if applied:
            for k, v in applied[1].items():
                if k in k_vals:
                    raise NasError(f"argument '{k}' of op '{prim.name}' given twice", item.span)
                if k in prim.param_names() or k in prim.keyword_names():
                    k_vals[k] = v
        names = prim.param_names()
        sym: dict[str, DValue] = {}
        p_vals = [self._concrete(prim, names[i] if i < len(names) else None, v, sym) for i, v in enumerate(p_vals)]
        k_vals = {k: self._concrete(prim, k, v, sym) for k, v in k_vals.items()}
        try:
            args = primitives.bind(prim, p_vals, k_vals)
        except ValueError as err:
            raise NasError(str(err), self._bad_arg_span(prim, pos, kw, item, str(err))) from None
        names = prim.param_names()
        explicit = "stride" in k_vals or ("stride" in names and len(p_vals) > names.index("stride"))
        if "stride" in names and not explicit and x.node in scope.reduce_inputs:
            args["stride"] = 2  # an op on a reduction cell's input
        return self.emit_op(prim, args, item, x, scope, sym)

    @staticmethod
    def _concrete(prim: primitives.Primitive, name: str | None, v: Any, sym: dict) -> Any:
        """An argument's value for this reading; one that depends on decisions is remembered in ``sym``
        and, where the op takes an integer, rounded to the nearest (halves up)."""
        if not isinstance(v, DValue):
            return v
        default = dict(prim.params).get(name, None) if name is not None else None
        takes_int = default is primitives.REQUIRED or default == primitives.SAME or (
            isinstance(default, int) and not isinstance(default, bool))
        if name is not None:
            sym[name] = (v, takes_int)
        return round_int(v.value) if takes_int else v.value

    # ------------------------------------------------------------ op sets and choices
    def _opset(self, e: Any, scope: Scope) -> OpSet:
        """Options from an op-set name, a family name, or an inline list of ops / cells / paths."""
        if isinstance(e, ast.Name):
            hit = self._opsets.get(e.id)
            if hit is not None and self._lookup(e, scope) is hit[0]:
                return OpSet(list(hit[1]), e.span)  # a named op set expands the same way every time
        options: list[Option] = []
        within: list[str] = []  # the op sets being expanded, outermost first

        def expand(d: ast.OpsDef, at: Span) -> None:
            if d.name in within:
                chain = " -> ".join(within[within.index(d.name):] + [d.name])
                raise NasError(f"cycle: op set '{d.name}' contains itself ({chain})", at)
            if len(within) >= MAX_OPSET_DEPTH:
                raise NasError(f"op sets nest more than {MAX_OPSET_DEPTH} deep", at)
            within.append(d.name)
            for sub in d.items:
                add(sub, self._global_env_cached())
            within.pop()

        def add(item: Any, env: dict) -> None:
            if isinstance(item, ast.Name) and item.id in env and isinstance(env[item.id], ast.OpsDef):
                expand(env[item.id], item.span)
                return
            if isinstance(item, ast.Name) and item.id in env and isinstance(env[item.id], Family):
                fam = env[item.id]
                if not all(isinstance(m, CellRef) for m in fam.members.values()):
                    raise NasError(f"'{item.id}' holds tensors, not ops", item.span)
                for m in fam.members.values():
                    options.append(Option(m.text, m, env))
                return
            if isinstance(item, ast.Index):
                v = self._index(item, scope.child(env=env))
                if isinstance(v, CellRef):
                    options.append(Option(v.text, v, env))
                    return
                raise NasError(f"'{item}' is not an op", item.span)
            if isinstance(item, ast.Name):
                if item.id not in env and primitives.get(item.id) is None:
                    self._lookup(item, scope.child(env=env))  # raises with a did-you-mean
                v = env.get(item.id)
                if isinstance(v, (Tensor, int, float, str)):
                    raise NasError(f"'{item.id}' is not an op", item.span)
            elif isinstance(item, ast.Call):
                if item.func not in env and primitives.get(item.func) is None:
                    self._lookup(ast.Name(item.func, item.span), scope.child(env=env))
            elif not isinstance(item, (ast.Chain, ast.Alias, ast.Repeat, ast.OneOf)):
                raise NasError(f"'{item}' is not an op", item.span)
            options.append(Option(str(item), item, env))

        if isinstance(e, ast.ListExpr):
            for item in e.items:
                add(item, scope.env)
        elif isinstance(e, ast.Name):
            v = self._lookup(e, scope)
            if isinstance(v, ast.OpsDef):
                expand(v, e.span)
            elif isinstance(v, Family):
                add(e, scope.env)
            else:
                raise NasError(f"'{e.id}' is not an op set", e.span)
        else:
            raise NasError("'one of' takes an op set name or a list of ops", e.span)
        if not options:
            what = f"op set '{e.id}' has no ops" if isinstance(e, ast.Name) else "the list has no ops"
            raise NasError(f"empty choice: {what}", e.span)
        texts = [o.text for o in options]
        dup = next((t for t in texts if texts.count(t) > 1), None)
        if dup:
            raise NasError(f"op '{dup}' appears twice in the choice", e.span)
        if isinstance(e, ast.Name) and isinstance(v, ast.OpsDef):
            self._opsets[e.id] = (v, list(options))
        return OpSet(options, e.span)

    _genv: dict | None = None

    def _global_env_cached(self) -> dict:
        if self._genv is None:
            self._genv = self._global_env()
        return self._genv

    def _choose(self, ops: OpSet, item: Any, x: Tensor, scope: Scope, dname: str | None = None) -> Tensor:
        """An op choice on ``x``: one decision over the options."""
        if len(ops.options) == 1 and dname is None:
            return self._option(ops.options[0], ops, item, x, scope)
        dname = dname or self._name(scope, "op")
        dec = self.register(OpChoice(dname, str(item.span), scope.guard, options=tuple(o.text for o in ops.options)), item.span)
        return self.emit_choice(ops, item, x, scope, dname, dec)

    def _option_scope(self, scope: Scope, dname: str, i: int, o: Option, graph: Any = None) -> Scope:
        """Where option ``i`` of decision ``dname`` is evaluated: its own decision names, active only when chosen."""
        return scope.child(prefix=f"{dname}[{i}]", stmt="", counters={}, guard=Guard(dname, "==", o.text),
                           node_prefix=_join(scope.node_prefix, scope.stmt), graph=graph if graph is not None else scope.graph)

    @staticmethod
    def _path_prims(o: Option) -> list[tuple[Any, primitives.Primitive]]:
        """The primitives an option applies by name: itself, or each op of a path ``a -> b(args)``."""
        items = o.expr.items if isinstance(o.expr, ast.Chain) else (o.expr,)
        out = []
        for it in items:
            head = it.func if isinstance(it, ast.Call) and it.callee is None else it.id if isinstance(it, ast.Name) else None
            target = (o.env[head] if head in o.env else primitives.get(head)) if head else None
            if isinstance(target, primitives.Primitive):
                out.append((it, target))
        return out

    def _option(self, o: Option, ops: OpSet, item: Any, x: Tensor, scope: Scope) -> Tensor:
        if isinstance(o.expr, CellRef):
            return self._call_cell(o.expr, [x], ast.Call(o.text, (), getattr(item, "span", ops.span)), scope)
        env_scope = scope if o.env is scope.env else scope.child(env=o.env)
        e = o.expr
        if isinstance(e, ast.Name):
            v = self._lookup(e, env_scope)
            if isinstance(v, primitives.Primitive):
                return self._prim(v, e, x, env_scope, (), {}, ops.applied)
            return self._apply_value(v, e, x, env_scope, (), {})
        if isinstance(e, ast.Call):
            v = self._lookup(ast.Name(e.func, e.span), env_scope)
            if isinstance(v, primitives.Primitive):
                pos = tuple(a for a in e.args if a.name is None)
                kw = {a.name: a for a in e.args if a.name is not None}
                return self._prim(v, e, x, env_scope, pos, kw, ops.applied)
        if isinstance(e, ast.Chain) and ops.applied:
            return self._path_with_args(o, e, x, env_scope, ops.applied)
        return self._apply(e, x, env_scope)

    def _path_with_args(self, o: Option, e: ast.Chain, x: Tensor, scope: Scope, applied: tuple) -> Tensor:
        """A path option of an op set called with arguments: every op of the path that takes an argument
        gets it, except ``stride``, which only the first op taking a stride gets (a path downsamples once)."""
        prims = dict((id(it), p) for it, p in self._path_prims(o))
        given = dict(applied[1])
        for it in e.items:
            prim = prims.get(id(it))
            if prim is None:
                x = self._apply(it, x, scope)
                continue
            pos = tuple(a for a in it.args if a.name is None) if isinstance(it, ast.Call) else ()
            kw = {a.name: a for a in it.args if a.name is not None} if isinstance(it, ast.Call) else {}
            x = self._prim(prim, it, x, scope, pos, kw, ((), given))
            if "stride" in given and "stride" in prim.param_names():
                given.pop("stride")
        return x

    # ------------------------------------------------------------ cells
    def _call_cell(self, ref: CellRef, pre: list[Tensor], call: ast.Call, scope: Scope, reduction: bool = False) -> Tensor:
        d = ref.defn
        if ref.prefix in self.call_stack or d.name in [s.split("[")[0] for s in self.call_stack]:
            chain = " -> ".join(self.call_stack + [ref.prefix])
            raise NasError(f"cycle: cell '{d.name}' uses itself ({chain})", call.span)
        if len(self.call_stack) > 50:
            raise NasError("cells nest more than 50 deep", call.span)
        args = list(pre) + [None] * len(call.args)
        for i, a in enumerate(call.args):
            if a.name is not None:
                raise NasError(f"a cell takes positional arguments; '{a.name}=' is not allowed here", a.span)
            v = self._expr(a.value, scope, want_value=True) if not isinstance(a.value, (ast.Chain, ast.Call, ast.Pick)) else self._tensor_expr(a.value, scope)
            if isinstance(v, TensorList):
                raise NasError("a cell argument must be one tensor", a.span)
            args[len(pre) + i] = v
        if len(args) != len(d.params):
            given = f"{len(call.args)} given" + (", plus the tensor it is applied to" if pre else "")
            raise NasError(f"{d.kind} '{ref.text}' takes {len(d.params)} argument{'s' if len(d.params) != 1 else ''} "
                           f"({', '.join(p.name for p in d.params)}); {given}", call.span)
        if not args or not isinstance(args[0], Tensor):
            raise NasError(f"the first argument of {d.kind} '{ref.text}' must be a tensor", call.span)
        env = dict(self._global_env_cached())
        locs: set = set()
        tensors = []
        for p, v in zip(d.params, args):
            if p.name in env and not isinstance(env[p.name], (int, float)):
                pass
            env[p.name] = Tensor(v.node, v.shape, p.name) if isinstance(v, Tensor) else v
            locs.add(p.name)
            if isinstance(v, Tensor):
                tensors.append(env[p.name])
        env["__locals__"] = locs
        if d.kind == "block":
            prefix = _join(scope.prefix, scope.stmt) if scope.prefix != ref.text else scope.prefix
            guard = scope.guard
        else:
            prefix, guard = ref.prefix, None
        node_prefix = _join(scope.node_prefix, scope.stmt) or ref.text
        self.call_stack.append(ref.prefix)
        try:
            return self.emit_cell(CellCall(ref, d, call, args, tensors, env, prefix, guard, node_prefix, reduction, scope))
        finally:
            self.call_stack.pop()

    def _cell_result(self, inner: Scope, d: ast.CellDef, call: ast.Call) -> Tensor:
        if inner.returned is None:
            raise NasError(f"{d.kind} '{d.name}' has no return statement", d.span)
        return self._as_tensor(inner.returned, d.span, f"the result of {d.kind} '{d.name}'")

    def _cells(self, e: ast.Call, scope: Scope) -> Tensor:
        """``cells(n, normal=A, reduce=B, reduce_at=[...], channels=C)``: a DARTS/NASNet stack.

        Each cell takes the outputs of the two cells before it (or, for a
        one-input cell, of the one before), preprocessed to the cell's channels
        (ReLU-conv1x1-BN, or factorized reduction after a reduction cell); the
        channels double at each reduction cell, whose ops on its inputs run at stride 2.
        """
        pos = [a for a in e.args if a.name is None]
        kw = {a.name: a for a in e.args if a.name is not None}
        allowed = {"normal", "reduce", "reduce_at", "channels"}
        for k, a in kw.items():
            if k not in allowed:
                raise NasError(f"cells(...) has no argument '{k}' (its arguments: n, {', '.join(sorted(allowed))})", a.span)
        if len(pos) != 1:
            raise NasError("cells(...) takes the number of cells as its one positional argument", e.span)
        for k in ("normal", "channels"):
            if k not in kw:
                raise NasError(f"cells(...) needs '{k}='", e.span)
        n = self._int(pos[0].value, scope, "the number of cells")
        if not 1 <= n <= 1000:
            raise NasError("the number of cells must be between 1 and 1000", pos[0].span)
        C = self._int(kw["channels"].value, scope, "channels")
        if C < 1:
            raise NasError("channels must be positive", kw["channels"].span)
        normal = self._value(kw["normal"].value, scope)
        reduce = self._value(kw["reduce"].value, scope) if "reduce" in kw else normal
        for name, ref in (("normal", normal), ("reduce", reduce)):
            if not isinstance(ref, CellRef):
                raise NasError(f"cells(...): '{name}' must be a cell; got {_describe(ref)}", kw.get(name, kw["normal"]).span)
        at = self._value(kw["reduce_at"].value, scope) if "reduce_at" in kw else []
        if not isinstance(at, list) or not all(isinstance(i, int) for i in at):
            raise NasError("reduce_at is a list of cell indices", kw["reduce_at"].span)
        nin = len(normal.defn.params)
        if nin not in (1, 2) or len(reduce.defn.params) != nin:
            raise NasError("cells(...) stacks cells of one or two inputs (both cells alike)", e.span)
        x = self._current(scope, e.span)
        s0 = s1 = x
        prev_red = False
        c_curr = C
        base_stmt = scope.stmt
        for i in range(n):
            red = i in at
            if red:
                c_curr *= 2
            ref = reduce if red else normal
            cell_scope = scope.child(stmt=_join(base_stmt, f"{i}"), counters={})
            if nin == 2:
                p0 = self._prim(primitives.get("factorized_reduce" if prev_red else "relu_conv_bn"), e, s0,
                                cell_scope.child(stmt=_join(cell_scope.stmt, "pre0"), reduce_inputs=frozenset()),
                                (), {}, ((), {"channels": c_curr}))
                p1 = self._prim(primitives.get("relu_conv_bn"), e, s1,
                                cell_scope.child(stmt=_join(cell_scope.stmt, "pre1"), reduce_inputs=frozenset()),
                                (), {}, ((), {"channels": c_curr}))
                ins = [p0, p1]
            else:
                ins = [s1]
            out = self._call_cell(ref, ins, ast.Call(ref.text, (), e.span), cell_scope, reduction=red)
            s0, s1 = s1, out
            prev_red = red
        return s1

    # ------------------------------------------------------------ merges and input choices
    def _merge(self, e: ast.Call, scope: Scope) -> Tensor:
        """``sum(...)`` / ``concat(...)`` of tensors and input choices; ``mode={sum, concat}`` makes it a decision."""
        mode: Any = e.func
        dname = None
        inputs: list[Tensor] = []
        spans: list[Span] = []  # the argument each input came from
        seen: dict[str, str | None] = {}  # node -> how the source names it (None: a candidate of a choice)
        for a in e.args:
            if a.name == "mode":
                if not isinstance(a.value, ast.ValueSet):
                    raise NasError("mode= takes a choice like {sum, concat}", a.span)
                vals = self._set_values(a.value, scope)
                bad = [v for v in vals if v not in MERGES]
                if bad:
                    raise NasError(f"merge mode must be sum, concat or mul; got {bad[0]!r}", a.span)
                dname = self._name(scope, "merge")
                dec = self.register(ValueChoice(dname, str(a.span), scope.guard, options=tuple(vals), role="merge"), a.span)
                mode = self.decided(dname, dec)
                continue
            if a.name is not None:
                raise NasError(f"{e.func}(...) takes tensors (and mode={{sum, concat}}); '{a.name}=' is not one", a.span)
            v = self._tensor_expr(a.value, scope)
            if isinstance(v, TensorList):
                got = v.items
            elif isinstance(v, Tensor):
                got = [v]
            else:
                raise NasError(f"{e.func}(...) merges tensors; got {_describe(v)}", a.span)
            # The graph has one edge per pair of nodes: a tensor cannot be merged with itself.  While
            # exploring, an input choice stands for every candidate it may pass on.
            for t in got:
                for node, label in self.may_pass(t, scope).items():
                    if node in seen:
                        raise merged_twice(e.func, seen[node], label, node, a.span)
                    seen[node] = label
            inputs.extend(got)
            spans.extend([a.span] * len(got))
        if not inputs:
            raise NasError(f"{e.func}(...) has nothing to merge", e.span)
        return self.emit_merge(mode, dname, inputs, e, scope, spans)

    def _pick(self, e: ast.Pick, scope: Scope) -> TensorList:
        cands = self._tensor_list(e.candidates, scope, "candidate input")
        ks: tuple[int, ...] = ()
        if isinstance(e.k, ast.ValueSet):  # pick {1, 2} of [...]: how many is part of the decision
            vals = self._set_values(e.k, scope)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
                raise NasError("a value choice on how many inputs to pick holds integers", e.k.span)
            if e.independent:
                raise NasError("a value choice on k picks different inputs: 'pick {1, 2} of [...]', "
                               "not 'independently'", e.k.span)
            ks = tuple(sorted(vals))
            k = ks[-1]
            if ks[0] < 1:
                raise NasError("pick at least 1 input", e.k.span)
        else:
            k = self._int(e.k, scope, "the number of inputs to pick",
                          instead="a choice of how many to pick is written in place: 'pick {1, 2} of [...]'")
        if not cands:
            raise NasError("empty choice: no candidate inputs", e.candidates.span)
        if k < 1:
            raise NasError("pick at least 1 input", e.k.span)
        if not e.independent and k > len(cands):
            raise NasError(f"cannot pick {k} different inputs out of {len(cands)}", e.k.span)
        if e.independent and k > 64:
            raise NasError("pick at most 64 independent inputs", e.span)
        if e.independent and e.each is None and k > 1:
            raise NasError("'pick ... independently' needs 'each OPS': without an op on each, "
                           "picking one input twice would merge a tensor with itself", e.span)
        labels = tuple(t.label for t in cands)
        dname = self._name(scope, "inputs")
        n = scope.counters["inputs"]
        op_names = tuple(_join(scope.prefix, scope.stmt, f"op{s}" if n == 1 else f"op{s}_{n}") for s in range(k)) if e.each is not None else ()
        mode = "independent" if e.independent else "distinct"
        # registered even when k == n (one way to pick): the genotype keeps the order of the inputs
        dec = self.register(InputChoice(dname, str(e.span), scope.guard, candidates=labels, k=k, mode=mode,
                                        each=op_names, ks=ks), e.span)
        ops = self._opset(e.each, scope) if e.each is not None else None
        # the op on slot s exists only when at least s + 1 inputs are picked
        op_guards = tuple(Guard(dname, "len>=", s + 1) if ks and s >= ks[0] else scope.guard for s in range(len(op_names)))
        return self.emit_pick(PickSite(e, cands, k, dname, dec, mode, op_names, ops, op_guards), scope)

    def slot_scope(self, scope: Scope, oname: str, i: int, o: Option, graph: Any = None) -> Scope:
        """Where option ``i`` of the op decision ``oname`` of one picked input is evaluated."""
        return self._option_scope(scope.child(stmt=_join(scope.stmt, oname.rsplit(".", 1)[-1])), oname, i, o, graph=graph)

    def _subset(self, e: ast.Subset, scope: Scope) -> TensorList:
        cands = self._tensor_list(e.candidates, scope, "candidate input")
        default = None
        if e.default is not None:
            default = self._as_tensor(self._source(e.default, scope), e.default.span, "the default input")
            if any(t.node == default.node for t in cands):
                raise NasError(f"the default input '{default.label}' is also one of the candidates", e.default.span)
        if not cands:
            return TensorList([default] if default is not None else [])
        if len(cands) > 62:
            raise NasError("any subset of more than 62 inputs is not supported", e.span)
        dname = self._name(scope, "inputs")
        dec = self.register(InputChoice(dname, str(e.span), scope.guard, candidates=tuple(t.label for t in cands), mode="subset"), e.span)
        return self.emit_subset(cands, default, dname, dec, scope)

    def _leaves(self, e: ast.Leaves, scope: Scope) -> TensorList:
        cands = self._tensor_list(e.candidates, scope, "candidate")
        if not cands:
            raise NasError("empty choice: 'leaves of' an empty list", e.span)
        return self.emit_leaves(cands, scope)

    # ------------------------------------------------------------ repeat and dag
    def _repeat(self, e: ast.Repeat, x: Tensor, scope: Scope) -> Tensor:
        if isinstance(e.count, ast.ValueSet):
            vals = self._set_values(e.count, scope)
            if not all(isinstance(v, int) and 0 <= v <= 1000 for v in vals):
                raise NasError("a depth choice holds integers between 0 and 1000", e.count.span)
            dname = self._name(scope, "depth")
            dec = self.register(ValueChoice(dname, str(e.count.span), scope.guard, options=tuple(vals), role="depth"), e.count.span)
            lo, hi = min(vals), max(vals)
            depth = self.decided(dname, dec)
        else:
            n = self._int(e.count, scope, "a repeat count")
            if not 0 <= n <= 1000:
                raise NasError("a repeat count is between 0 and 1000", e.count.span)
            dname, lo, hi, depth = None, n, n, n
            vals = [n]
        nrep = scope.counters.get("repeat", 0) + 1
        scope.counters["repeat"] = nrep
        tag = "" if nrep == 1 else f"r{nrep}"
        ends: dict[int, Tensor] = {0: x}
        t = x
        site = RepeatSite(e, dname, vals, lo, hi)
        for r in range(self.repeat_count(dname, lo, hi, depth)):
            guard = Guard(dname, ">=", r + 1) if dname and r >= lo else scope.guard
            rep = scope.child(stmt=_join(scope.stmt, tag) + f"[{r}]", counters={}, guard=guard, current=t)
            self.enter_repetition(site, r, rep)
            try:
                t = self._apply(e.body, t, rep)
            finally:
                self.leave_repetition(site, r)
            ends[r + 1] = t
        return self.emit_repeat(dname, vals, ends, t, scope, site)

    def _dag(self, e: ast.Call, x: Tensor, scope: Scope) -> Tensor:
        """``dag(nodes=n, edge=OPS)``: node 0 is the input; node j sums an op choice on every edge i -> j."""
        kw = {}
        for a in e.args:
            if a.name is None:
                raise NasError("dag(...) takes keyword arguments: nodes=, edge=, merge=", a.span)
            kw[a.name] = a
        for k in kw:
            if k not in ("nodes", "edge", "merge"):
                raise NasError(f"dag(...) has no argument '{k}' (its arguments: nodes, edge, merge)", kw[k].span)
        if "nodes" not in kw or "edge" not in kw:
            raise NasError("dag(...) needs nodes= and edge=", e.span)
        n = self._int(kw["nodes"].value, scope, "the number of dag nodes")
        if not 2 <= n <= 64:
            raise NasError("a dag has between 2 and 64 nodes", kw["nodes"].span)
        merge = "sum"
        if "merge" in kw:
            m = kw["merge"].value
            if not (isinstance(m, ast.Name) and m.id in MERGES):
                raise NasError("merge= is sum, concat or mul", kw["merge"].span)
            merge = m.id
        ops = self._opset(kw["edge"].value, scope)
        nodes = [x]
        for j in range(1, n):
            ins = []
            for i in range(j):
                dname = _join(scope.prefix, scope.stmt, f"e{i}_{j}")
                sub = scope.child(stmt=_join(scope.stmt, f"e{i}_{j}"), counters={})
                ins.append(self._choose(ops, kw["edge"].value, nodes[i], sub, dname=dname))
            call = ast.Call(merge, tuple(), e.span)
            sub = scope.child(stmt=_join(scope.stmt, f"node{j}"), counters={})
            nodes.append(self.emit_merge(merge, None, ins, call, sub))
        return nodes[-1]


def guarded(fn):
    """Turn a RecursionError from pathological nesting into a located error.

    The parser bounds how deep one expression nests and the evaluator how deep cells and op
    sets nest, but those bounds multiply (a deep expression in each of 50 nested cells).
    When ``fn`` is an :class:`Walker` method the error points at what it was evaluating.
    """
    def wrapper(*a, **kw):
        limit = sys.getrecursionlimit()
        try:
            sys.setrecursionlimit(max(limit, 5000))
            return fn(*a, **kw)
        except RecursionError:
            where = getattr(getattr(fn, "__self__", None), "where", None)
            raise NasError("the file nests too deeply to compile", where) from None
        finally:
            sys.setrecursionlimit(limit)
    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper
