"""A one-shot PyTorch supernet built from nasdsl's supernet IR (``Space.supernet``).

``build_supernet(space)`` gives a :class:`Supernet`: one weight module per op node of the
IR (every use of a shared cell has its own weights) and one architecture parameter per
decision name (every use of a decision shares it).

* mixed mode (no genotype active): an op choice is the softmax-weighted sum of its options
  (DARTS); ``pick k of [...] each OPS`` keeps every candidate edge, each a mixed op over OPS with its
  own row of logits (the pick's parameter is a [candidates, ops] table, DARTS' α of a node's
  incoming edges; the slots' op decisions have none of their own), and the slots of the child share
  the weights of the edge they take; ``add_none`` adds DARTS' ``none`` (zero) candidate to every op
  choice and edge that lacks one (a logit that takes probability mass and adds nothing); each slot
  of a ``pick`` without ``each`` is the softmax-weighted sum of its candidates (one logit per
  candidate; ``independent`` picks have one row of logits per slot); a ``subset`` gates each
  candidate by a sigmoid; a depth choice is the softmax-weighted sum of the outputs at each
  depth; a value choice on a merge's mode is the softmax-weighted sum of the modes' results.
* value choices on an op's arguments (``mbconv(k = {3, 5, 7}, e = {3, 4, 6})``, ``tokens(embed)``,
  ``mlp(E * ratio)``): one op built at the largest values; each other combination of the values runs
  on a slice of its weights (``slicing``: kernels centre-cropped, channels and features a prefix).  In
  mixed mode the op is Σ over the combinations of Π (each value's weight) · (its output zero-padded to
  the shape at the largest values); a child runs the op at its values on its slice, and so does every op
  after it whose input is narrower in that child (the first columns of its weights).  A decision on
  widths that also feeds a norm is exact in a child and an approximation in mixed mode (the norm sees
  the padding's zeros).
* how mixed mode weighs the options is ``supernet.relax`` (default :class:`Softmax`; the sampling methods'
  relaxations are in ``nasdsl_plugins.oneshot.relax``): it gives each decision's weights and which options
  are on, and an option that is off (not sampled) is not computed at all;
* ``partial=K`` (PC-DARTS): each op choice's options are built for, and run on, the first C/K channels of
  its input; the rest bypass the choice (max-pooled where the op halves the size) and the result is
  channel-shuffled in K groups; each candidate edge of an edge table is weighed by softmax(β) (edge
  normalisation, β in ``betas``), and derivation ranks edges by softmax(α)·softmax(β);
* ``activate(values)``: forward runs exactly the selected child (the nodes that
  ``SupernetIR.select`` realizes) on the shared weights; ``activate(None)`` goes back to mixed mode.
* ``derive()``: the argmax genotype (for an edge table, the DARTS rule: the k candidates whose
  strongest non-``none`` op weighs most, then the best non-``none`` op on each);
  ``export(values)``: the child built by the torch backend with the supernet's weights copied in.

Constructs that cannot be made one-shot here raise :class:`SupernetError` when the supernet is
built, naming the decision and its ``file:line:col``: value choices on op arguments whose smaller
values are not a slice of the largest (another structure, a larger output: a stride choice) or that
are options of a partial-channel choice, ``if`` on decisions, ``leaves of``, ``pick {1, 2} of``, options or candidates whose
output shapes disagree, merges whose inputs need spatial alignment, concat / mul merges of an
input that may be the zero op or of a subset, and a merge-mode choice whose modes' shapes disagree.
"""

from __future__ import annotations

import itertools
import operator
from functools import reduce
from typing import Any, Optional, Sequence

import torch
from torch import nn

from nasdsl import plugins, primitives
from nasdsl.compiler import passes
from nasdsl.compiler.supernet import varg_value
from nasdsl.compiler.values import expr_decisions
from nasdsl.constraints import option_is
from nasdsl.errors import NasdslError

from .builder import _safe
from .ops import ChannelShuffle as _SHUFFLE
from .slicing import SliceError, Slicer, child_module


class SupernetError(NasdslError):
    """A construct the one-shot supernet cannot hold (names the decision and where it is written)."""


_LATE = ("choice", "pick", "depth")  # emitted before the nodes they join: joined when first read


def _get_op(base: str):
    return plugins.ops.get_op(base, "torch")


