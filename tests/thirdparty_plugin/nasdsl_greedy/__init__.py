"""nasdsl-greedy: an epsilon-greedy, mutate-the-best search strategy, shipped as a third-party plugin.

Registered through the ``nasdsl`` entry-point group of this package's
``pyproject.toml``; it uses only nasdsl's public API (``hookimpl``,
``Strategy``, ``Result``, ``Space.sample``/``Space.mutate``).  Its options are
declared in ``defaults``: the base class refuses any other and coerces each to
its default's type (``self.config``), so nothing here parses them.

Options (``--option epsilon=0.2``):

``epsilon``  probability of a fresh random sample instead of a mutation of the best (default 0.1)
``init``     random samples told before the first mutation (default 4)
"""

from __future__ import annotations

import math
from typing import Any, Optional

from nasdsl import Genotype, Space, hookimpl
from nasdsl.strategy import Result, Strategy

__version__ = "0.4.0"


class GreedySearch(Strategy):
    """Mutate the incumbent (the best result told so far); explore at random with probability ``epsilon``."""

    name = "greedy"
    defaults = {"epsilon": 0.1, "init": 4}  # typed: "0.2" from the command line arrives as 0.2

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)  # rejects unknown options, coerces the others into self.config
        self.epsilon = self.config["epsilon"]
        self.init = self.config["init"]
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"strategy 'greedy': epsilon must be in [0, 1], got {self.epsilon}")
        if self.init < 1:
            raise ValueError(f"strategy 'greedy': init must be at least 1, got {self.init}")
        self.incumbent: Optional[tuple[Genotype, float]] = None

    def ask(self) -> Genotype:
        explore = self.rng.random() < self.epsilon  # drawn every ask, so replay keeps the random stream
        if self.incumbent is None or self.told < self.init or explore:
            return self.fresh(lambda: self.space.sample(self.rng))
        parent = self.incumbent[0]
        g = self.fresh(lambda: self.space.mutate(parent, self.rng))
        # every mutation of the incumbent was evaluated already: it is a local optimum, look elsewhere
        return g if self.is_new(g) else self.fresh(lambda: self.space.sample(self.rng))

    def tell(self, genotype: Genotype, result: Result) -> None:
        super().tell(genotype, result)
        if result.value is None or not math.isfinite(result.value):
            return  # a failed trial never becomes the incumbent
        if self.incumbent is None or result.value > self.incumbent[1]:
            self.incumbent = (genotype, float(result.value))


@hookimpl
def register_strategies(register) -> None:
    register("greedy", GreedySearch)


__all__ = ["GreedySearch", "register_strategies"]
