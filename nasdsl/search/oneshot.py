"""The one-shot path of a search: what a one-shot strategy's ``search(run)`` reads and reports to."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from ..store import trials_dir

if TYPE_CHECKING:
    from .core import Search


class OneShotRun:
    """What a one-shot strategy's ``search(run)`` reads and reports to: the data, the device, its
    checkpoint file, the epochs done so far; ``epoch_done`` stores an epoch (after the strategy saved
    its checkpoint) and prints it."""

    def __init__(self, search: "Search", estimator: Any, progress: bool):
        self.search = search
        self.space = search.space
        self.seed = search.seed
        self.data = estimator.dataset
        self.device = getattr(estimator, "recipe_overrides", {}).get("device", "auto")
        self.checkpoint = trials_dir(search.store_path) / f"oneshot-{search.trial_key}.pt"
        self.progress = progress
        self._t0 = time.time()
        self._first: Optional[int] = None  # the first epoch this process ran (a resumed run starts later)

    def epochs(self) -> list[dict[str, Any]]:
        """The epochs stored so far."""
        return list((self.search.store.meta().get("oneshot") or {}).get("epochs", []))

    def ranking_done(self, result: dict[str, Any]) -> None:
        """Store (and print) the trained supernet's ranking quality against a stand-alone table (``ranking_table``)."""
        kept = self.search.store.meta().get("oneshot") or {}
        self.search.store.set_meta({"oneshot": {**kept, "ranking": result}})
        if self.progress:
            ceiling = "" if result.get("seed_tau") is None else f"; the table's own seed-to-seed tau {result['seed_tau']:.3f}"
            print(f"ranking: Kendall tau {result['tau']:.3f} (Spearman rho {result['rho']:.3f}) between the supernet's "
                  f"scores and the stand-alone accuracies of {result['cells']} cells of {result['table']}{ceiling}",
                  flush=True)

    def epoch_done(self, records: list[dict[str, Any]], total: int) -> None:
        """Store the run's epochs (``records``, the one just done last) and print that epoch."""
        record = records[-1]
        kept = self.search.store.meta().get("oneshot") or {}
        self.search.store.set_meta({"oneshot": {**kept, "strategy": self.search.strategy_name, "epochs": records}})
        if not self.progress:
            return
        prev = records[-2]["genotype"] if len(records) > 1 else None
        changed = sum(1 for k, v in record["genotype"].items() if prev is not None and prev.get(k) != v)
        if self._first is None:
            self._first = record["epoch"]
        per_epoch = (time.time() - self._t0) / (record["epoch"] - self._first + 1)
        eta = per_epoch * (total - record["epoch"])
        if record.get("phase") == "search":  # a sampling method's search phase: children scored on the shared weights
            what = f"search  scored {record.get('scored', '-')}  best_score {record['supernet_acc']:.4f}"
        else:  # arch_loss None: a weights-only epoch
            a_loss = "-" if record["arch_loss"] is None else f"{record['arch_loss']:.4f}"
            what = (f"train_loss {record['train_loss']:.4f}  arch_loss {a_loss}  "
                    f"supernet_acc {record['supernet_acc']:.4f}")
        print(f"epoch {record['epoch']}/{total}  {what}  changed {changed if prev is not None else '-'} decisions  "
              f"ETA {eta:.0f}s", flush=True)
        if record.get("stopped"):
            print(record["stopped"], flush=True)

