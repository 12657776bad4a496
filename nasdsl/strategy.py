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
"""

from __future__ import annotations

import hashlib
import json
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


class Strategy:
    """Base class of ask/tell strategies.

    Subclasses implement ``ask`` and usually ``tell``; ``options`` are the
    strategy's own settings (``population=10``), given on the command line as
    ``--option population=10``.
    """

    name: ClassVar[str] = "strategy"

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)
        self.options = options
        self.seen: dict[str, Result] = {}  # canonical hash -> result, for the genotypes told so far
        self.told = 0
        self._hashes: dict[str, str] = {}
        check_options("strategy", self.name, options, self.option_names())

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ()

    # ------------------------------------------------------------ the contract
    def ask(self) -> Genotype:
        raise NotImplementedError

    def tell(self, genotype: Genotype, result: Result) -> None:
        self.seen[self.hash(genotype)] = result
        self.told += 1

    def replay(self, history: Iterable[Told]) -> None:
        """Rebuild the state from a search's history: ask and tell in the original order.

        Asking again keeps the random stream where the original run left it, so a
        sequential search resumed from its store proposes what it would have proposed.
        """
        for item in history:
            self.ask()
            self.tell(item.genotype, item.result)

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
        return self.hash(genotype) not in self.seen

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
