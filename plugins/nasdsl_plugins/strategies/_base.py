"""What the built-in strategies share beyond ``nasdsl.strategy.Strategy``.

The typed options (``defaults``, ``self.config``), the in-flight bookkeeping
(``pending``, ``asked``, ``drop``, ``is_new``, ``replay``) and the result helpers
live in the public base, where a third-party strategy gets them too; this module
re-exports the helpers under their old names and adds the few conveniences the
built-ins use.
"""

from __future__ import annotations

from typing import Callable

from nasdsl import Genotype
from nasdsl.strategy import WORST, Strategy
from nasdsl.strategy import result_score as score
from nasdsl.strategy import result_value as value


class BuiltinStrategy(Strategy):
    """A strategy with declared options (``defaults``) that never proposes what is told or in flight."""

    def _check(self, ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"strategy '{self.name}': {message}")

    def _asked(self, genotype: Genotype) -> Genotype:
        # through the base class, not self.asked: a subclass may well have an attribute of that name
        # (a counter of asks), and the built-ins must mark what they propose all the same
        return Strategy.asked(self, genotype)

    def _random(self) -> Genotype:
        return self.fresh(lambda: self.space.sample(self.rng))

    def _retry(self, propose: Callable[[], Genotype], tries: int) -> Genotype | None:
        for _ in range(tries):
            g = propose()
            if self.is_new(g):
                return g
        return None


__all__ = ["WORST", "BuiltinStrategy", "score", "value"]
