"""Benchmark: what learning-curve early stopping (``-E curve_stop=true``) saves, and what it costs.

The same random search (the random strategy proposes the same architectures whatever it is told) runs
twice per seed on the same data: once training every trial to the end, once with ``curve_stop``.  Side by
side: the epochs trained, the training seconds, the best validation accuracy found and that trial's test
accuracy, and whether the architecture that is best when everything is trained to the end was stopped.

Run: ``.venv/bin/python bench/bench_curves.py [--seeds 0,1,2] [--budget 16] [--epochs 10] [--data mnist1d]``
(about 10 minutes on one thread).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))


def run(seed: int, budget: int, epochs: int, data: str, curve: bool, threshold: float) -> list:
    from nasdsl.search import Search

    opts = {"epochs": epochs, "save_model": False}
    if curve:
        opts.update(curve_stop=True, curve_threshold=threshold)
    with tempfile.TemporaryDirectory() as d:
        s = Search(str(ROOT / "spaces" / "nasbench201.nas"), strategy="random", estimator="train", budget=budget,
                   store=Path(d) / "c.db", executor="inprocess", params={"C": 4, "N": 1}, seed=seed, data=data,
                   estimator_options=opts)
        try:
            s.run()
            return [t for t in s.store.trials() if t.status == "completed"]
        finally:
            s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--data", default="mnist1d")
    ap.add_argument("--threshold", type=float, default=0.05)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"random search, {args.budget} NB201 C=4 N=1 trials of {args.epochs} epochs on {args.data}, "
          f"curve_threshold {args.threshold}, 1 thread")
    print(f"{'seed':>4s} {'mode':>10s} {'epochs':>7s} {'train s':>8s} {'stopped':>8s} {'best valid':>11s} "
          f"{'its test':>9s} {'true best stopped':>18s}")
    saved, lost = [], []
    for seed in (int(x) for x in args.seeds.split(",")):
        full = run(seed, args.budget, args.epochs, args.data, False, args.threshold)
        cut = run(seed, args.budget, args.epochs, args.data, True, args.threshold)
        assert [t.hash for t in full] == [t.hash for t in cut], "the random strategy proposed differently"
        true_best = max(full, key=lambda t: t.metrics["valid_acc"]).hash
        for mode, trials in (("full", full), ("curve_stop", cut)):
            best = max(trials, key=lambda t: t.metrics["valid_acc"])
            ep = sum(t.metrics["epochs"] for t in trials)
            secs = sum(t.metrics["train_seconds"] for t in trials)
            stopped = sum(1 for t in trials if t.metrics.get("stopped"))
            killed = any(t.hash == true_best and t.metrics.get("stopped") for t in trials)
            print(f"{seed:4d} {mode:>10s} {ep:7.0f} {secs:8.1f} {stopped:8d} {best.metrics['valid_acc']:11.4f} "
                  f"{best.metrics['test_acc']:9.4f} {'yes' if killed else 'no':>18s}")
        saved.append(sum(t.metrics["epochs"] for t in cut) / sum(t.metrics["epochs"] for t in full))
        lost.append(max(t.metrics["valid_acc"] for t in full) - max(t.metrics["valid_acc"] for t in cut))
    print(f"epochs trained with curve_stop / without: mean {statistics.mean(saved):.3f}; "
          f"best validation accuracy lost: mean {statistics.mean(lost):.4f}")


if __name__ == "__main__":
    main()
