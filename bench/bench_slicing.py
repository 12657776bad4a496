"""Weight slicing on the CPU: a child run on slices of the supernet's weights against the same child built whole.

    python bench/bench_slicing.py            # ofa.nas at 3x32x32 (batch 16) and autoformer.nas (batch 64)
    python bench/bench_slicing.py --quick    # 1 warm-up + 3 timed steps per side
    python bench/bench_slicing.py --threads 2

For each space and each of a few random genotypes, one training step's work (forward, cross-entropy,
backward) of

* ``sliced``: the supernet with ``activate(genotype)``: every op whose arguments or input are smaller than
  the supernet's runs through ``torch.func.functional_call`` on slices of the large op's weights (views; the
  q, k, v blocks of an attention are concatenated);
* ``whole``: ``supernet.export(genotype)``, the torch backend's ordinary model with those slices copied in.

They are timed in one process, interleaved step by step after warm-up, with one torch thread by default
(see bench_oneshot.py for why); medians are reported, with sliced / whole.  Both compute the same function:
the script checks that their losses agree before it times them.  The data are random: nothing is learnt.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from nasdsl import Space  # noqa: E402
from nasdsl_plugins.torch_backend.supernet import build_supernet  # noqa: E402

CASES = {  # space file -> (params, input shape, batch)
    "ofa.nas": ({"classes": 10}, (3, 32, 32), 16),
    "autoformer.nas": ({"W": 8}, (8, 5), 64),
}


def _step(model, x, y) -> float:
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--genotypes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    steps, warm = (3, 1) if a.quick else (a.steps, 2)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {a.threads} thread(s), {warm} warm-up + {steps} timed steps per side, interleaved")
    print(f"{'space':<16}{'genotype':>9}{'params':>10}{'sliced ms':>11}{'whole ms':>10}{'sliced/whole':>14}")
    ratios = []
    for name, (params, shape, batch) in CASES.items():
        space = Space.from_file(ROOT / "spaces" / name, params=params)
        sup = build_supernet(space, shape).train()
        x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
        rng = random.Random(1)
        for i in range(a.genotypes):
            g = space.sample(rng)
            whole = sup.export(g.values).train()
            sup.activate(g.values)
            torch.manual_seed(2)
            ls = _step(sup, x, y)
            torch.manual_seed(2)
            lw = _step(whole, x, y)
            assert abs(ls - lw) < 1e-4 * max(1.0, abs(lw)), (ls, lw)  # the same function (BN in train mode)
            times = {"sliced": [], "whole": []}
            for k in range(warm + steps):
                for side, model in (("sliced", sup), ("whole", whole)):
                    t = time.perf_counter()
                    _step(model, x, y)
                    if k >= warm:
                        times[side].append(time.perf_counter() - t)
            sup.activate(None)
            s, w = statistics.median(times["sliced"]), statistics.median(times["whole"])
            ratios.append(s / w)
            n = sum(p.numel() for p in whole.parameters())
            print(f"{name:<16}{i:>9}{n:>10,}{1e3 * s:>11.1f}{1e3 * w:>10.1f}{s / w:>14.2f}")
    print(f"median sliced / whole over {len(ratios)} children: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
