"""What the built-in strategies share: typed options with defaults, in-flight bookkeeping, scores.

Options arrive as Python values or, from the command line, as strings
(``--option population=10``); each is coerced to the type of its default.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, Iterable

from nasdsl import Genotype, Space
from nasdsl.strategy import Result, Strategy, Told

WORST = -math.inf

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def value(result: Result) -> float | None:
    """The value to maximize, or None for a failed trial (a NaN counts as failed)."""
    if not result.ok:
        return None
    v = float(result.value)
    return None if math.isnan(v) else v


def score(result: Result) -> float:
    """The value to maximize; a failed trial is the worst possible."""
    v = value(result)
    return WORST if v is None else v


def _coerce(strategy: str, key: str, value: Any, default: Any) -> Any:
    want = type(default)
    bad = ValueError(f"strategy '{strategy}': option {key} must be {want.__name__}, got {value!r}")
    if want is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad from None
    if want is int:
        if isinstance(value, (int, float)) and float(value).is_integer():
            return int(value)
        raise bad
    if want is float:
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
        raise bad
    return value


class BuiltinStrategy(Strategy):
    """A strategy with declared options (``defaults``) that never proposes what is told or in flight."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)  # rejects unknown options
        self.config: dict[str, Any] = {k: _coerce(self.name, k, options.get(k, v), v) for k, v in self.defaults.items()}
        self._pending: dict[str, Genotype] = {}  # canonical hash -> genotype asked and not told yet

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(cls.defaults)

    def _check(self, ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"strategy '{self.name}': {message}")

    # ------------------------------------------------------------ bookkeeping
    def is_new(self, genotype: Genotype) -> bool:
        """Neither told nor waiting for its result."""
        h = self.hash(genotype)
        return h not in self.seen and h not in self._pending

    def _asked(self, genotype: Genotype) -> Genotype:
        self._pending[self.hash(genotype)] = genotype
        return genotype

    def _random(self) -> Genotype:
        return self.fresh(lambda: self.space.sample(self.rng))

    def tell(self, genotype: Genotype, result: Result) -> None:
        super().tell(genotype, result)
        self._pending.pop(self.hash(genotype), None)

    def _drop(self, genotype: Genotype) -> None:
        """Forget an asked genotype whose result will never come (replay told another one)."""
        self._pending.pop(self.hash(genotype), None)

    def replay(self, history: Iterable[Told]) -> None:
        """Ask and tell in the original order; an asked genotype the history does not hold is dropped."""
        for item in history:
            asked = self.ask()
            if self.hash(asked) != self.hash(item.genotype):
                self._drop(asked)
            self.tell(item.genotype, item.result)

    def _retry(self, propose: Callable[[], Genotype], tries: int) -> Genotype | None:
        for _ in range(tries):
            g = propose()
            if self.is_new(g):
                return g
        return None
