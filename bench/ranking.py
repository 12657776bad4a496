"""How well a weight-sharing supernet ranks architectures: Kendall's tau against stand-alone training.

    python bench/ranking.py                       # every method, 30 supernet epochs each
    python bench/ranking.py --epochs 10 --methods spos,darts
    python bench/bench_oneshot.py --ranking       # the same, from the one-shot bench

The stand-alone table is ``bench/nb201_mnist1d_standalone.json`` (``bench/make_ranking_table.py``): NAS-Bench-201
cells of one small network (C = 8, N = 1) trained from scratch on half of mnist1d.  Each method trains its supernet of
that network on the same data for ``--epochs`` epochs (the weights' phase only: no search phase is run),
then scores every cell of the table:

* the sampling methods (``rsws``, ``spos``, ``fairnas``, ``enas``, ``oneshot``): the cell's accuracy on the
  architecture half with the inherited weights, after BN recalibration (``SamplingSearch.score``);
* the differentiable ones (``darts``, ``gdas``, ``snas``, ``drnas``, ``pcdarts``, ``proxyless``, ``fbnet``): their final α as a
  score, the log-probability of the cell under softmax(α) (the sum over its decisions of the chosen op's
  log-softmax; DARTS' added ``none`` is among the options normalised over, never chosen by a table cell).

Kendall's tau (scipy.stats.kendalltau, tau-b: ties in either ranking are allowed for) and Spearman's rho
between the scores and the cells' mean stand-alone validation accuracy are printed per method, with the
tau among the table's better half (the cells above the median accuracy), where the differences are small.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

TABLE = HERE / "nb201_mnist1d_standalone.json"
# Published Kendall tau, supernet against stand-alone: FairNAS (Chu et al., ICCV 2021) Fig. 1, ImageNet models of
# its own search space.  Another space, data and budget: for where the methods stand, not as a target.
PUBLISHED = {"fairnas": 0.9487, "spos": 0.6153}
SAMPLING = ("rsws", "spos", "fairnas", "enas", "oneshot")
DIFFERENTIABLE = ("darts", "gdas", "snas", "drnas", "pcdarts", "proxyless", "fbnet")


def load_table(path: Path = TABLE) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def train_and_score(method: str, table: dict[str, Any], epochs: int, seed: int = 0, **options: Any) -> dict[str, Any]:
    """Train ``method``'s supernet of the table's network for ``epochs`` and score every cell of the table."""
    from nasdsl import Space
    from nasdsl.datasets import load_dataset
    from nasdsl_plugins.oneshot.darts import METHODS
    from nasdsl_plugins.oneshot.hardware import FbnetSearch, ProxylessSearch
    from nasdsl_plugins.oneshot.ranking import ranking
    from nasdsl_plugins.oneshot.sampling import METHODS as SAMP

    space = Space.from_file(ROOT / "spaces" / table["space"], params=table["params"])
    data = load_dataset(table["data"])
    if table.get("fraction", 1.0) < 1:
        data = data.subset(table["fraction"])  # the same examples as the table (subset is seeded)
    diff = {**METHODS, "proxyless": ProxylessSearch, "fbnet": FbnetSearch}
    cls = SAMP.get(method) or diff[method]
    cfg = {"epochs": epochs, "seed": seed, **options}
    if method in ("proxyless", "fbnet"):  # a latency table timed at the start; latencies here are well under 1 ms
        cfg.setdefault("lat_unit", "us")
    if method == "pcdarts":
        cfg.setdefault("batch_size", 64)  # the paper's 256 is more than half of digits' weight half
        cfg.setdefault("warmup", min(15, epochs // 3))
    search = cls(space, data, cls.config_class(**cfg))
    t0 = time.perf_counter()
    while search.epoch < epochs:  # the weights' epochs only: a sampling method's search phase is not run
        search.run_epoch()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = ranking(search, table, "stand-alone table")  # the package's own measure, as -S ranking_table= runs it
    return {"method": method, "epochs": epochs, **r, "train_s": train_s, "score_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--methods", default=",".join(SAMPLING + DIFFERENTIABLE))
    p.add_argument("--table", type=Path, default=TABLE)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    table = load_table(args.table)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in SAMPLING + DIFFERENTIABLE]
    if unknown:
        print(f"unknown method(s): {', '.join(unknown)}; known: {', '.join(SAMPLING + DIFFERENTIABLE)}", file=sys.stderr)
        return 2
    print(f"Kendall tau against {len(table['cells'])} stand-alone cells of {table['space']} {table['params']} on "
          f"{table['data']} ({table['epochs']} epochs x {table['seeds']} seeds each); supernets {args.epochs} epochs, "
          f"seed {args.seed}, torch {torch.__version__}, {args.threads} thread(s)", flush=True)
    from nasdsl_plugins.oneshot.ranking import seed_tau

    ceiling = seed_tau(table)
    if ceiling is not None:  # how well one stand-alone training ranks the cells like another
        print(f"the table against itself: tau {ceiling:+.3f} between two seeds' accuracies (the mean over pairs of "
              "seeds): the ceiling a supernet's ranking is judged against", flush=True)
    results = []
    for m in methods:
        r = train_and_score(m, table, args.epochs, args.seed)
        results.append(r)
        pub = f"  published tau {PUBLISHED[m]:.4f} (FairNAS Fig. 1, ImageNet)" if m in PUBLISHED else ""
        print(f"{m:8s} tau {r['tau']:+.3f}  rho {r['rho']:+.3f}  tau(top half) {r['tau_top_half']:+.3f}  "
              f"train {r['train_s']:.0f} s  score {r['score_s']:.0f} s{pub}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
