"""The multi-trial loop: ask -> dedup -> submit -> wait -> store -> tell.

The loop keeps as many trials in flight as the executor has workers.  What it
needs of the others is small and written down: the strategy's ``ask``/``tell``/
``hash`` (:mod:`nasdsl.strategy`), the executor's ``submit``/``shutdown``/``workers``
and the three ways a future ends (:mod:`nasdsl.executor`), the store's ``add`` and
``lookup``, and :class:`Gate`, the one place that says whether an architecture is
evaluated already.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..errors import NasdslError
from ..executor import ExecutorError, WorkerLost
from ..genotype import Genotype
from ..store import TrialRecord
from ..strategy import Result
from .trial import Outcome

if TYPE_CHECKING:
    from .core import Search

MAX_IDLE_ASKS = 200  # proposals in a row that evaluate nothing new: the space (or its feasible part) is exhausted


class Gate:
    """The loop's one de-duplication layer: a proposal is answered from the store (evaluated or rejected
    before, in this run or an earlier one), dropped (the same architecture is in flight), or run; the
    trials in flight are kept here, by their futures.

    (A strategy keeps its own memory of what it proposed, to avoid proposing it again; the gate is what
    makes a repeat cost nothing when a strategy proposes one anyway.)"""

    def __init__(self, store: Any):
        self.store = store
        self.inflight: dict[Future, tuple[Genotype, str]] = {}  # future -> (genotype, canonical hash)

    def stored(self, h: str) -> Optional[TrialRecord]:
        return self.store.lookup(h)

    def running(self, h: str) -> bool:
        return any(h == running for _, running in self.inflight.values())  # at most `workers` of them


@dataclass
class Loop:
    """One run of a search's loop (state that lives while it runs)."""

    search: "Search"
    executor: Any
    runner: Callable[[dict[str, Any]], Outcome]
    notify: Callable[[TrialRecord], None]
    idle: int = 0  # proposals in a row that evaluated nothing new
    gate: Gate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = Gate(self.search.store)

    def run(self) -> bool:
        """Run to the budget; True when it stopped early (the strategy only proposed known architectures)."""
        s, inflight = self.search, self.gate.inflight
        done = s.store.finished_count()
        while True:
            while done + len(inflight) < s.budget and len(inflight) < self.executor.workers \
                    and self.idle < MAX_IDLE_ASKS:
                self.ask()
            if not inflight:
                return self.idle >= MAX_IDLE_ASKS
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for fut in finished:
                g, h = inflight.pop(fut)
                rec = s.record(g, h, _outcome(fut, s.executor_name))
                s.strategy.tell(g, Result(rec.value, rec.metrics, rec.status))
                if rec.status in ("completed", "failed"):
                    done += 1
                    s.finished.append(rec)
                    self.idle = 0
                else:
                    self.idle += 1
                self.notify(rec)

    def ask(self) -> None:
        s, gate = self.search, self.gate
        g = s.strategy.ask()
        h = s.strategy.hash(g)
        known = gate.stored(h)
        if known is not None:  # answered from the store: no training, no budget
            rec = s.store.add(g, h, "cached", known.value, known.metrics, known.error, duration=0.0)
            s.strategy.tell(g, Result(known.value, known.metrics, "cached"))
            self.idle += 1
            self.notify(rec)
        elif gate.running(h):
            s.strategy.tell(g, Result(None, {}, "cached"))
            self.idle += 1
        else:
            fut = self.executor.submit(self.runner, s.payload(s.store.count() + len(gate.inflight), g, h))
            gate.inflight[fut] = (g, h)


def _outcome(fut: Future, executor: str = "executor") -> Outcome:
    """A future's outcome; a lost worker is a failed trial, any other exception (the executor is gone) raises
    an :class:`ExecutorError` saying so."""
    try:
        out = fut.result()
    except WorkerLost as e:
        return Outcome.lost(str(e))
    except NasdslError:
        raise
    except Exception as e:
        raise ExecutorError(f"executor '{executor}' failed: {type(e).__name__}: {e}; the store keeps every "
                            f"finished trial, --resume continues") from e
    if not isinstance(out, Outcome):
        raise ExecutorError(f"the executor gave {type(out).__name__} for a trial, not its Outcome")
    return out
