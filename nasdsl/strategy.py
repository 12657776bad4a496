"""Multi-trial search strategies: the ask/tell contract every strategy plugin implements.

A strategy proposes genotypes (``ask``) and learns from their results
(``tell``).  It sees only the Space IR's decisions and numbers — never models
or backends — so every strategy runs on every space.  It is seeded, and
``replay(history)`` rebuilds its state from a search's stored trials, so a
resumed search continues the same search.

Results are told as a :class:`Result`: ``value`` is the objective to
**maximize** (None for a failed trial), ``metrics`` everything measured.

Genotypes are de-duplicated by :func:`dedup_hash`: the canonical hash of the
architecture, or — for a genotype whose architecture cannot be realized (merged
maps of incompatible sizes, ...) — a hash of its canonical values, so proposing
such a genotype never raises and a second proposal of it is still a duplicate.
The search loop rejects it (status ``rejected``, value None) like a genotype
that breaks a ``where`` constraint.

A strategy declares its options as a class attribute ``defaults``
(``{"population": 10}``); ``self.config`` holds every one of them, given or
defaulted, coerced to the type of its default (options from the command line
arrive as strings: ``--option population=10``), and any other option is
refused with the strategy's name.  A strategy that marks what it proposes with
``asked(genotype)`` never proposes it again while it is in flight
(``pending``), and ``replay`` forgets an asked genotype the history does not
hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Optional

from .errors import NasError
from .genotype import Genotype
from .plugins import check_options
from .space import Space


def dedup_hash(space: Space, genotype: Genotype) -> str:
    """The hash genotypes are de-duplicated by; never raises for a genotype the space accepts.

    ``space.canonical_hash`` (isomorphic architectures hash alike) where the architecture can be
    realized; else a hash of the canonical genotype values (inactive decisions at their default,
    inputs in order), hashed under a prefix of its own so it stands apart from architecture hashes.
    """
    try:
        return space.canonical_hash(genotype)
    except NasError:  # the architecture cannot be realized: the search rejects it, but it is still one genotype
        values = space.canonical(genotype).values
        text = "unrealizable:" + json.dumps(values, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Result:
    value: Optional[float]  # the objective, higher is better; None when the trial failed
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "completed"  # completed | failed | rejected (a constraint, or not realizable) | cached

    @property
    def ok(self) -> bool:
        return self.value is not None


@dataclass
class Told:
    """One entry of a search's history, as strategies replay it."""

    genotype: Genotype
    result: Result


WORST = -math.inf  # the score of a failed trial

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def result_value(result: Result) -> Optional[float]:
    """The value to maximize, or None for a failed trial (a NaN counts as failed)."""
    if not result.ok:
        return None
    v = float(result.value)
    return None if math.isnan(v) else v


def result_score(result: Result) -> float:
    """The value to maximize; a failed trial is the worst possible (:data:`WORST`)."""
    v = result_value(result)
    return WORST if v is None else v


def coerce_option(strategy: str, key: str, value: Any, default: Any) -> Any:
    """Option ``key`` of ``strategy`` as the type of its ``default``: bool, int or float.

    A string (from the command line) is parsed: a bool from 1/0, true/false, yes/no, on/off; an int from
    a whole number ("5", "5.0", "1e3"); a float from a finite number.  A bool is never taken for a number,
    nor a fraction for an int.  Defaults of any other type (a string, None) take the value as it is.
    Raise ValueError naming the strategy, the option, the type and the value
    (``strategy 'evolution': option population must be int, got 'ten'``).
    """
    want = type(default)
    bad = ValueError(f"strategy '{strategy}': option {key} must be {want.__name__}, got {value!r}")
    if want is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad
    if want not in (int, float):
        return value
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad from None
    if not isinstance(value, (int, float)):
        raise bad
    if want is int:
        if float(value).is_integer():
            return int(value)
        raise bad
    if math.isfinite(value):
        return float(value)
    raise bad


