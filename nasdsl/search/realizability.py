"""How many random genotypes of a space cannot be realized, and why: the twin of ``nasdsl check --sample``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..errors import NasError
from ..space import Space
from .trial import _said


@dataclass
class Unrealizable:
    """One reason random genotypes cannot be realized, and how many of them it stopped."""

    message: str
    where: Optional[str]  # file:line:col, when the error is located
    count: int

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class Realizability:
    """What :func:`realizability` found: ``failed`` of ``sampled`` genotypes cannot be realized."""

    sampled: int
    failed: int
    reasons: list[Unrealizable]  # most frequent first

    @property
    def fraction(self) -> float:
        return self.failed / self.sampled if self.sampled else 0.0


def realizability(space: Space, n: int, seed: Any = 0) -> Realizability:
    """Realize ``n`` random genotypes (``space.sample``, seeded) and count those that cannot be realized.

    Reasons are grouped by the error's message and location, not by genotype.
    """
    import random
    from collections import Counter

    rng = random.Random(seed)
    found: Counter[tuple[str, Optional[str]]] = Counter()
    for _ in range(n):
        try:
            space.realize(space.sample(rng))
        except NasError as e:
            found[(_said(e), str(e.span) if e.span else None)] += 1
    ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0][1] or "", kv[0][0]))  # most frequent first
    return Realizability(n, sum(found.values()), [Unrealizable(m, w, c) for (m, w), c in ranked])

