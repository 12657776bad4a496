"""Benchmark: the restructured search loop (``nasdsl/search/``) against the one-file loop it replaced.

The reference is ``nasdsl/search.py`` as it stood at ``REFERENCE`` (read with ``git show``, loaded as a
module of the installed ``nasdsl``, so both loops use the same store, strategies and estimators).  Both
run the same searches side by side in one process, interleaved over ``ROUNDS`` rounds:

1. ``inprocess``: 150 trials of the ``cost`` estimator (no training: parameters and FLOPs), so what is
   timed is the loop itself — ask, de-duplicate, payload, run_trial, store, tell — per trial;
2. ``local`` with 2 workers: 40 such trials through the process pool (pickling, futures, recovery).

It prints the median seconds per trial of each and the ratio new / reference (below 1: faster).

Run: ``.venv/bin/python bench/bench_loop.py`` (about two minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

REFERENCE = "02188ec"  # the last commit with the one-file loop
ROUNDS = 3
SPACE = str(ROOT / "spaces" / "nasbench201.nas")


def reference_module(rev: str):
    text = subprocess.run(["git", "show", f"{rev}:nasdsl/search.py"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    text = re.sub(r"^(\s*)from \.(\w*) import", lambda m: f"{m[1]}from nasdsl{'.' + m[2] if m[2] else ''} import",
                  text, flags=re.M)  # a top-level module, so the pool's spawned workers import it by name too
    folder = Path(tempfile.mkdtemp())
    (folder / "search_reference.py").write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module("search_reference")


def per_trial(search_cls, executor: str, workers: int, budget: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        s = search_cls(SPACE, strategy="random", estimator="cost", budget=budget, store=Path(d) / "b.db",
                       executor=executor, workers=workers, params={"C": 4, "N": 1}, seed=seed)
        try:
            t = time.perf_counter()
            result = s.run()
            elapsed = time.perf_counter() - t
        finally:
            s.close()
    assert result.counts["completed"] == budget, result.counts
    return elapsed / budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", default=REFERENCE)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    args = ap.parse_args()
    import nasdsl.search as new

    old = reference_module(args.reference)
    cases = [("inprocess", 1, 150), ("local", 2, 40)]
    print(f"search loop: nasdsl/search/ (new) against nasdsl/search.py at {args.reference} (reference); "
          f"{args.rounds} interleaved rounds, cost estimator on NB201 C=4 N=1")
    print(f"{'executor':10s} {'trials':>6s} {'new ms/trial':>13s} {'ref ms/trial':>13s} {'new/ref':>8s}")
    for executor, workers, budget in cases:
        times: dict[str, list[float]] = {"new": [], "ref": []}
        for r in range(args.rounds):
            for label, cls in (("new", new.Search), ("ref", old.Search)) if r % 2 == 0 else \
                    (("ref", old.Search), ("new", new.Search)):
                times[label].append(per_trial(cls, executor, workers, budget, seed=r))
        n, o = statistics.median(times["new"]), statistics.median(times["ref"])
        print(f"{executor:10s} {budget:6d} {n * 1e3:13.2f} {o * 1e3:13.2f} {n / o:8.3f}")


if __name__ == "__main__":
    main()