class Strategy:
    """Base class of ask/tell strategies.

    Subclasses implement ``ask`` and usually ``tell``; ``options`` are the
    strategy's own settings (``population=10``), given on the command line as
    ``--option population=10``.  The class attribute ``defaults`` declares them
    with their defaults; ``self.config`` holds every declared option, coerced
    to its default's type (:func:`coerce_option`), and an option not declared
    is refused.  (A subclass may instead override ``option_names`` and read
    ``self.options``, the options as given.)

    Bookkeeping of what is in flight: ``asked(g)`` marks a proposal (``return
    self.asked(g)`` at the end of ``ask``), ``pending`` holds those not told
    yet, and ``is_new`` is true of a genotype neither told nor pending, so
    ``fresh`` skips both.  ``drop(g)`` forgets an asked genotype whose result
    will never come; ``replay`` calls it for an asked genotype the history does
    not hold.  A strategy that never calls ``asked`` has nothing pending.
    """

    name: ClassVar[str] = "strategy"
    defaults: ClassVar[dict[str, Any]] = {}  # option -> default; its type is the option's

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)
        self.options = options
        self.seen: dict[str, Result] = {}  # canonical hash -> result, for the genotypes told so far
        self.told = 0
        self.pending: dict[str, Genotype] = {}  # canonical hash -> genotype asked and not told yet
        self._hashes: dict[str, str] = {}
        check_options("strategy", self.name, options, tuple(self.option_names()))
        self.config: dict[str, Any] = {k: coerce_option(self.name, k, options.get(k, v), v)
                                       for k, v in self.defaults.items()}

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The options the strategy takes (by default those of ``defaults``); any other is refused."""
        return tuple(cls.defaults)

    # ------------------------------------------------------------ the contract
    def ask(self) -> Genotype:
        raise NotImplementedError

    def set_budget(self, budget: int) -> None:
        """Told by the search, before it replays the history, how many finished trials it runs in all (a
        strategy with a schedule over the budget, Q-learning's epsilon, reads it); the default ignores it."""

    def tell(self, genotype: Genotype, result: Result) -> None:
        h = self.hash(genotype)
        self.seen[h] = result
        self.told += 1
        self.pending.pop(h, None)

    def replay(self, history: Iterable[Told]) -> None:
        """Rebuild the state from a search's history: ask and tell in the original order.

        Asking again keeps the random stream where the original run left it, so a
        sequential search resumed from its store proposes what it would have proposed.
        An asked genotype the history does not hold (another was told in its place) is dropped.
        """
        for item in history:
            asked = self.ask()
            if self.pending:  # only a strategy that marks what it asks has something to drop
                h = self.hash(asked)
                if h in self.pending and h != self.hash(item.genotype):
                    self.drop(asked)
            self.tell(item.genotype, item.result)

    # ------------------------------------------------------------ in-flight bookkeeping
    def asked(self, genotype: Genotype) -> Genotype:
        """Mark ``genotype`` as proposed and waiting for its result (``pending``); returns it."""
        self.pending[self.hash(genotype)] = genotype
        return genotype

    def drop(self, genotype: Genotype) -> None:
        """Forget an asked genotype whose result will never come (replay told another one).

        A subclass that keeps state per asked genotype extends it (and calls ``super().drop``).
        """
        self.pending.pop(self.hash(genotype), None)

    # ------------------------------------------------------------ helpers for subclasses
    def hash(self, genotype: Genotype) -> str:
        """The canonical hash (isomorphic genotypes are one architecture), see :func:`dedup_hash`; cached."""
        key = genotype.model_dump_json()
        h = self._hashes.get(key)
        if h is None:
            h = dedup_hash(self.space, genotype)
            if len(self._hashes) > 200_000:
                self._hashes.clear()
            self._hashes[key] = h
        return h

    def is_new(self, genotype: Genotype) -> bool:
        """Neither told nor waiting for its result (``pending``)."""
        h = self.hash(genotype)
        return h not in self.seen and h not in self.pending

    def fresh(self, propose, tries: int = 100) -> Genotype:
        """Call ``propose()`` until it gives a genotype not evaluated yet (or ``tries`` run out)."""
        g = propose()
        for _ in range(tries - 1):
            if self.is_new(g):
                return g
            g = propose()
        return g

    def best(self) -> Optional[tuple[str, Result]]:
        ok = [(h, r) for h, r in self.seen.items() if r.ok]
        return max(ok, key=lambda hr: hr[1].value) if ok else None


class OneShotStrategy:
    """Base class of one-shot strategies (DARTS and its kin): they train one supernet holding the whole
    space instead of proposing trials, so they do not take part in the ask/tell contract.

    ``search(run)`` trains (reading the data and the checkpoint path from ``run``, reporting each epoch
    with ``run.epoch_done``) and returns the genotype it derives; the search loop then retrains that
    genotype from scratch with the estimator and stores it as an ordinary trial.  A class attribute
    ``defaults`` ({option: default}) lists its ``-S`` options.
    """

    name: ClassVar[str] = "one-shot"
    one_shot: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        self.space = space
        self.seed = seed
        check_options("strategy", self.name, options, tuple(self.defaults))
        self.options = {**self.defaults, **options}

    def search(self, run: Any) -> Genotype:
        raise NotImplementedError
