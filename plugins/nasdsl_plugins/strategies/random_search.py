"""Random search: each active decision uniform over its domain (the baseline every method must beat)."""

from __future__ import annotations

from nasdsl import Genotype

from ._base import BuiltinStrategy


class RandomSearch(BuiltinStrategy):
    """Uniform samples of the space, skipping genotypes already told or in flight."""

    name = "random"

    def ask(self) -> Genotype:
        return self._asked(self._random())
