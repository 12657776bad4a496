"""Local search: first-improvement hill climbing over ``Space.neighbours``, with random restarts.

Start from a random sample.  Propose the neighbours of the incumbent (one
architecture decision away) in random order, skipping those told or in flight;
the first told result better than the incumbent becomes the incumbent and its
neighbours are proposed next.  When every neighbour has been proposed without
an improvement the incumbent is a local optimum (kept in ``optima``) and the
search restarts from a fresh random sample.

Neighbourhoods are read lazily through a shuffle buffer (``window`` genotypes),
so a huge neighbourhood is never built in full.
"""

from __future__ import annotations

import random
from typing import Iterator, Optional

from nasdsl import Genotype
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, score

WINDOW = 1024


def shuffled(items: Iterator[Genotype], rng: random.Random, window: int = WINDOW) -> Iterator[Genotype]:
    """A random order of ``items`` read lazily: a buffer of ``window``, one random element out at a time."""
    buf: list[Genotype] = []
    for x in items:
        if len(buf) < window:
            buf.append(x)
            continue
        i = rng.randrange(window)
        buf[i], x = x, buf[i]
        yield x
    rng.shuffle(buf)
    yield from buf


class LocalSearch(BuiltinStrategy):
    name = "local"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.incumbent: Optional[tuple[Genotype, float]] = None
        self._neighbours: Optional[Iterator[Genotype]] = None
        self.optima: list[tuple[Genotype, float]] = []

    def ask(self) -> Genotype:
        if self._neighbours is not None:
            for g in self._neighbours:
                if self.is_new(g):
                    return self._asked(g)
            assert self.incumbent is not None
            self.optima.append(self.incumbent)  # no neighbour improved on it
            self.incumbent = self._neighbours = None
        return self._asked(self._random())

    def tell(self, genotype: Genotype, result: Result) -> None:
        super().tell(genotype, result)
        s = score(result)
        if self.incumbent is None or s > self.incumbent[1]:
            self.incumbent = (genotype, s)
            self._neighbours = shuffled(self.space.neighbours(genotype), self.rng)
