"""Benchmark of the language layer: parse+compile, sample, realize, mutate, hash, evolution proposals.

Prints, for darts.nas and nasbench201.nas, the time to parse and compile the
file (median of several runs) and the throughput of sampling genotypes,
realizing them into the Architecture IR and mutating them; and, as a
side-by-side reference on the same machine in the same run, the cost of the
two library steps nasdsl cannot avoid: Lark parsing alone and building the
same networkx graph directly (no language).

Then, side by side in one run, realization and canonical hashing *before* and
*after* the supernet IR: "walk" is the realize reading (the language walked for
every genotype, then linted: what ``Space.realize`` did before), "select" is
``Space.realize`` now (the genotype's options selected in the precompiled
supernet IR).  And regularized-evolution proposals per second (the built-in
``evolution`` strategy's ask + tell, de-duplication by canonical hash included,
told a synthetic score so no training runs) with each path, against PyGlove
0.4.5's rates measured on this machine by an earlier session (recorded, not
rerun: PyGlove is not a dependency).  Run: ``make bench`` or
``.venv/bin/python bench/bench_language.py``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nasdsl import Space  # noqa: E402
from nasdsl.grammar import parser  # noqa: E402
from nasdsl.strategy import Result  # noqa: E402

# PyGlove 0.4.5, regularized evolution proposals per second on the same spaces (issue #8's measurement)
PYGLOVE_EVOLUTION = {"darts.nas": 21.0, "nasbench201.nas": 110.0}
TARGET_EVOLUTION = {"darts.nas": 420.0, "nasbench201.nas": 2200.0}  # 20x PyGlove


def timeit(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rate(fn, seconds: float = 1.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def copy_graph(arch) -> nx.DiGraph:
    """The reference: add the same nodes and edges to a fresh networkx graph, with no language at all."""
    g = nx.DiGraph()
    for n, a in arch.graph.nodes(data=True):
        g.add_node(n, **a)
    for u, v, a in arch.graph.edges(data=True):
        g.add_edge(u, v, **a)
    return g


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    parser()  # the grammar is built once per process; not part of a file's compile time
    print(f"{'space':<18}{'parse+compile':>15}{'lark parse':>12}{'sample/s':>11}{'realize/s':>11}"
          f"{'nx copy/s':>11}{'realize/copy':>14}{'mutate/s':>11}{'hash/s':>9}")
    for name in ("darts.nas", "nasbench201.nas"):
        path = ROOT / "spaces" / name
        text = path.read_text()
        compile_s = timeit(lambda: Space.from_file(path))
        parse_s = timeit(lambda: parser().parse(text))
        space = Space.from_file(path)
        rng = random.Random(0)
        genos = [space.sample(rng) for _ in range(64)]
        it = iter(range(10 ** 9))
        sample_r = rate(lambda: space.sample(rng))
        realize_r = rate(lambda: space.realize(genos[next(it) % 64]))
        arch = space.realize(genos[0])
        copy_r = rate(lambda: copy_graph(arch))
        mutate_r = rate(lambda: space.mutate(genos[next(it) % 64], rng))
        hash_r = rate(lambda: space.canonical_hash(genos[next(it) % 64]))
        print(f"{name:<18}{compile_s * 1e3:>12.1f} ms{parse_s * 1e3:>9.1f} ms{sample_r:>11.0f}{realize_r:>11.0f}"
              f"{copy_r:>11.0f}{realize_r / copy_r:>14.3f}{mutate_r:>11.0f}{hash_r:>9.0f}")
    print("realize/copy: realizations per second relative to merely copying the realized graph in networkx")
    print()
    compare()


def walk_hash(space: Space, g) -> str:
    """The canonical hash as it was computed before the supernet IR: walk, lint, hash the graph."""
    arch = space.realize_walk(g)
    hp = json.dumps(arch.hyperparameters, sort_keys=True)
    return hashlib.sha256((arch.canonical_hash() + hp).encode()).hexdigest()[:32]


def evolution_rate(space: Space, seconds: float = 2.0) -> float:
    """Proposals per second of the built-in regularized evolution (ask + tell, no training)."""
    from nasdsl.plugins import get_strategy

    strat = get_strategy("evolution")(space, seed=0)
    rng = random.Random(1)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        g = strat.ask()
        strat.tell(g, Result(value=rng.random()))
        n += 1
    return n / (time.perf_counter() - t0)


def compare() -> None:
    print(f"{'space':<18}{'realize walk/s':>15}{'select/s':>10}{'x':>7}{'hash walk/s':>13}{'hash/s':>9}{'x':>7}"
          f"{'evo walk/s':>12}{'evo/s':>8}{'pyglove':>9}{'x pyglove':>11}{'target':>8}")
    for name in ("darts.nas", "nasbench201.nas"):
        path = ROOT / "spaces" / name
        space = Space.from_file(path)
        t0 = time.perf_counter()
        space.supernet()
        build = time.perf_counter() - t0
        rng = random.Random(0)
        genos = [space.sample(rng) for _ in range(64)]
        it = iter(range(10 ** 9))
        walk_r = rate(lambda: space.realize_walk(genos[next(it) % 64]))
        sel_r = rate(lambda: space.realize(genos[next(it) % 64]))
        hwalk_r = rate(lambda: walk_hash(space, genos[next(it) % 64]))
        hash_r = rate(lambda: space.canonical_hash(genos[next(it) % 64]))
        old = Space.from_file(path)
        old.canonical_hash = lambda g, s=old: walk_hash(s, g)  # the strategy de-duplicates through this
        evo_walk = evolution_rate(old)
        evo = statistics.median(evolution_rate(space, 1.5) for _ in range(5))  # this VM's speed drifts
        pg = PYGLOVE_EVOLUTION[name]
        print(f"{name:<18}{walk_r:>15.0f}{sel_r:>10.0f}{sel_r / walk_r:>7.1f}{hwalk_r:>13.0f}{hash_r:>9.0f}"
              f"{hash_r / hwalk_r:>7.1f}{evo_walk:>12.0f}{evo:>8.0f}{pg:>9.0f}{evo / pg:>11.1f}"
              f"{'met' if evo >= TARGET_EVOLUTION[name] else 'NOT met':>8}")
        print(f"{'':<18}supernet IR: {len(space.supernet())} nodes, built once in {build * 1e3:.0f} ms")
    print("walk: the realize reading + lint (Space.realize before the supernet IR); select: Space.realize now;")
    print("evo: regularized evolution ask+tell per second (median of five 1.5 s runs); pyglove: PyGlove 0.4.5 on this machine (recorded); "
          "target: 20x PyGlove")


if __name__ == "__main__":
    main()
