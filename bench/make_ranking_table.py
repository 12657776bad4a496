"""The stand-alone table that weight-sharing rankings are measured against (``bench/nb201_digits_standalone.json``).

    python bench/make_ranking_table.py                 # 120 cells, 3 seeds each (about 6 minutes on one core)
    python bench/make_ranking_table.py --cells 20      # a smaller table, elsewhere: --out PATH
    python bench/make_ranking_table.py --cells 200 --extend bench/nb201_mnist1d_standalone.json \
        --out bench/nb201_mnist1d_200.json             # the proxies' table: the 120 cells reused, 80 more trained

Distinct NAS-Bench-201 cells (uniform, seeded; the all-``none`` cells and other disconnected ones are kept,
they are part of the space) of one small network, ``spaces/nasbench201.nas`` at C = 8, N = 1, each trained
from scratch with the PyTorch backend's recipe for ``EPOCHS`` epochs on half of mnist1d's training split, once
per seed.  The protocol is short on purpose: trained to convergence (digits at 10 epochs, mnist1d at 5) nearly
every connected cell reaches 95-98 % and two seeds of one cell differ as much as two cells do (Kendall tau
0.01 between the seeds of 120 digits cells at 10 epochs), so such a table ranks nothing; at 3 epochs on half
of mnist1d the cells spread over 67-76 % and one seed ranks them like another with tau about 0.4 (30 cells).
The table keeps, per cell, the genotype and the mean and each seed's validation and test accuracy, plus
the protocol (space, parameters, data, epochs, seeds, torch version, time).  ``bench_oneshot.py --ranking``
reads it: the Kendall tau between a supernet's scores of these cells and their mean validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SPACE = "nasbench201.nas"
PARAMS = {"C": 8, "N": 1}
DATA = "mnist1d"
FRACTION = 0.5
EPOCHS = 3
TABLE = HERE / "nb201_mnist1d_standalone.json"


def cells(space, count: int, seed: int) -> list[dict]:
    """``count`` distinct canonical genotypes, uniform over the space."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < count:
        g = space.canonical(space.sample(rng))
        key = json.dumps(g.values, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(dict(g.values))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=120)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=TABLE)
    p.add_argument("--extend", type=Path, help="a table of the same protocol whose cells are reused, not trained again")
    args = p.parse_args(argv)

    import torch

    from nasdsl import Space
    from nasdsl.datasets import load_dataset
    from nasdsl.plugins import get_backend

    torch.set_num_threads(args.threads)
    space = Space.from_file(ROOT / "spaces" / SPACE, params=PARAMS)
    data = load_dataset(DATA).subset(FRACTION)
    backend = get_backend("torch")()
    rows = []
    done: dict[str, dict] = {}
    if args.extend:
        old = json.loads(args.extend.read_text())
        for k in ("space", "params", "data", "fraction", "epochs", "seeds"):
            want = {"space": SPACE, "params": PARAMS, "data": DATA, "fraction": FRACTION, "epochs": args.epochs,
                    "seeds": args.seeds}[k]
            if old.get(k) != want:
                p.error(f"--extend {args.extend} has {k} {old.get(k)!r}, this run {want!r}")
        done = {json.dumps(r["genotype"], sort_keys=True): r for r in old["cells"]}
    t0 = time.time()
    for i, values in enumerate(cells(space, args.cells, seed=0)):
        reused = done.get(json.dumps(values, sort_keys=True))
        if reused is not None:
            rows.append(reused)
            continue
        arch = space.realize(values, data.input_shape)
        runs = [backend.train(arch, data, {"epochs": args.epochs, "seed": s}).metrics for s in range(args.seeds)]
        rows.append({"genotype": values,
                     "valid_acc": statistics.fmean(r["valid_acc"] for r in runs),
                     "test_acc": statistics.fmean(r["test_acc"] for r in runs),
                     "valid_accs": [r["valid_acc"] for r in runs], "test_accs": [r["test_acc"] for r in runs],
                     "params": runs[0]["params"]})
        print(f"{i + 1}/{args.cells}  valid_acc {rows[-1]['valid_acc']:.4f}  ({time.time() - t0:.0f} s)", flush=True)
    table = {"space": SPACE, "params": PARAMS, "data": DATA, "fraction": FRACTION, "epochs": args.epochs, "seeds": args.seeds,
             "torch": torch.__version__, "seconds": round(time.time() - t0, 1),
             "made_by": "bench/make_ranking_table.py", "cells": rows}
    if args.extend:
        table["extends"] = {"table": args.extend.name, "cells": sum(1 for r in rows if json.dumps(r["genotype"], sort_keys=True) in done),
                            "seconds": old.get("seconds")}
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    accs = [r["valid_acc"] for r in rows]
    print(f"{len(rows)} cells -> {args.out}: valid_acc min {min(accs):.4f}, median {statistics.median(accs):.4f}, "
          f"max {max(accs):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
