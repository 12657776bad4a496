"""Hardware-aware and elastic one-shot search, measured on real data (digits) on this machine.

    python bench/bench_hardware.py                  # both parts (about 10 minutes on 2 CPU cores)
    python bench/bench_hardware.py --part latency   # ProxylessNAS and FBNet against random search under the bound
    python bench/bench_hardware.py --part ofa       # OFA sub-networks: inherited weights against retrained
    python bench/bench_hardware.py --part latency --epochs 30 --retrain 20 --random 20 --seeds 0,1,2

**latency.**  One latency table of ``spaces/proxyless.nas`` (classes = 10) at digits' input is timed first
(1 thread).  ProxylessNAS and FBNet each search ``--epochs`` epochs on it; the genotype each finds is
retrained ``--retrain`` epochs, and its predicted and measured latency are taken.  The baseline is random
search under the same bound: of 100 x ``--random`` uniform architectures, the first ``--random`` whose
predicted latency is at most the found one's, each trained the same way; its best is printed beside the
found architecture (accuracy, predicted and measured latency).  When none is that fast, the ``--random``
fastest of the draws are the baseline instead (all slower than the found one), and the row's n is 0.

**ofa.**  OFA's progressive shrinking of ``spaces/ofa.nas`` (classes = 10) with ``--epochs`` epochs per phase,
then its evolution.  The best sub-network found and ``--subnets`` − 1 random ones are each scored on the
validation split with the shared weights after BN recalibration (no retraining), and trained from scratch for
``--retrain`` epochs; the two accuracies of each, and the Kendall tau between the two rankings, are printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))


def _train(backend: Any, space: Any, values: dict, data: Any, epochs: int, seed: int = 0) -> tuple[float, Any]:
    arch = space.realize(values, data.input_shape)
    r = backend.train(arch, data, {"epochs": epochs, "seed": seed})
    return float(r.metrics["valid_acc"]), r.model


def latency_part(args: argparse.Namespace) -> None:
    from nasdsl import Space
    from nasdsl.datasets import load_dataset
    from nasdsl.latency import predict, save_table
    from nasdsl.plugins import get_backend
    from nasdsl_plugins.oneshot.config import FbnetConfig, ProxylessConfig
    from nasdsl_plugins.oneshot.hardware import FbnetSearch, ProxylessSearch

    data = load_dataset("digits")
    space = Space.from_file(ROOT / "spaces" / "proxyless.nas", params={"classes": 10})
    backend = get_backend("torch")()
    t0 = time.perf_counter()
    table = backend.latency_table(space, data.input_shape, repeats=20, warmup=3)
    path = save_table(table, Path(tempfile.mkdtemp()) / "proxyless-latency.json")
    print(f"latency table: {len(table['ops'])} ops at {table['input_shape']}, {time.perf_counter() - t0:.1f} s")

    def measured(model: Any) -> float:
        return backend.latency(model, data.input_shape, repeats=20, warmup=3)[0]

    rows = []
    methods = tuple(m for m in (("ProxylessNAS", ProxylessSearch, ProxylessConfig), ("FBNet", FbnetSearch, FbnetConfig))
                    if m[0].lower().startswith(tuple(args.methods)))
    for seed, (name, cls, cfg) in ((s, m) for s in args.seeds for m in methods):
        t0 = time.perf_counter()
        search = cls(space, data, cfg(epochs=args.epochs, latency_table=str(path), lat_unit="us", warmup=0,
                                      batch_size=32, seed=seed))
        search.run()
        found = search.derive()
        bound = predict(table, space.realize(found, data.input_shape))
        acc, model = _train(backend, space, found, data, args.retrain, seed)
        search_s = time.perf_counter() - t0
        rng = random.Random(seed)
        draws = []  # 100 x --random uniform architectures
        for _ in range(100 * args.random):
            g = space.sample(rng).values
            draws.append((predict(table, space.realize(g, data.input_shape)), g))
        under = [d for d in draws if d[0] <= bound][:args.random]  # the first drawn: uniform under the bound
        pool = under if under else sorted(draws, key=lambda d: d[0])[:args.random]  # none as fast: the fastest
        best = None
        for lat, g in pool:
            a, m = _train(backend, space, g, data, args.retrain, seed)
            if best is None or a > best[0]:
                best = (a, lat, measured(m))
        kept = len(under)
        rows.append((name, seed, acc, bound, measured(model), best, kept, search_s))
        if not under:
            print(f"{name}: none of {len(draws)} uniform architectures is under its predicted {bound:.3f} ms; the "
                  f"{len(pool)} fastest of them ({pool[0][0]:.3f}-{pool[-1][0]:.3f} ms) are the baseline instead")
        print(f"{name} seed {seed}: {acc:.4f} at {bound:.3f} ms predicted, {rows[-1][4]:.3f} measured; best of {kept} "
              f"random under it: {'-' if best is None else f'{best[0]:.4f} at {best[1]:.3f} / {best[2]:.3f} ms'} "
              f"({search_s:.0f} s)", flush=True)
    print(f"\n{'method':14s} {'seed':>4s} {'valid_acc':>9s} {'pred ms':>8s} {'meas ms':>8s} | random under the bound: "
          f"{'best acc':>8s} {'pred ms':>8s} {'meas ms':>8s} {'n':>3s} | search+retrain s")
    for name, seed, acc, bound, meas, best, kept, secs in rows:
        b = ("-", "-", "-") if best is None else (f"{best[0]:.4f}", f"{best[1]:.3f}", f"{best[2]:.3f}")
        print(f"{name:14s} {seed:4d} {acc:9.4f} {bound:8.3f} {meas:8.3f} | {'':24s}{b[0]:>8s} {b[1]:>8s} {b[2]:>8s} "
              f"{kept:3d} | {secs:.0f}")
    if len(args.seeds) > 1:
        print(f"\n{'mean over seeds':14s} {'valid_acc':>9s} {'pred ms':>8s} | {'random best':>11s} {'pred ms':>8s}")
        for name, _, _ in methods:
            mine = [r for r in rows if r[0] == name]
            found_acc = statistics.mean(r[2] for r in mine)
            found_ms = statistics.mean(r[3] for r in mine)
            bests = [r[5] for r in mine if r[5] is not None]
            rb = f"{statistics.mean(b[0] for b in bests):11.4f} {statistics.mean(b[1] for b in bests):8.3f}" if bests else ""
            print(f"{name:14s} {found_acc:9.4f} {found_ms:8.3f} | {rb}")


def ofa_part(args: argparse.Namespace) -> None:
    import torch
    from scipy.stats import kendalltau

    from nasdsl import Space
    from nasdsl.datasets import load_dataset
    from nasdsl.plugins import get_backend
    from nasdsl_plugins.oneshot.config import OfaConfig
    from nasdsl_plugins.oneshot.ofa import OfaSearch
    from nasdsl_plugins.oneshot.sampling import recalibrate_bn

    data = load_dataset("digits")
    space = Space.from_file(ROOT / "spaces" / "ofa.nas", params={"classes": 10})
    backend = get_backend("torch")()
    e = args.epochs
    t0 = time.perf_counter()
    search = OfaSearch(space, data, OfaConfig(epochs=e, kernel_epochs=e, depth_epochs=e, width_epochs=e, batch_size=32,
                                              population=10, parents=4, mutations=4, crossovers=4, generations=2,
                                              bn_batches=10))
    search.run()
    print(f"OFA: {search.train_epochs} epochs of progressive shrinking and 2 generations, {time.perf_counter() - t0:.0f} s")
    subnets = [search.derive()] + [search.uniform() for _ in range(args.subnets - 1)]
    xv, yv = (torch.as_tensor(data.x_valid), torch.as_tensor(data.y_valid))
    inherited, retrained = [], []
    sup = search.supernet
    for values in subnets:
        sup.activate(values)
        recalibrate_bn(sup, search.bn_batches())
        inherited.append(search._accuracy(xv, yv))
        sup.activate(None)
        retrained.append(_train(backend, space, values, data, args.retrain)[0])
    print(f"\n{'sub-network':12s} {'inherited':>9s} {'retrained':>9s}")
    for i, (a, b) in enumerate(zip(inherited, retrained)):
        print(f"{'found' if i == 0 else f'random {i}':12s} {a:9.4f} {b:9.4f}")
    print(f"Kendall tau between the two rankings: {kendalltau(inherited, retrained).statistic:+.3f} "
          f"({len(subnets)} sub-networks; retrained {args.retrain} epochs from scratch)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["latency", "ofa", "all"], default="all")
    p.add_argument("--epochs", type=int, default=5, help="search epochs (OFA: per phase)")
    p.add_argument("--retrain", type=int, default=5, help="epochs of each stand-alone training")
    p.add_argument("--random", type=int, default=10, help="random architectures under the latency bound")
    p.add_argument("--subnets", type=int, default=6, help="OFA sub-networks compared")
    p.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0],
                   help="comma-separated seeds of the latency part's searches, trainings and random draws")
    p.add_argument("--methods", type=lambda v: [m.strip().lower() for m in v.split(",")], default=["proxyless", "fbnet"],
                   help="the latency part's methods: proxyless, fbnet")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), digits")
    if args.part in ("latency", "all"):
        latency_part(args)
    if args.part in ("ofa", "all"):
        ofa_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
