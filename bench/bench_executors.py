"""Benchmark: what an executor adds to a trial, and what a second Dask worker buys, side by side in one run.

1. Per-trial overhead: a trial that does nothing (``abs``), submitted and awaited one at a time, 60
   times, on the ``inprocess``, ``local`` (a pool of 2 processes) and ``dask`` (a LocalCluster of 2
   one-thread workers on 127.0.0.1) executors; the median ms per trial (target < 20 ms for Dask).
2. Throughput on digits: the same 8 NB201 (C=4, N=1) architectures trained for one epoch (``train``
   estimator) on a LocalCluster of 1 worker, then of 2 workers, one thread each (``-X threads=1``); trials per minute
   and the ratio, counted from the first trial's end to the last's (target >= 1.8x; on a 2-core
   machine the two workers share the two cores with the driver, so the figure is bounded by the cores).

Run: ``.venv/bin/python bench/bench_executors.py`` (about two minutes on a 2-core machine).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

N_NOOP = 60
N_TRAIN = 14


def overhead(name: str) -> float:
    from nasdsl.plugins import get_executor

    ex = get_executor(name)(workers=2)
    try:
        ex.submit(abs, -1).result()  # start-up (workers spawned, connected) is not per trial
        times = []
        for i in range(N_NOOP):
            t = time.perf_counter()
            ex.submit(abs, -i).result()
            times.append(time.perf_counter() - t)
    finally:
        ex.shutdown()
    return statistics.median(times)


def throughput(workers: int) -> float:
    from nasdsl.search import Search

    with tempfile.TemporaryDirectory() as d:
        s = Search(str(ROOT / "spaces" / "nasbench201.nas"), strategy="random", estimator="train", budget=N_TRAIN,
                   store=Path(d) / "t.db", executor="dask", workers=workers, params={"C": 4, "N": 1}, seed=0,
                   estimator_options={"epochs": 1}, executor_options={"threads": 1})
        ends: list[float] = []
        try:
            s.run(on_trial=lambda rec: ends.append(time.perf_counter()))
        finally:
            s.close()
    # from the first trial's end to the last's: the workers' start (imports, data) is left out
    return (len(ends) - 1) / (ends[-1] - ends[0]) * 60


def main() -> None:
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    print("1. per-trial overhead of a trial that does nothing (median of "
          f"{N_NOOP}, one at a time):")
    for name in ("inprocess", "local", "dask"):
        print(f"   {name:10} {overhead(name) * 1e3:8.2f} ms")
    print(f"2. digits, {N_TRAIN} NB201 C=4 N=1 trials of one epoch, Dask LocalCluster of one-thread workers:")
    one = throughput(1)
    two = throughput(2)
    print(f"   1 worker  {one:6.1f} trials/min (after the first trial: start-up left out)")
    print(f"   2 workers {two:6.1f} trials/min   ratio {two / one:.2f}x")


if __name__ == "__main__":
    main()
