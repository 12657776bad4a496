"""Grid search: every architecture of a small space once, in ``Space.enumerate`` order."""

from __future__ import annotations

from typing import Any

from nasdsl import Genotype, Space

from ._base import BuiltinStrategy

MAX_SIZE = 10 ** 6


class GridSearch(BuiltinStrategy):
    """Enumerate the space (hyperparameters at their defaults), skipping what is told or in flight.

    Isomorphic genotypes are one architecture, so the grid proposes each once.  When
    the grid is exhausted it goes on with random samples (new hyperparameters, or
    repeats once every architecture has been told).
    """

    name = "grid"

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        size = space.size()
        if size > MAX_SIZE:
            raise ValueError(f"strategy 'grid': space '{space.name}' has {size:.3g} architectures, more than "
                             f"{MAX_SIZE:.0e} to enumerate; use random")
        self._grid = space.enumerate()
        self.exhausted = False

    def ask(self) -> Genotype:
        if not self.exhausted:
            for g in self._grid:
                if self.is_new(g):
                    return self._asked(g)
            self.exhausted = True
        return self._asked(self._random())
