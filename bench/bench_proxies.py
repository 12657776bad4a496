"""Zero-cost proxies against trained accuracy: Spearman's rho of each proxy and of their vote.

    python bench/bench_proxies.py                   # the 200-cell table, one initialisation per cell
    python bench/bench_proxies.py --inits 3         # each proxy averaged over three initialisations
    python bench/bench_proxies.py --table bench/nb201_mnist1d_standalone.json

The table is ``bench/nb201_mnist1d_200.json`` (``bench/make_ranking_table.py --cells 200 --extend ...``):
200 NAS-Bench-201 cells of one small network (C = 8, N = 1), each trained from scratch 3 epochs on half of
mnist1d, 3 seeds.  Each cell's network is scored by the ``zc`` estimator (``nasdsl_plugins.proxies``: one
minibatch of 64 training examples, no training), and every proxy's ranking of the cells is compared with
their mean validation accuracy.  Two votes are shown:

* ``vote`` as the estimator gives it: the share of 32 reference architectures (uniform in the space) a cell
  beats by a majority of synflow, jacob_cov and snip;
* ``vote (pairwise)``: the same majority between every two cells of the table (Abdelfattah et al.'s vote among
  the architectures compared), a cell scored by how many others it beats.

Beside them: the published Spearman rho on NAS-Bench-201 CIFAR-10 (Abdelfattah et al., ICLR 2021) that the
issue quotes, and the time of one proxy evaluation against one trained trial of the table's protocol, both
measured here in this run.  The table's accuracies are a short protocol (3 epochs), not the benchmark's 200.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

TABLE = HERE / "nb201_mnist1d_200.json"
PUBLISHED = {"synflow": 0.74, "vote": 0.82}  # NAS-Bench-201 CIFAR-10, as the issue quotes the paper


def pairwise_vote(scores: list[dict[str, float]], names: tuple[str, ...]) -> list[float]:
    """For each architecture, how many of the others it beats by a majority of ``names`` (a tie: half)."""
    out = []
    for i, a in enumerate(scores):
        won = 0.0
        for j, b in enumerate(scores):
            if i == j:
                continue
            wins = sum(a[n] > b[n] for n in names)
            losses = sum(a[n] < b[n] for n in names)
            won += 1.0 if wins > losses else 0.5 if wins == losses else 0.0
        out.append(won)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", type=Path, default=TABLE)
    p.add_argument("--inits", type=int, default=1, help="initialisations each proxy is averaged over")
    p.add_argument("--timed", type=int, default=3, help="cells trained with the table's protocol, to time a trial")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    import torch
    from scipy.stats import kendalltau, spearmanr

    from nasdsl import Space
    from nasdsl.datasets import load_dataset
    from nasdsl.plugins import get_backend
    from nasdsl_plugins.estimators import ZeroCostEstimator
    from nasdsl_plugins.proxies import PROXIES, VOTE

    torch.set_num_threads(args.threads)
    table = json.loads(args.table.read_text())
    space = Space.from_file(ROOT / "spaces" / table["space"], params=table["params"])
    est = ZeroCostEstimator(space, table["data"], batch_size=64, reference=32)
    shape = est.input_shape()
    cells = table["cells"]
    accs = [c["valid_acc"] for c in cells]
    print(f"{len(cells)} cells of {table['space']} {table['params']} on {table['data']} ({table['epochs']} epochs x "
          f"{table['seeds']} seeds each); proxies on one minibatch of 64, {args.inits} initialisation(s), "
          f"torch {torch.__version__}, {args.threads} thread(s)")

    names = tuple(PROXIES)
    spent = dict.fromkeys(names, 0.0)
    scores: list[dict[str, float]] = []
    t_all = time.perf_counter()
    for c in cells:
        arch = space.realize(c["genotype"], shape)
        per = {n: [] for n in names}
        for s in range(args.inits):
            for n in names:  # one proxy at a time, so each is timed alone (its model build included)
                t0 = time.perf_counter()
                per[n].append(est.proxies(arch, s, (n,))[n])
                spent[n] += time.perf_counter() - t0
        scores.append({n: statistics.fmean(v) for n, v in per.items()})
    proxies_s = time.perf_counter() - t_all
    t0 = time.perf_counter()
    ref_votes = [est.vote(sc) for sc in scores]
    vote_s = time.perf_counter() - t0

    data = load_dataset(table["data"]).subset(table.get("fraction", 1.0)) if table.get("fraction", 1.0) < 1 \
        else load_dataset(table["data"])
    backend = get_backend("torch")()
    t0 = time.perf_counter()
    for c in cells[:args.timed]:
        backend.train(space.realize(c["genotype"], data.input_shape), data, {"epochs": table["epochs"], "seed": 0})
    trial_s = (time.perf_counter() - t0) / max(1, args.timed)

    rows = [(n, [sc[n] for sc in scores], spent[n] / (len(cells) * args.inits)) for n in names]
    rows.append(("vote", ref_votes, sum(spent[n] for n in VOTE) / (len(cells) * args.inits)))
    rows.append(("vote (pairwise)", pairwise_vote(scores, VOTE), sum(spent[n] for n in VOTE) / (len(cells) * args.inits)))
    print(f"\n{'proxy':16s} {'rho':>7s} {'tau':>7s} {'published rho':>13s} {'s / eval':>9s} {'x trial':>9s}")
    results = []
    for n, vals, secs in rows:
        rho, tau = spearmanr(vals, accs).statistic, kendalltau(vals, accs).statistic
        pub = PUBLISHED.get(n.split(" ")[0], None)
        print(f"{n:16s} {rho:+7.3f} {tau:+7.3f} {'' if pub is None else f'{pub:.2f}':>13s} {secs:9.4f} "
              f"{secs / trial_s:9.5f}")
        results.append({"proxy": n, "rho": rho, "tau": tau, "published_rho": pub, "seconds": secs})
    params_rho = spearmanr([c["params"] for c in cells], accs).statistic
    print(f"{'params':16s} {params_rho:+7.3f}   (the baseline a proxy must beat: the cell's parameter count)")
    print(f"\none trained trial of the table's protocol: {trial_s:.2f} s (mean of {args.timed}); all proxies of all cells "
          f"{proxies_s:.0f} s; the reference vote's 32 architectures and votes {vote_s:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"table": str(args.table), "cells": len(cells), "inits": args.inits,
                                         "trial_seconds": trial_s, "params_rho": params_rho, "results": results},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
