"""The multi-trial search loop: strategy asks, estimator scores, store remembers.

``Search(...).run()`` is what ``nasdsl search`` runs.  Trials run through an
executor (in-process, or a local process pool with ``workers > 1``); each one
is written to the SQLite store as it ends.  A genotype whose architecture was
evaluated already (same canonical hash) is answered from the store and does
not count against the budget.  A trial that raises, runs out of memory or
gives NaN is recorded as failed and the search goes on.  ``resume=True``
continues a search from its store: the strategy replays the stored history,
and the budget counts finished trials across resumes.

A genotype is **rejected** — recorded with status ``rejected`` and told to the
strategy as a result without a value, never trained — when its architecture
breaks a ``where`` constraint, or when it cannot be realized at all (a
per-architecture language error such as ``cannot merge feature maps of sizes
[[3, 3], [8, 8]]``; the trial's error holds the message and its
``file:line:col``).  One rule for both: the budget counts *finished* trials
(completed or failed); rejected and cached ones do not count, and a search
whose strategy makes ``MAX_IDLE_ASKS`` proposals in a row that finish nothing
stops early (the space, or its feasible part, is exhausted).  A rejected
genotype proposed again is answered from the store (``cached``).  A mistake of
configuration (an objective the estimator does not give, a constraint it
cannot check) still stops the search at once.

:func:`realizability` is the twin of ``nasdsl check --sample``: how many random
genotypes of a space cannot be realized, and why.

The package, in the order a trial travels:

- :mod:`.core` — :class:`Search`: the configuration (checked before any trial), the store's identity, run;
- :mod:`.loop` — the loop itself (ask -> dedup -> submit -> wait -> store -> tell) and its one
  de-duplication :class:`Gate`;
- :mod:`.trial` — the payload a worker receives, :func:`run_trial`, and the frozen :class:`Outcome`;
- :mod:`nasdsl.executor` — the executor protocol (a ``Future`` per trial; a lost worker is its own outcome);
- :mod:`.progress`, :mod:`.oneshot`, :mod:`.realizability` — the console, the one-shot path, ``check --sample``.
"""

from __future__ import annotations

from .core import Search, SearchError, SearchResult, open_store, pareto_front
from .loop import MAX_IDLE_ASKS, Gate, Loop
from .realizability import Realizability, Unrealizable, realizability
from .trial import Outcome, SpaceRef, parse_objective, reason, run_trial
from ..store import StoreError

__all__ = ["Search", "SearchResult", "SearchError", "run_trial", "parse_objective", "pareto_front", "open_store",
           "StoreError", "realizability", "Realizability", "Unrealizable", "reason", "Outcome", "SpaceRef",
           "MAX_IDLE_ASKS", "Gate", "Loop"]