class Supernet(nn.Module):
    """One module per op node of the supernet IR, one architecture parameter per decision."""

    def __init__(self, space: Any, input_shape: Optional[Sequence[int]] = None, add_none: bool = False,
                 weights: bool = True, partial: int = 1):
        super().__init__()
        self.space = space
        if int(partial) < 1:
            raise SupernetError(f"partial channels: K must be at least 1; got {partial}")
        self.partial = int(partial)  # PC-DARTS' K: each op choice runs on 1/K of its input's channels
        self._with_weights = weights  # False: only check that the space can be relaxed (no module is built)
        self.add_none = add_none
        self.input_shape = tuple(input_shape) if input_shape else None
        self.ir = space.supernet(self.input_shape)
        self.ops = nn.ModuleDict()
        self.alphas = nn.ParameterDict()
        self.betas = nn.ParameterDict()  # PC-DARTS' edge normalisation: one logit per candidate edge of a table
        self._module: dict[str, str] = {}  # IR op node -> key in self.ops
        self._spec: dict[str, tuple] = {}  # IR op node -> (base, lowered args, input shape)
        self._alpha: dict[str, str] = {}  # decision -> key in self.alphas
        self._kind: dict[str, str] = {}  # decision -> op | pick | independent | subset | depth | merge
        self._options: dict[str, list] = {}  # decision -> the values its logits stand for
        self._k: dict[str, int] = {}
        self._none: dict[str, bool] = {}  # decision -> its logits end with an added 'none' (zero) column
        self._edge_ops: dict[str, list] = {}  # edge-table pick -> the op options of its edges
        self._alias: dict[str, str] = {}  # IR node of a pick's slot s > 0 -> the same node of slot 0
        self._slot_choice: set[str] = set()  # choice nodes of edge-table picks' slots (no logits of their own)
        self._edge_row: dict[str, tuple[str, int]] = {}  # slot choice node of an edge table -> (pick decision, row)
        self._paths: dict[str, tuple] = {}  # node -> the branches it exists under (nodes with a path only)
        self._active: Optional[list] = None
        self._active_values: Optional[dict] = None
        self.relax: Any = Softmax()  # how mixed mode weighs the options (a method sets its own)
        self.masks: dict[str, torch.Tensor] = {}  # decision -> bool tensor of its logits' shape: False drops an option
        self.skip_dropout = 0.0  # P-DARTS: dropout on the output of every skip connection among the options
        self.last_mixture: Optional[dict[str, tuple]] = None  # the weights the latest mixed forward used
        self._costs: dict[str, tuple] = {}  # cost name -> (choice node -> option -> cost, value-choice ops, fixed ops)
        self._frees: Optional[list[list[str]]] = None  # node loop position -> values no later node reads
        self._beta: dict[str, str] = {}  # edge-table decision -> key in self.betas
        self._pc: dict[str, tuple[str, int]] = {}  # choice node -> (its input node, channels its ops run on)
        self._pc_head: dict[str, int] = {}  # op node -> the first channels of its choice's input it reads
        self._elastic: dict[str, tuple] = {}  # op node with value choices on its arguments -> (decisions, combos)
        self._slicers: dict[tuple, Optional[Slicer]] = {}  # (ops key, child's spec) -> Slicer (None: the op as built)
        self._variants: dict[str, list] = {}  # op node with value choices -> (base, args, input shape) per combination
        self._build()
        g = self.ir.graph
        self._paths = {n: tuple(tuple(p) for p in g.nodes[n]["path"]) for n in self.ir.nodes()
                       if g.nodes[n]["path"] and g.nodes[n]["kind"] in ("op", "merge", "subset")}
        self._skips = {n for n in self.ir.nodes("op") if any(p[0] == "opt" for p in g.nodes[n]["path"])
                       and option_is(g.nodes[n]["op"], "skip_connect")}  # the skip connections among the options

    # ---------------------------------------------------------------- construction
    def _where(self, n: str) -> str:
        return self.ir.graph.nodes[n]["span"]

    def _refuse(self, n: str, what: str, why: str) -> None:
        raise SupernetError(f"cannot build a one-shot supernet: {what} (at {self._where(n)}) {why}")

    def _shape(self, n: str) -> Optional[tuple]:
        s = self.ir.graph.nodes[n]["shape"]
        return tuple(s) if s is not None else None

    def _same_shapes(self, n: str, keys: Sequence[str], what: str, whose: str) -> None:
        shapes = [self._shape(k) for k in keys]
        if any(s is None for s in shapes) or len(set(shapes)) > 1:
            shown = ", ".join("?" if s is None else str(list(s)) for s in shapes)
            self._refuse(n, what, f"has {whose} whose output shapes disagree ({shown}), so they cannot be summed")

    def _param(self, n: str, decision: str, kind: str, options: list, rows: int = 0, k: int = 1,
               cols: Optional[int] = None, none: bool = False) -> None:
        if decision in self._alpha:
            if self._kind[decision] != kind or self._options[decision] != options:
                self._refuse(n, f"decision '{decision}'", "is used by constructs of different kinds or options")
            return
        key = _safe(decision, set(self.alphas.keys()))
        width = (len(options) if cols is None else cols) + (1 if none else 0)
        shape = (rows, width) if rows else (width,)
        self._none[decision] = none
        self.alphas[key] = nn.Parameter(1e-3 * torch.randn(shape))
        self._alpha[decision], self._kind[decision], self._options[decision], self._k[decision] = key, kind, options, k

    def _may_be_zero(self, n: str, memo: dict) -> bool:
        if n in memo:
            return memo[n]
        a = self.ir.graph.nodes[n]
        kind = a["kind"]
        memo[n] = False
        if kind == "op":
            r = a["base"] == "none"
        elif kind == "choice":
            r = any(self._may_be_zero(e, memo) for e in a["ends"])
        elif kind == "pick":
            keys = [c for row in a["slots"] for c in row] if a["slots"] else a["cands"]
            r = any(self._may_be_zero(c, memo) for c in keys)
        elif kind == "subset":
            r = True
        elif kind == "merge":
            r = all(self._may_be_zero(i, memo) for i in a["inputs"])
        elif kind == "depth":
            r = any(self._may_be_zero(e, memo) for e in a["ends"].values())
        else:
            r = False
        memo[n] = r
        return r

    def _edge_slots(self) -> None:
        """``pick k of [...] each OPS``: slot s of candidate c is the same edge as slot 0 of c (aliases)."""
        g = self.ir.graph
        under: dict[tuple, list[str]] = {}
        for n in self.ir.nodes():
            for p in g.nodes[n]["path"]:
                if p[0] == "slot":
                    under.setdefault(tuple(p), []).append(n)
        for n in self.ir.nodes("pick"):
            a = g.nodes[n]
            if not a["slots"] or a["mode"] != "distinct":
                continue
            for s in range(1, len(a["slots"])):
                for c in range(len(a["cands"])):
                    mine, first = under.get(("slot", n, s, c), []), under.get(("slot", n, 0, c), [])
                    same = len(mine) == len(first) and all(
                        g.nodes[u]["kind"] == g.nodes[v]["kind"] and g.nodes[u].get("args") == g.nodes[v].get("args")
                        for u, v in zip(mine, first))
                    if not same:  # pragma: no cover - the walker emits every slot alike
                        self._refuse(n, f"input choice '{a['decision']}'", "has slots that differ on one candidate")
                    self._alias.update(zip(mine, first))
            self._slot_choice.update(c for row in a["slots"] for c in row)
            for row in a["slots"]:
                self._edge_row.update((ch, (a["decision"], c)) for c, ch in enumerate(row))

    def _adds_none(self, options: Sequence[str]) -> bool:
        return self.add_none and not any(option_is(o, "none") for o in options)

    def _pc_choice(self, n: str) -> Optional[str]:
        """The partial-channel choice op node ``n`` is an option of (None when it is not under one)."""
        if not self._pc:
            return None
        opts = [p for p in self.ir.graph.nodes[n]["path"] if p[0] == "opt"]
        return opts[-1][1] if opts and opts[-1][1] in self._pc else None

    def _partial_choices(self) -> None:
        """PC-DARTS: every op choice whose options are chains of ops keeping its input's C channels runs them
        on the first C/K channels; the rest bypass the choice.  Anything else is refused, named."""
        g = self.ir.graph
        K = self.partial
        under: dict[str, list[str]] = {}
        for n in self.ir.nodes("op"):
            opts = [p for p in g.nodes[n]["path"] if p[0] == "opt"]
            if opts:
                under.setdefault(opts[-1][1], []).append(n)
        for ch in self.ir.nodes("choice"):
            a = g.nodes[ch]
            what = f"op choice '{a['decision']}'"
            mine = under.get(ch, [])
            inputs = {g.nodes[m]["inp"] for m in mine} - set(mine)
            nested = [e for e in a["ends"] if g.nodes[e]["kind"] != "op"]
            if nested or len(inputs) != 1:
                self._refuse(ch, what, f"has options that are not chains of ops on one input, so partial channels "
                             f"(K={K}) cannot split it")
            (inp,) = inputs
            c_in, out = self._shape(inp), self._shape(ch)
            if not c_in or not out or len(c_in) != 3 or c_in[0] != out[0] or any(
                    self._shape(m) is None or self._shape(m)[0] != c_in[0] for m in mine):
                self._refuse(ch, what, f"has options that change the number of channels, so partial channels (K={K}) "
                             "cannot bypass the rest")
            if c_in[0] % K:
                self._refuse(ch, what, f"has {c_in[0]} channels, which partial channels K={K} do not divide")
            self._pc[ch] = (inp, c_in[0] // K)
            self._pc_head.update((m, c_in[0] // K) for m in mine if g.nodes[m]["inp"] == inp)
        self.shuffle = _SHUFFLE(K)

    @staticmethod
    def _vnames(a: dict) -> str:
        return ", ".join(f"{k} <- {v if isinstance(v, str) else 'an expression'}" for k, v in a["vargs"].items())

    def _slicer(self, n: str, want: tuple, full: Optional[nn.Module] = None) -> Optional[Slicer]:
        """How op node ``n``'s weights run the op ``want`` = (base, lowered args, input shape): None (as built),
        or a :class:`Slicer`; raises :class:`SliceError` when its state is not a slice of theirs."""
        key = (self._module[n], repr(want))
        if key not in self._slicers:
            if want == self._spec[n]:
                self._slicers[key] = None
            else:
                base, args, in_shape = want
                factory = _get_op(base)
                if factory is None or base != self._spec[n][0]:
                    raise SliceError(f"it is another op ('{base}')")
                full = self.ops[self._module[n]] if full is None else full
                self._slicers[key] = Slicer(full, child_module(factory, args, in_shape))
        return self._slicers[key]

    def _combos(self, n: str, a: dict, in_shape: tuple, full: nn.Module) -> tuple:
        """An op with value choices on its arguments: its decisions (each gets a logit per value) and, for every
        combination of their values, (the values' indices, its Slicer or None), each checked to be a slice."""
        decs: list[str] = []
        for v in a["vargs"].values():
            for d in ([v] if isinstance(v, str) else expr_decisions(v["expr"])):
                if d not in decs:
                    decs.append(d)
        for d in decs:
            self._param(n, d, "value", list(self.space.decisions[d].options))
        what = f"op '{a['op']}' with a value choice on its arguments ({self._vnames(a)})"
        top = self._shape(n)
        combos = []
        for idx in itertools.product(*(range(len(self._options[d])) for d in decs)):
            values = {d: self._options[d][i] for d, i in zip(decs, idx)}
            shown = ", ".join(f"{d} = {values[d]}" for d in decs)
            args = dict(a["args"])
            for k, v in a["vargs"].items():
                args[k] = varg_value(v, values)
            try:
                prim, args = passes.lower_op(primitives.get(a["op"]), args, in_shape)
                out = passes.infer_shape(prim, args, in_shape, None)
            except (NasdslError, ValueError, TypeError) as e:
                self._refuse(n, what, f"cannot be built at {shown}: {e}")
            if top is None or len(out) != len(top) or any(o > t for o, t in zip(out, top)):
                self._refuse(n, what, f"gives a larger output at {shown} ({list(out)}) than at its largest values "
                             f"({'?' if top is None else list(top)}), so one weight cannot hold both")
            self._variants.setdefault(n, []).append((prim.canonical, dict(args), tuple(in_shape)))
            try:
                combos.append((idx, self._slicer(n, (prim.canonical, dict(args), tuple(in_shape)), full)))
            except SliceError as e:
                self._refuse(n, what, f"cannot run at {shown} on a slice of its weights at the largest values: {e}")
        return decs, combos

    def _build(self) -> None:
        g = self.ir.graph
        decisions = self.space.decisions
        zero_memo: dict = {}
        taken: set[str] = set()
        self._edge_slots()
        if self.partial > 1:
            self._partial_choices()
        for n in self.ir.nodes():
            a = g.nodes[n]
            kind = a["kind"]
            dec = a.get("decision")
            if kind == "op" and n in self._alias:  # slot s > 0 of an edge: the weights of slot 0's
                self._module[n], self._spec[n] = self._module[self._alias[n]], self._spec[self._alias[n]]
                continue
            if kind == "op":
                in_shape = self._shape(a["inp"])
                if in_shape is None:
                    self._refuse(n, f"op '{a['op']}'", "has an input whose shape is only known once a genotype is chosen")
                args = dict(a["args"])
                ch = self._pc_choice(n)
                if ch is not None and a.get("vargs"):
                    self._refuse(n, f"op '{a['op']}' with a value choice on its arguments ({self._vnames(a)})",
                                 f"is an option of a partial-channel choice (K={self.partial}), whose ops are built "
                                 "for 1/K of the channels, so its weights cannot also be sliced")
                if ch is not None:  # PC-DARTS: the op is built for 1/K of the channels
                    part = self._pc[ch][1]
                    in_shape = (part, *in_shape[1:])
                    if isinstance(args.get("channels"), int):
                        args["channels"] = part
                prim, args = passes.lower_op(primitives.get(a["op"]), args, in_shape)
                factory = _get_op(prim.canonical)
                if factory is None:
                    self._refuse(n, f"op '{a['op']}'", f"has no PyTorch implementation ('{prim.canonical}')")
                key = _safe(n, taken)
                if self._with_weights:
                    self.ops[key] = factory(dict(args), in_shape)
                self._module[n] = key
                self._spec[n] = (prim.canonical, dict(args), in_shape)
                if a.get("vargs"):  # built at the largest values; every other combination runs on its slices
                    full = self.ops[key] if self._with_weights else child_module(factory, args, in_shape)
                    self._elastic[n] = self._combos(n, a, in_shape, full)
            elif kind == "choice":
                self._same_shapes(n, a["ends"], f"op choice '{dec}'", "options")
                if n not in self._slot_choice:
                    self._param(n, dec, "op", list(a["options"]), none=self._adds_none(a["options"]))
            elif kind == "pick":
                if a.get("ks"):
                    self._refuse(n, f"input choice '{dec}'", "picks a varying number of inputs (pick {...} of), "
                                 "which has no one-shot relaxation here")
                keys = [c for row in a["slots"] for c in row] if a["slots"] else a["cands"]
                self._same_shapes(n, keys, f"input choice '{dec}'", "candidates")
                labels = list(a["labels"])
                if a["slots"] and a["mode"] == "distinct":  # DARTS: a mixed op on every candidate edge
                    opts = list(g.nodes[a["slots"][0][0]]["options"])
                    self._param(n, dec, "edge", labels, rows=len(labels), k=a["k"], cols=len(opts),
                                none=self._adds_none(opts))
                    self._edge_ops[dec] = opts
                    if self.partial > 1 and dec not in self._beta:  # PC-DARTS' edge normalisation
                        self._beta[dec] = key = _safe(dec, set(self.betas.keys()))
                        self.betas[key] = nn.Parameter(1e-3 * torch.randn(len(labels)))
                elif a["mode"] == "independent":
                    self._param(n, dec, "independent", labels, rows=a["k"], k=a["k"])
                else:
                    self._param(n, dec, "pick", labels, k=a["k"])
            elif kind == "subset":
                keys = list(a["cands"]) + ([a["default"]] if a.get("default") else [])
                self._same_shapes(n, keys, f"input subset '{dec}'", "candidates")
                self._param(n, dec, "subset", list(a["labels"]))
            elif kind == "depth":
                vals = sorted(int(v) for v in a["ends"])
                self._same_shapes(n, [a["ends"][str(v)] for v in vals], f"depth choice '{dec}'", "depths")
                self._param(n, dec, "depth", vals)
            elif kind == "merge":
                self._check_merge(n, a, decisions, zero_memo)
            elif kind == "cond":
                self._refuse(n, f"'if' on decision '{dec}'", "is not supported by the one-shot supernet")
            elif kind == "leaves":
                self._refuse(n, "'leaves of'", "depends on which nodes a genotype leaves unconsumed, "
                             "which has no one-shot relaxation here")
            elif kind == "phi":  # pragma: no cover - a phi follows its cond, refused first
                self._refuse(n, "'if'", "is not supported by the one-shot supernet")

    def _flat_inputs(self, a: dict) -> list[tuple[str, str]]:
        """(IR node, kind) of each tensor a merge takes in mixed mode (a pick stands for its slots)."""
        out = []
        for i in a["inputs"]:
            b = self.ir.graph.nodes[i]
            if b["kind"] == "pick" and b["slots"] and b["mode"] == "distinct":
                out += [(i, "edge")] * len(b["cands"])
            elif b["kind"] == "pick":
                out += [(i, "pick")] * b["k"]
            elif b["kind"] == "subset":
                out += [(i, "subset")] * (len(b["cands"]) + (1 if b.get("default") else 0))
            else:
                out.append((i, b["kind"]))
        return out

    def _check_merge(self, n: str, a: dict, decisions: dict, zero_memo: dict) -> None:
        dec = a.get("decision")
        what = f"merge '{a.get('func') or a.get('mode')}'" + (f" with mode choice '{dec}'" if dec else "")
        flat = self._flat_inputs(a)
        shapes = [self._shape(i) for i, _ in flat]
        if any(s is None for s in shapes):
            self._refuse(n, what, "has an input whose shape is only known once a genotype is chosen")
        if len({s[1:] for s in shapes if len(s) == 3}) > 1 or len({len(s) for s in shapes}) > 1:
            self._refuse(n, what, "merges feature maps of different sizes (spatial alignment by factorized "
                         f"reduction is not supported in the supernet): {', '.join(str(list(s)) for s in shapes)}")
        modes = list(decisions[dec].options) if dec else [a["mode"]]
        if any(m != "sum" for m in modes):
            for i, k in flat:
                if k == "edge":
                    self._refuse(n, what, f"takes every candidate edge of '{i}' in the supernet but only k in a "
                                 "child, so only a sum of it can be relaxed")
                if k == "subset" or self._may_be_zero(i, zero_memo):
                    self._refuse(n, what, f"takes '{i}', which may be dropped (the zero op or an empty subset), "
                                 "so the child's shapes differ from the supernet's")
        outs = set()
        for m in modes:
            try:
                outs.add(passes.merge_shape(m, shapes, None))
            except NasdslError as e:
                self._refuse(n, what, f"cannot be formed in mixed mode: {e}")
        if dec:
            if len(outs) > 1:
                self._refuse(n, what, f"has modes {modes} whose output shapes disagree ({sorted(map(list, outs))})")
            self._param(n, dec, "merge", modes)

    # ---------------------------------------------------------------- parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture logits, one tensor per decision name (then PC-DARTS' edge logits β, if any)."""
        return list(self.alphas.values()) + list(self.betas.values())

    def weights(self) -> list[nn.Parameter]:
        """The op weights (never an architecture parameter)."""
        return list(self.ops.parameters())

    def expected_params(self, mix: Optional[dict[str, tuple]] = None) -> torch.Tensor:
        """Σ over op choices of Σᵢ wᵢ · (parameters of option i): the child's parameter count under the
        weights ``mix`` (default: this relaxation's), differentiable in them (SNAS' resource term).  An
        option's parameters are those of the ops directly under it (a nested choice counts its own)."""
        def params(n: str, j: Optional[int]) -> float:
            count = sum(p.numel() for p in self.ops[self._module[n]].parameters())
            sl = None if j is None else self._elastic[n][1][j][1]
            return count if sl is None else sl.param_count()

        return self.expected_cost("params", params, mix)

    @property
    def _opt_params(self) -> Optional[dict[str, dict[int, float]]]:
        """Choice node -> option -> parameters, once :meth:`expected_params` has run."""
        return self._costs["params"][0] if "params" in self._costs else None

    def expected_cost(self, key: str, cost: Any, mix: Optional[dict[str, tuple]] = None,
                      fixed: bool = False) -> torch.Tensor:
        """Σ over the op nodes under choices of (the weights of the options they are under) · ``cost(node, j)``
        (j: None for the op as built, else the index of a combination of its value choices, weighed by the product
        of its values' weights); ``fixed``: plus the cost of every op under no choice (ProxylessNAS' and FBNet's
        expected latency).  ``key`` names ``cost`` in a cache (each op's cost is taken once)."""
        mix = self.mixture() if mix is None else mix
        cache = self._costs.get(key)
        if cache is None:
            g = self.ir.graph
            opts_cost: dict[str, dict[int, float]] = {}
            elastic: list = []
            base = 0.0
            for n in self.ir.nodes("op"):
                if n in self._alias:
                    continue
                opts = [p for p in g.nodes[n]["path"] if p[0] == "opt"]
                if n in self._elastic:  # Σ over its combinations of Π w · (the cost at that combination)
                    elastic.append((n, opts[-1][1:3] if opts else None,
                                    [(idx, cost(n, j)) for j, (idx, _) in enumerate(self._elastic[n][1])]))
                elif opts:
                    row = opts_cost.setdefault(opts[-1][1], {})
                    row[opts[-1][2]] = row.get(opts[-1][2], 0) + cost(n, None)
                else:
                    base += cost(n, None)
            cache = self._costs[key] = (opts_cost, elastic, base)
        opts_cost, elastic, base = cache
        terms = []
        for ch, row in opts_cost.items():
            w = self._option_weights(ch, mix)
            if w is not None:
                terms.append(sum(w[i] * c for i, c in row.items()))
        for n, opt, costs in elastic:
            ws = [mix[d][0] for d in self._elastic[n][0]]
            term = sum(reduce(operator.mul, [w[i] for w, i in zip(ws, idx)]) * c for idx, c in costs)
            if opt is not None:
                w = self._option_weights(opt[0], mix)
                term = term * (w[opt[1]] if w is not None else 1.0)
            terms.append(term)
        total = reduce(operator.add, terms) if terms else torch.zeros(())
        return total + base if fixed else total

    def _option_weights(self, ch: str, mix: dict[str, tuple]) -> Optional[torch.Tensor]:
        """The weights of choice node ``ch``'s options under ``mix`` (its row of an edge table's)."""
        if ch in self._edge_row:
            dec, r = self._edge_row[ch]
            return mix[dec][0][r]
        dec = self.ir.graph.nodes[ch]["decision"]
        return mix[dec][0] if dec in mix else None

    def cell_kinds(self) -> dict[str, str]:
        """Each cell (a decision's name before its first dot) of the searched decisions: ``reduction`` when an op
        under one of its decisions makes the feature map smaller (DARTS' reduction cell), else ``normal``."""
        g = self.ir.graph
        out = {d.split(".")[0]: "normal" for d in self._alpha}
        for n in self.ir.nodes("op"):
            a = g.nodes[n]
            src, dst = self._shape(a["inp"]), self._shape(n)
            if src is None or dst is None or len(src) != 3 or len(dst) != 3 or dst[1:] == src[1:]:
                continue
            for p in a["path"]:
                dec = g.nodes[p[1]].get("decision")
                if dec:
                    out[dec.split(".")[0]] = "reduction"
        return out

    def alpha(self, decision: str) -> nn.Parameter:
        return self.alphas[self._alpha[decision]]

    def op_module(self, ir_node: str) -> nn.Module:
        return self.ops[self._module[ir_node]]

    # ---------------------------------------------------------------- selection
    def _select(self, values: dict[str, Any]):
        if self._pc:
            raise SupernetError(f"cannot run a child on a partial-channel supernet (PC-DARTS, K={self.partial}): its "
                                "candidate ops hold 1/K of the channels, so the derived genotype is retrained instead")
        g = self.space.validate(values)
        sel = self.ir.select(g.values)
        shapes = {nd[0]: tuple(nd[2]) for nd in sel.nodes}
        slicers: dict[str, Optional[Slicer]] = {}
        for nd in sel.nodes:
            if nd[1] != "op":
                continue
            src = sel.origin.get(nd[0])
            if src is None:
                raise SupernetError(f"cannot run this child on the supernet: its op '{nd[0]}' (at {nd[3]}) is an "
                                    "alignment the supernet holds no weights for")
            want = (nd[4]["base"], dict(nd[4]["args"]), shapes[nd[5][0]])
            try:  # smaller arguments or a narrower input: the op on a slice of the weights
                slicers[nd[0]] = self._slicer(src, want)
            except SliceError as e:
                raise SupernetError(f"cannot run this child on the supernet: op '{nd[0]}' (at {nd[3]}) needs "
                                    f"{want}, the supernet holds {self._spec[src]}, and {e}") from None
        return g, sel, slicers

    def activate(self, values: Optional[dict[str, Any]]) -> None:
        """Run exactly the child of ``values`` from now on (None: back to mixed mode)."""
        if values is None:
            self._active = self._active_values = None
            return
        g, sel, slicers = self._select(values)
        self._active = [(nd[0], nd[1], sel.origin.get(nd[0]), list(nd[5]), slicers.get(nd[0])) for nd in sel.nodes]
        self._active_values = g.values

    @property
    def active(self) -> Optional[dict[str, Any]]:
        return self._active_values

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._active is not None:
            return self._forward_child(x)
        return self._forward_mixed(x)

    def _forward_child(self, x: torch.Tensor) -> torch.Tensor:
        v: dict[str, torch.Tensor] = {}
        out = None
        for nid, kind, src, ins, sl in self._active:
            if kind == "input":
                v[nid] = x
            elif kind == "op":
                m = self.ops[self._module[src]]
                v[nid] = m(v[ins[0]]) if sl is None else sl(m, v[ins[0]])
            elif kind == "sum":
                v[nid] = reduce(operator.add, [v[u] for u in ins])
            elif kind == "mul":
                v[nid] = reduce(operator.mul, [v[u] for u in ins])
            elif kind == "concat":
                v[nid] = torch.cat([v[u] for u in ins], 1)
            elif kind == "output":
                out = v[ins[0]]
        return out

    def mixture(self) -> dict[str, tuple]:
        """Each decision's (weights, on) for one mixed forward, from ``self.relax``: ``on`` None computes every
        option; otherwise (a sampling method) a nested list of booleans of the weights' shape, and an option
        that is off is not computed at all (its weight is exactly zero)."""
        out = {}
        for dec, key in self._alpha.items():
            m = self.masks.get(dec)
            if m is None:
                out[dec] = self.relax(self, dec, self.alphas[key])
                continue
            w, on = self.relax(self, dec, self.logits(dec))
            keep = m.tolist()
            out[dec] = (w, keep if on is None else _both(on, keep))
        return out

    def logits(self, decision: str) -> torch.Tensor:
        """The decision's architecture logits, −inf where ``masks`` drops an option (P-DARTS' shrinking)."""
        a = self.alpha(decision)
        m = self.masks.get(decision)
        return a if m is None else a.masked_fill(~m.to(a.device), float("-inf"))

    def _dead(self, mix: dict[str, tuple]) -> set[str]:
        """The nodes under a branch the sampled weights leave out (none when every option is computed)."""
        if all(on is None for _, on in mix.values()):
            return set()
        g = self.ir.graph
        ons = {dec: on for dec, (_, on) in mix.items()}

        def live(p: tuple) -> bool:
            if p[0] == "opt":
                if p[1] in self._edge_row:
                    dec, row = self._edge_row[p[1]]
                    on = ons[dec]
                    return on is None or on[row][p[2]]
                on = ons.get(g.nodes[p[1]]["decision"])
                return on is None or on[p[2]]
            dec = g.nodes[p[1]]["decision"]
            on = ons.get(dec)
            if on is None:
                return True
            if p[0] == "slot":
                return self._kind[dec] == "edge" or (on[p[2]][p[3]] if isinstance(on[0], list) else on[p[3]])
            if p[0] == "rep":
                return any(o and d > p[2] for o, d in zip(on, self._options[dec]))
            return True  # pragma: no cover - 'if' is refused when built

        return {n for n, path in self._paths.items() if not all(live(p) for p in path)}

    @staticmethod
    def _one(t: Any) -> torch.Tensor:
        return t[0] if isinstance(t, list) else t

    def _forward_mixed(self, x: torch.Tensor) -> torch.Tensor:
        g = self.ir.graph
        v: dict[str, Any] = {}
        mix = self.last_mixture = self.mixture()
        dead = self._dead(mix)

        def val(k: str) -> Any:
            t = v.get(k)
            if t is None:
                t = v[k] = self._join(k, g.nodes[k], val, mix[g.nodes[k]["decision"]], x)
            return t

        if self._frees is None:
            self._frees = self._plan_frees()
        try:
            return self._run_mixed(x, g, v, val, mix, dead)
        finally:
            v.clear()  # the closure 'val' refers to itself: without this the tensors lived until a gc pass

    def _plan_frees(self) -> list[list[str]]:
        """For each position of the node loop, the values no later position reads (freed once it is done)."""
        g = self.ir.graph
        memo: dict[str, set] = {}

        def expand(k: str) -> set:
            if k in memo:
                return memo[k]
            a = g.nodes[k]
            out = {k}
            if a["kind"] in _LATE:
                memo[k] = out
                reads: list[str] = []
                if a["kind"] == "choice":
                    reads = list(a["ends"]) + ([self._pc[k][0]] if k in self._pc else [])
                elif a["kind"] == "depth":
                    reads = list(a["ends"].values())
                elif self._kind.get(a["decision"]) == "edge":
                    for ch in a["slots"][0]:
                        reads += list(g.nodes[ch]["ends"]) + ([self._pc[ch][0]] if ch in self._pc else [])
                else:
                    reads = [c for row in a["slots"] for c in row] if a["slots"] else list(a["cands"])
                for r in reads:
                    out |= expand(r)
            memo[k] = out
            return out

        nodes = self.ir.nodes()
        last: dict[str, int] = {}
        for i, n in enumerate(nodes):
            a = g.nodes[n]
            kind = a["kind"]
            if kind == "op":
                direct = [] if n in self._alias else [a["inp"]]
            elif kind == "subset":
                direct = list(a["cands"]) + ([a["default"]] if a.get("default") else [])
            elif kind == "merge":
                direct = list(a["inputs"])
            elif kind == "output":
                direct = [a["inp"]]
            else:
                direct = []
            for r in direct:
                for k in expand(r):
                    last[k] = i
            last.setdefault(n, i)
        frees: list[list[str]] = [[] for _ in nodes]
        for k, i in last.items():
            frees[i].append(k)
        return frees

    def _run_mixed(self, x: torch.Tensor, g, v: dict, val, mix: dict, dead: set) -> torch.Tensor:
        out = None
        frees = self._frees
        for i, n in enumerate(self.ir.nodes()):
            if i:
                for k in frees[i - 1]:  # read by no later node
                    v.pop(k, None)
            a = g.nodes[n]
            kind = a["kind"]
            if n in dead:
                continue
            if kind == "input":
                v[n] = x
            elif kind == "op":
                if n not in self._alias:  # a later slot of an edge is the same edge: computed once
                    t = self._one(val(a["inp"]))
                    if n in self._pc_head:
                        t = t[:, :self._pc_head[n]]
                    t = self._elastic_mixed(n, t, mix, x) if n in self._elastic else self.ops[self._module[n]](t)
                    if self.skip_dropout and n in self._skips:
                        t = nn.functional.dropout(t, self.skip_dropout, self.training)
                    v[n] = t
            elif kind == "subset":
                gate, on = mix[a["decision"]]
                ts = [gate[c] * self._one(val(k)) if on is None or on[c] else self._zeros(x, k)
                      for c, k in enumerate(a["cands"])]
                if a.get("default"):
                    ts.append(torch.prod(1 - gate) * self._one(val(a["default"])) if on is None or not any(on)
                              else self._zeros(x, a["default"]))
                v[n] = ts
            elif kind == "merge":
                ins: list = []
                for i in a["inputs"]:
                    t = val(i)
                    ins.extend(t if isinstance(t, list) else [t])
                if a.get("decision"):
                    w, on = mix[a["decision"]]
                    v[n] = self._wsum([(w[j], (m, ins)) for j, m in enumerate(self._options[a["decision"]])
                                       if on is None or on[j]], lambda mi: _merge(*mi), x, n)
                else:
                    v[n] = _merge(a["mode"], ins)
            elif kind == "output":
                out = self._one(val(a["inp"]))
            elif kind not in _LATE:  # pragma: no cover - refused when built
                raise SupernetError(f"node '{n}' of kind {kind!r} has no mixed forward")
        return out

    def _elastic_mixed(self, n: str, t: torch.Tensor, mix: dict, x: torch.Tensor) -> torch.Tensor:
        """An op with value choices on its arguments in mixed mode: Σ over the combinations of their values that are
        on of Π (each value's weight) · (the op at those values on its slice of the weights, its output zero-padded
        to the shape at the largest values: the first channels, the first features)."""
        decs, combos = self._elastic[n]
        m = self.ops[self._module[n]]
        ws = [mix[d] for d in decs]
        top = self._shape(n)
        terms = []
        for idx, sl in combos:
            if all(on is None or on[i] for (_, on), i in zip(ws, idx)):
                terms.append((reduce(operator.mul, [w[i] for (w, _), i in zip(ws, idx)]), sl))
        return self._wsum(terms, lambda sl: _pad(m(t) if sl is None else sl(m, t), top), x, n)

    def _zeros(self, x: torch.Tensor, n: str) -> torch.Tensor:
        shape = self._shape(n)
        if n in self._pc:
            shape = (self._pc[n][1], *shape[1:])
        return x.new_zeros((x.shape[0], *shape))

    def _wsum(self, terms: list, read, x: torch.Tensor, n: str) -> torch.Tensor:
        """Σ weight · read(item) over ``terms`` [(weight, item)]; zeros of node n's shape when none is on."""
        if not terms:
            return self._zeros(x, n)
        return reduce(operator.add, [w * read(item) for w, item in terms])

    def _partial_out(self, ch: str, mixed: torch.Tensor, val) -> torch.Tensor:
        """PC-DARTS: the mixed op's C/K channels, then the bypassed rest of the input (max-pooled where the
        op halves the size), shuffled in K groups."""
        if ch not in self._pc:
            return mixed
        inp, part = self._pc[ch]
        rest = self._one(val(inp))[:, part:]
        if rest.shape[2:] != mixed.shape[2:]:
            rest = nn.functional.max_pool2d(rest, 2, 2)
        return self.shuffle(torch.cat([mixed, rest], 1))

    def _join(self, n: str, a: dict, val, mixed: tuple, x: torch.Tensor) -> Any:
        kind = a["kind"]
        w, on = mixed
        one = lambda k: self._one(val(k))  # noqa: E731
        if kind == "choice":  # an added 'none' adds nothing
            return self._partial_out(n, self._wsum([(w[i], e) for i, e in enumerate(a["ends"]) if on is None or on[i]],
                                                   val, x, n), val)
        if self._kind.get(a["decision"]) == "edge":  # every candidate edge, each its own mixed op
            g = self.ir.graph
            rows = [self._partial_out(ch, self._wsum([(w[c][i], e) for i, e in enumerate(g.nodes[ch]["ends"])
                                                      if on is None or on[c][i]], val, x, ch), val)
                    for c, ch in enumerate(a["slots"][0])]
            if a["decision"] in self._beta:  # edge normalisation: each edge weighed by softmax(β)
                beta = torch.softmax(self.betas[self._beta[a["decision"]]], -1)
                rows = [beta[c] * r for c, r in enumerate(rows)]
            return rows
        if kind == "depth":
            return self._wsum([(w[j], a["ends"][str(d)]) for j, d in enumerate(self._options[a["decision"]])
                               if on is None or on[j]], one, x, n)
        rows = []
        for s in range(a["k"]):
            ws, os_ = (w[s], on[s] if on is not None else None) if w.dim() == 2 else (w, on)
            keys = a["slots"][s] if a["slots"] else a["cands"]
            rows.append(self._wsum([(ws[c], k) for c, k in enumerate(keys) if os_ is None or os_[c]], one, x, n))
        return rows

    # ---------------------------------------------------------------- results
    def derive(self) -> dict[str, Any]:
        """The argmax genotype's values (validated by the space)."""
        values = dict(self.space.default().values)
        with torch.no_grad():
            for dec, key in self._alpha.items():
                a = self.logits(dec).detach()
                opts, kind = self._options[dec], self._kind[dec]
                if kind in ("op", "depth", "merge", "value"):
                    values[dec] = opts[int(torch.argmax(a[:len(opts)]))]  # an added 'none' is never derived
                elif kind == "pick":
                    top = torch.topk(a, self._k[dec]).indices.tolist()
                    values[dec] = [opts[i] for i in sorted(top)]
                elif kind == "independent":
                    values[dec] = [opts[int(torch.argmax(row))] for row in a]
                elif kind == "edge":
                    values.update(self._derive_edges(dec, torch.softmax(a, dim=-1)))
                elif kind == "subset":
                    values[dec] = [o for o, p in zip(opts, torch.sigmoid(a).tolist()) if p > 0.5]
        return dict(self.space.validate(values).values)

    def _derive_edges(self, dec: str, w: torch.Tensor) -> dict[str, Any]:
        """DARTS' rule on a node's edge table: the k candidates whose strongest non-``none`` op weighs most,
        then on each its best non-``none`` op (in the space's order of the inputs, as the genotype keeps them)."""
        ops = self._edge_ops[dec]
        real = [i for i, o in enumerate(ops) if not option_is(o, "none")]
        best = [max(real, key=lambda i: float(row[i])) for row in w]
        strength = [float(row[b]) for row, b in zip(w, best)]
        if dec in self._beta:  # PC-DARTS ranks the edges by softmax(α) · softmax(β)
            beta = torch.softmax(self.betas[self._beta[dec]].detach(), -1).tolist()
            strength = [st * b for st, b in zip(strength, beta)]
        top = sorted(sorted(range(len(strength)), key=lambda c: -strength[c])[:self._k[dec]])
        out: dict[str, Any] = {dec: [self._options[dec][c] for c in top]}
        for s, c in enumerate(top):
            out[self.space.decisions[dec].each[s]] = ops[best[c]]
        return out

    def export(self, values: dict[str, Any]) -> nn.Module:
        """``backend.build(space.realize(values))`` with this supernet's weights (parameters and buffers) copied in."""
        g, sel, slicers = self._select(values)
        arch = self.space.realize(g, self.input_shape)
        model = plugins.get_backend("torch")().build(arch)
        p = next(iter(self.ops.parameters()), None)
        if p is not None:
            model.to(device=p.device, dtype=p.dtype)
        taken: set[str] = set()
        names = {n: _safe(n, taken) for n in arch.topological() if arch.graph.nodes[n]["kind"] == "op"}
        for nid, name in names.items():
            src = sel.origin.get(nid)
            if src is None:  # pragma: no cover - _select refuses it
                raise SupernetError(f"op '{nid}' of the child has no supernet weights")
            full, sl = self.ops[self._module[src]], slicers[nid]
            target = model.get_submodule(f"ops.{name}")
            if sl is None:
                target.load_state_dict(full.state_dict())
            else:  # the slices the child ran on in the supernet
                state = sl.state(full)
                target.load_state_dict({k: state[k] for k in target.state_dict()})
        model.train(self.training)
        return model


def _both(on: list, keep: list) -> list:
    """Elementwise 'and' of two nested lists of booleans of one shape."""
    if isinstance(on, list):
        return [_both(a, b) for a, b in zip(on, keep)]
    return bool(on) and bool(keep)


def _pad(t: torch.Tensor, shape: tuple) -> torch.Tensor:
    """``t`` (N, *smaller) zero-padded at the end of each dimension to (N, *shape)."""
    pads: list[int] = []
    for have, want in zip(reversed(t.shape[1:]), reversed(shape)):
        pads += [0, want - have]
    return nn.functional.pad(t, pads) if any(pads) else t


def _merge(mode: str, ins: list) -> torch.Tensor:
    if mode == "sum":
        return reduce(operator.add, ins)
    if mode == "mul":
        return reduce(operator.mul, ins)
    return torch.cat(ins, 1)


class Softmax:
    """DARTS' relaxation: each decision's softmax over its options (a sigmoid gate per candidate of a
    subset); every option is computed.  A relaxation is called as ``relax(supernet, decision, logits)``
    and returns ``(weights, on)`` (see :meth:`Supernet.mixture`)."""

    def __call__(self, sup: Supernet, decision: str, logits: torch.Tensor) -> tuple:
        if sup._kind[decision] == "subset":
            return torch.sigmoid(logits), None
        return torch.softmax(logits, dim=-1), None


def check_supernet(space: Any, add_none: bool = False, partial: int = 1) -> None:
    """Raise :class:`SupernetError` where ``space`` cannot be relaxed into a supernet, building no weights
    (what a one-shot strategy checks when a search starts)."""
    Supernet(space, None, add_none, weights=False, partial=partial)


def build_supernet(space: Any, input_shape: Optional[Sequence[int]] = None, add_none: bool = False,
                   partial: int = 1) -> Supernet:
    """The one-shot supernet of ``space`` (refuses, naming the construct, what it cannot hold);
    ``add_none``: DARTS' zero candidate on every op choice that lacks one; ``partial``: PC-DARTS' K (each
    op choice on 1/K of the channels, the rest bypassing it, and edge normalisation of edge tables)."""
    return Supernet(space, input_shape, add_none, partial=partial)


__all__ = ["Softmax", "Supernet", "SupernetError", "build_supernet", "check_supernet"]
