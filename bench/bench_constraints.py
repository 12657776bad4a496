"""Benchmark: checking ``where params/flops`` from the IR (``backend.cost``) against building the model.

For each reference space with PyTorch ops, in one run: 12 sampled architectures, each measured both ways,
interleaved (A B, B A, ...) so a load change hits both alike:

* ``cost``  — ``TorchBackend.cost(arch)``: every op made on the meta device (no storage) and cached by
  (op, arguments, input shape); what a search's constraint check now runs;
* ``build`` — ``backend.build(arch)`` then ``count_params`` and ``flops`` (a forward with hooks): what it
  ran before.

Prints per space the median ms of each (the first architecture, which fills the cache, shown apart), the
ratio build / cost, and whether the two figures are equal (they must be).  Last, a 12,000-channel conv
pair: its cost and the process's peak memory after it, with the build skipped (it would allocate 5.2 GB).

Run: ``.venv/bin/python bench/bench_constraints.py`` (about a minute on a 2-core machine).
"""

from __future__ import annotations

import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nasdsl import Space, primitives  # noqa: E402
from nasdsl.plugins import get_backend  # noqa: E402

SAMPLES = 12


def built(backend, arch) -> dict[str, float]:
    model = backend.build(arch)
    return {"params": float(backend.count_params(model)), "flops": float(backend.flops(model, arch.input_shape))}


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main() -> None:
    backend = get_backend("torch")()
    print(f"python {platform.python_version()}, {platform.machine()}, {SAMPLES} architectures per space")
    print(f"{'space':16} {'first cost':>10} {'cost ms':>8} {'build ms':>9} {'build/cost':>10}  equal")
    ratios = []
    for f in sorted((ROOT / "spaces").glob("*.nas")):
        space = Space.from_file(f)
        rng = random.Random(0)
        archs = [space.realize(space.sample(rng=rng)) for _ in range(SAMPLES)]
        if any(primitives.declared_by(archs[0].graph.nodes[n]["base"]) not in (None, primitives.CORE)
               for n in archs[0].ops()):
            print(f"{f.stem:16} (no PyTorch ops: skipped)")
            continue
        first, _ = timed(backend.cost, archs[0])
        cost_t, build_t, equal = [], [], True
        for i, arch in enumerate(archs[1:]):
            pair = [("cost", backend.cost), ("build", lambda a: built(backend, a))]
            res = {}
            for name, fn in (pair if i % 2 == 0 else pair[::-1]):
                dt, res[name] = timed(fn, arch)
                (cost_t if name == "cost" else build_t).append(dt)
            equal &= res["cost"] == res["build"]
        c, b = statistics.median(cost_t), statistics.median(build_t)
        ratios.append(b / c)
        print(f"{f.stem:16} {first * 1e3:10.1f} {c * 1e3:8.1f} {b * 1e3:9.1f} {b / c:10.1f}  {equal}")
    print(f"median build/cost over the spaces: {statistics.median(ratios):.1f}x")
    huge = Space.from_text("""network huge() {
    input [1, 8, 8]
    a = conv_3x3(12000) -> conv_3x3(12000)
    return global_avg_pool -> linear(10)
}
""")
    arch = huge.realize(huge.sample(rng=random.Random(0)))
    dt, out = timed(backend.cost, arch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"12,000-channel conv pair: {out['params']:.4g} params ({out['params'] * 4 / 1e9:.1f} GB of float32), "
          f"cost {dt * 1e3:.1f} ms, peak memory of this process {peak:.2f} GB (build skipped)")


if __name__ == "__main__":
    main()
