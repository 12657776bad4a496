"""What the one-shot strategies find on NAS-Bench-201 cells on digits, against random search given the same time.

For each seed and each strategy (darts, snas, gdas, drnas, pcdarts, pdarts): the search on the supernet of
``nasbench201.nas`` (small widths, digits 8x8), then the derived genotype retrained from scratch; the wall
clock of both is the budget random search then gets (random genotypes, each trained as the retraining is,
the best by validation accuracy kept).  Printed: each strategy's test accuracy (mean ± std over the seeds)
and random search's at the same time, and the op histogram of every derived cell (do the methods collapse
toward parameter-free ops: skip connections, pooling, none?).

Run: ``.venv/bin/python bench/bench_oneshot_quality.py [--seeds 3] [--epochs 10] [--quick]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nasdsl import Space  # noqa: E402
from nasdsl.datasets import load_dataset  # noqa: E402
from nasdsl.plugins import get_backend  # noqa: E402
from nasdsl_plugins.oneshot import config as C  # noqa: E402
from nasdsl_plugins.oneshot.darts import METHODS  # noqa: E402

CONFIGS = {"darts": C.DartsConfig, "snas": C.SnasConfig, "gdas": C.GdasConfig, "drnas": C.DrnasConfig,
           "pcdarts": C.PcdartsConfig, "pdarts": C.PdartsConfig}
FREE = {"none", "skip_connect", "avg_pool_3x3"}  # NAS-Bench-201's parameter-free ops


def _options(method: str, epochs: int, steps: int, seed: int) -> dict:
    common = {"epochs": epochs, "max_steps": steps, "batch_size": 64, "seed": seed}
    if method == "pcdarts":  # the paper's batch 256 and warm-up are for 50 CIFAR epochs
        return {**common, "warmup": epochs // 3, "k": 2}
    if method == "pdarts":  # two stages of N = 1, 2 cells per stage, each half the epochs
        return {**common, "epochs": max(1, epochs // 2), "warmup": max(0, epochs // 6), "stages": "1,2",
                "depth_param": "N", "keep": "3", "skip_dropout": "0.1,0.3"}
    return common


def _train(space: Space, values: dict, data, epochs: int, seed: int) -> dict:
    arch = space.realize(space.validate(values), data.input_shape)
    return get_backend("torch")().train(arch, data, {"epochs": epochs, "seed": seed}).metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10, help="supernet epochs")
    ap.add_argument("--steps", type=int, default=0, help="at most this many steps per supernet epoch (0: all)")
    ap.add_argument("--retrain", type=int, default=10, help="epochs of the retraining and of each random trial")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--quick", action="store_true", help="2 seeds, 4 epochs of 8 steps, retraining 4 epochs")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.steps, args.retrain = 2, 4, 8, 4
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = load_dataset("digits")
    space = Space.from_file(ROOT / "spaces" / "nasbench201.nas", params={"C": 8, "N": 1})
    methods = [m for m in args.methods.split(",") if m]
    found: dict[str, list[float]] = {m: [] for m in methods}
    rs: dict[str, list[float]] = {m: [] for m in methods}
    hist: dict[str, Counter] = {m: Counter() for m in methods}
    secs: dict[str, list[float]] = {m: [] for m in methods}
    for seed in range(args.seeds):
        for m in methods:
            t0 = time.perf_counter()
            torch.manual_seed(seed)
            search = METHODS[m](space, data, CONFIGS[m](**_options(m, args.epochs, args.steps, seed)))
            while not search.done:
                search.run_epoch()
            g = search.derive()
            metrics = _train(space, g, data, args.retrain, seed)
            budget = time.perf_counter() - t0
            found[m].append(metrics["test_acc"])
            secs[m].append(budget)
            hist[m].update(v for k, v in g.items() if k.startswith("nb201_cell."))
            # random search with the same wall clock: random cells trained as the retraining was
            rng = random.Random(1000 + seed)
            best, spent, n = None, 0.0, 0
            while spent < budget or best is None:
                t1 = time.perf_counter()
                r = _train(space, space.sample(rng).values, data, args.retrain, seed)
                spent += time.perf_counter() - t1
                n += 1
                if best is None or r["valid_acc"] > best["valid_acc"]:
                    best = r
            rs[m].append(best["test_acc"])
            print(f"seed {seed} {m:8s} {budget:6.1f}s  test {metrics['test_acc']:.4f}   random search ({n} cells) "
                  f"test {best['test_acc']:.4f}   cell {[g[k] for k in sorted(g)]}", flush=True)

    def ms(xs: list[float]) -> str:
        return f"{100 * statistics.mean(xs):.2f} ± {100 * (statistics.stdev(xs) if len(xs) > 1 else 0):.2f}"

    print(f"\nNAS-Bench-201 cells (C=8, N=1) on digits, {args.seeds} seeds, {args.epochs} supernet epochs, "
          f"retraining {args.retrain} epochs; test accuracy %:")
    print(f"{'method':8s}  {'found':>14s}  {'random, same time':>18s}  {'time s':>7s}  parameter-free ops  histogram")
    for m in methods:
        total = sum(hist[m].values())
        free = sum(c for o, c in hist[m].items() if o in FREE)
        print(f"{m:8s}  {ms(found[m]):>14s}  {ms(rs[m]):>18s}  {statistics.mean(secs[m]):7.1f}  "
              f"{free}/{total} ({100 * free / max(1, total):.0f}%)  {dict(hist[m].most_common())}")


if __name__ == "__main__":
    main()
