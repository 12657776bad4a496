"""Hierarchical evolution (Liu, Simonyan, Vinyals, Fernando & Kavukcuoglu, ICLR 2018): asynchronous
tournament selection over a population from which no individual is ever removed.

* **Initial population.** ``population`` (200, the paper's) individuals, each the *trivial genotype* --
  every decision that can be an identity mapping (an option named ``identity`` or ``skip_connect``) set
  to it, the others at their default -- diversified by ``init_mutations`` (1000, the paper's) random
  mutations.
* **Evolution.** Each later proposal takes a tournament of ``tournament`` (0.05, the paper's 5 %) of the
  population so far, drawn uniformly, and mutates its best individual once: one decision changed
  (``Space.mutate``), which on a hierarchical space is one entry of one motif (a level-l motif's edge
  set to another level-(l-1) motif or op, ``none`` included).
* **Nothing is ever removed.** Every told trial joins the population for good (a failed one counts as the
  worst), so the population grows with the search -- unlike regularized evolution, which removes its
  oldest.  Workers propose and report asynchronously: a proposal needs only the population told so far.

It applies to every space (a mutation is one decision changed); on a space without motifs it is the
paper's procedure over flat decisions.  With a budget below ``population`` it only ever evaluates the
diversified initial population; the paper ran 7,000 evaluations.
"""

from __future__ import annotations

import math
from typing import Any

from nasdsl import Genotype, Space
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, score

IDENTITY = ("identity", "skip_connect")


class HierarchicalEvolution(BuiltinStrategy):
    name = "hierarchical"
    defaults = {"population": 200, "init_mutations": 1000, "tournament": 0.05}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        c = self.config
        self._check(c["population"] >= 1, f"population must be at least 1, got {c['population']}")
        self._check(c["init_mutations"] >= 0, f"init_mutations must be at least 0, got {c['init_mutations']}")
        self._check(0 < c["tournament"] <= 1, f"tournament is a share of the population in (0, 1], got "
                                              f"{c['tournament']}")
        self.trivial = self.trivial_genotype(space)
        self.members: list[tuple[Genotype, float]] = []  # every told individual, in order; never shrinks
        self.initial_asked = 0

    @staticmethod
    def trivial_genotype(space: Space) -> Genotype:
        """Every decision that offers an identity mapping set to it; the others at their default."""
        values = dict(space.default().values)
        for d in space.decisions.values():
            for name in IDENTITY:
                if name in (getattr(d, "options", None) or ()):
                    values[d.name] = name
                    break
        return space.canonical(space.validate(values))

    def tournament_size(self) -> int:
        return max(1, math.ceil(self.config["tournament"] * len(self.members)))

    def _initial(self) -> Genotype:
        g = self.trivial
        for _ in range(self.config["init_mutations"]):
            g = self.space.mutate(g, self.rng)
        return g

    def ask(self) -> Genotype:
        if self.initial_asked < self.config["population"] or not self.members:
            self.initial_asked += 1
            g = self.fresh(self._initial)
        else:
            picks = [self.members[self.rng.randrange(len(self.members))] for _ in range(self.tournament_size())]
            parent = max(picks, key=lambda m: m[1])[0]
            g = self.fresh(lambda: self.space.mutate(parent, self.rng))
            if not self.is_new(g):  # every mutation of the winner is known: a new random start
                g = self._random()
        return self._asked(g)

    def tell(self, genotype: Genotype, result: Result) -> None:
        super().tell(genotype, result)
        if result.status == "cached":
            return  # a repeat proposal (answered from the store, or the same one in flight) is no new individual
        self.members.append((genotype, score(result)))
