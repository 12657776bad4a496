"""Decisions written as categorical tokens, for the model-based strategies (reinforce, tpe).

A decision with a small domain is one token over its domain indices.  An input
choice with a large domain is split:

    bits   mode 'subset'       one yes/no token per candidate
    slots  mode 'independent'  one token per slot over the candidates
    picks  mode 'distinct'     one token per slot over the candidates, without
                               repeats (a sampler masks the picked ones; a repeat
                               from one that cannot mask moves on to the next
                               unpicked candidate)
    sized  'pick {1, 2} of'    a token for how many, then one per slot as for
                               picks (the slots past that number are not read)

Numeric hyperparameter ranges are not tokens (``plan`` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from nasdsl.decisions import Decision, HyperRange, InputChoice


@dataclass(frozen=True)
class Plan:
    decision: Decision
    kind: str  # index | bits | slots | picks | sized | fixed
    sizes: tuple[int, ...]  # choices of each token
    names: tuple[str, ...]  # a name per token (the decision's, or with [slot] / [candidate])

    def taken(self, idx: Sequence[int]) -> list[int]:
        """The candidates the next token may not pick again, after tokens ``idx`` (picks: no repeats)."""
        if self.kind == "picks":
            return list(idx)
        return list(idx[1:]) if self.kind == "sized" else []

    def encode(self, value: Any) -> list[int]:
        """The token indices of a (valid) value."""
        d = self.decision
        if self.kind == "fixed":
            return []
        if self.kind == "index":
            return [d.index(d.canonical(value))]
        assert isinstance(d, InputChoice)
        if self.kind == "bits":
            return [int(c in value) for c in d.candidates]
        if self.kind == "slots":
            return [d.candidates.index(x) for x in value]
        picks = [d.candidates.index(x) for x in d.canonical(value)]
        if self.kind == "sized":  # the unused slots read as the first candidates not picked
            rest = [i for i in range(len(d.candidates)) if i not in picks]
            return [d.ks.index(len(picks))] + picks + rest[:d.k - len(picks)]
        return picks

    def decode(self, idx: Sequence[int]) -> Any:
        d = self.decision
        if self.kind == "fixed":
            return d.value(0)
        if self.kind == "index":
            return d.value(idx[0])
        assert isinstance(d, InputChoice)
        cands = d.candidates
        if self.kind == "bits":
            return [c for c, b in zip(cands, idx) if b]
        if self.kind == "slots":
            return [cands[i] for i in idx]
        if self.kind == "sized":
            idx = idx[1:1 + d.ks[idx[0]]]
        used: set[int] = set()
        out = []
        for i in idx:
            while i in used:
                i = (i + 1) % len(cands)
            used.add(i)
            out.append(cands[i])
        return out


def plan(d: Decision, limit: int, subset_limit: int | None = None) -> Plan | None:
    """How ``d`` is written as tokens: one token while its domain has at most ``limit`` values.

    ``subset_limit`` (default ``limit``) is the bound for subsets; 0 writes every subset as bits.
    """
    if isinstance(d, HyperRange):
        return None
    n = d.size()
    if n <= 1:
        return Plan(d, "fixed", (), ())
    if isinstance(d, InputChoice):
        m = len(d.candidates)
        bound = limit if subset_limit is None else subset_limit
        if d.mode == "subset" and n > bound:
            return Plan(d, "bits", (2,) * m, tuple(f"{d.name}[{c}]" for c in d.candidates))
        if d.ks and n > limit:
            return Plan(d, "sized", (len(d.ks),) + (m,) * d.k,
                        (f"{d.name}[k]",) + tuple(f"{d.name}[{s}]" for s in range(d.k)))
        if d.mode != "subset" and n > limit:
            kind = "slots" if d.mode == "independent" else "picks"
            return Plan(d, kind, (m,) * d.k, tuple(f"{d.name}[{s}]" for s in range(d.k)))
    return Plan(d, "index", (n,), (d.name,))
