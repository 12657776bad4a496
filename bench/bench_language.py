"""Benchmark of the language layer: parse+compile, sample, realize, mutate.

Prints, for darts.nas and nasbench201.nas, the time to parse and compile the
file (median of several runs) and the throughput of sampling genotypes,
realizing them into the Architecture IR and mutating them; and, as a
side-by-side reference on the same machine in the same run, the cost of the
two library steps nasdsl cannot avoid: Lark parsing alone and building the
same networkx graph directly (no language).  Run: ``make bench`` or
``.venv/bin/python bench/bench_language.py``.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    main()
