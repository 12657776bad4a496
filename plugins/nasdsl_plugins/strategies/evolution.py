"""Regularized (aging) evolution (Real, Aggarwal, Huang & Le, AAAI 2019).

A population of P (``population``) in age order.  Until it is full, ask gives
random samples.  Then: draw S (``tournament``) members uniformly without
replacement, mutate the best of them (``Space.mutate``: one active decision
changes) and, when the child is told, append it and remove the *oldest* member,
not the worst.  A failed child joins with value -inf; aging removes it.  Every
told genotype joins, so a replayed or foreign history seeds the population.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from nasdsl import Genotype, Space
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, score

MUTATION_TRIES = 50


class RegularizedEvolution(BuiltinStrategy):
    name = "evolution"
    defaults = {"population": 10, "tournament": 3}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        self.P, self.S = self.config["population"], self.config["tournament"]
        self._check(self.P >= 1, f"population must be at least 1, got {self.P}")
        self._check(1 <= self.S <= self.P, f"tournament must be between 1 and the population ({self.P}), got {self.S}")
        self.population: deque[tuple[Genotype, float]] = deque()

    def ask(self) -> Genotype:
        if len(self.population) < self.P:
            return self._asked(self._random())
        contenders = self.rng.sample(list(self.population), self.S)
        parent = max(contenders, key=lambda m: m[1])[0]  # the first of equals, so ties follow the draw
        child = self._retry(lambda: self.space.mutate(parent, self.rng), MUTATION_TRIES)
        return self._asked(child if child is not None else self._random())

    def tell(self, genotype: Genotype, result: Result) -> None:
        super().tell(genotype, result)
        self.population.append((genotype, score(result)))
        if len(self.population) > self.P:
            self.population.popleft()
