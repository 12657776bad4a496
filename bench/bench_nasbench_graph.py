"""Benchmark of the built-in search strategies on NAS-Bench-Graph, side by side with two peers.

Every built-in strategy (``random``, ``grid``, ``evolution``, ``reinforce``,
``tpe``, ``local``, ``bananas``, ``bohb`` -- on a table without fidelities, TPE
fitted on every trial with a third of the proposals uniform -- each with its default options unless
``--option`` says otherwise) and, as the peer a user would pick, optuna's
``TPESampler`` used directly (``optuna-tpe``: ``TPESampler(seed=seed)`` with
optuna's defaults -- since optuna 5 that is the multivariate TPE for a single
objective -- in a plain study.ask()/tell() loop, one categorical per decision:
the 4 input choices over their candidate names and the 4 op choices) search the
tabular NAS-Bench-Graph space (``spaces/nasbench_graph.nas``) under the same
rules:

* the objective told is the table's ``valid_acc``;
* a proposal whose canonical hash (``Strategy.hash`` = ``space.canonical_hash``,
  the same function for the optuna peer) was already evaluated in this run is
  answered from the run's cache (the cached result is told) and does not count
  against the budget; a run stops after ``--cap`` proposals (reported);
* the 24 all-skip genotypes have no record: such a trial is told
  ``Result(None, {}, "failed")`` and counts against the budget.

Each (strategy, dataset, seed) runs once to the largest budget; the smaller
budgets are read from the prefix of the same run.  Datasets: the 8
node-classification tables (all but proteins); 20 seeds (0..19) by default.

Printed per strategy and budget (percentage points): validation regret = the
table's best valid_acc - the run's best valid_acc; test regret = the table's
best test_acc - the test_acc of the run's best-by-validation trial (the first
one reaching the run's best valid_acc).  Mean over datasets; the standard error
is over seeds: per seed s the mean over datasets, then mean and SE
(sample std / sqrt(n_seeds)) over seeds.  The verdict compares strategies
paired by seed the same way.  Overhead = wall time inside ask() + tell() per
100 proposals (table lookups and the harness's cache checks excluded).

Run: ``.venv/bin/python bench/bench_nasbench_graph.py`` (about 6 minutes on
2 cores), ``--quick`` for 2 datasets x 3 seeds; ``--option evolution:tournament=10``
(repeatable) runs a strategy with other options, recorded in the results.  Raw results:
``bench/results/nasbench_graph.json`` (``nasbench_graph_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

SPACE_FILE = ROOT / "spaces" / "nasbench_graph.nas"
RESULTS = HERE / "results" / "nasbench_graph.json"

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")
BUILTINS = ("random", "grid", "evolution", "reinforce", "tpe", "local", "bananas", "bohb")
PEER_OPTUNA = "optuna-tpe"
PEER_RANDOM = "random"
STRATEGIES = BUILTINS + (PEER_OPTUNA,)
BUDGETS = (20, 50, 100)
CAP = 5000
# slowest first, so the pool's tail is short
_COST = {"bananas": 0, "bohb": 1, "reinforce": 2, PEER_OPTUNA: 3, "tpe": 4, "local": 5, "grid": 6, "evolution": 7,
         "random": 8}


# ---------------------------------------------------------------- the optuna peer
class OptunaTPEPeer:
    """optuna's TPESampler used directly: one categorical per decision, study.ask()/tell()."""

    name = PEER_OPTUNA

    def __init__(self, space: Any, seed: int = 0):
        import optuna
        from nasdsl.decisions import InputChoice, OpChoice
        from nasdsl.strategy import Strategy

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.space = space
        self.study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        self.choices: list[tuple[str, bool, list[str]]] = []  # (decision, is an input choice, choices)
        for d in space.decisions.values():
            if isinstance(d, InputChoice):
                assert d.k == 1, d
                self.choices.append((d.name, True, list(d.candidates)))
            elif isinstance(d, OpChoice):
                self.choices.append((d.name, False, list(d.options)))
            else:  # pragma: no cover - the NAS-Bench-Graph space has no other decisions
                raise TypeError(f"unexpected decision {d!r}")
        self._hasher = Strategy(space, seed)  # the same canonical-hash function the built-ins use
        self._trial = None

    def hash(self, genotype: Any) -> str:
        return self._hasher.hash(genotype)

    def ask(self) -> Any:
        from nasdsl import Genotype

        self._trial = trial = self.study.ask()
        values: dict[str, Any] = {}
        for name, is_input, choices in self.choices:
            v = trial.suggest_categorical(name, choices)
            values[name] = [v] if is_input else v
        return Genotype(space=self.space.name, values=values)

    def tell(self, genotype: Any, result: Any) -> None:
        if result.value is not None:
            self.study.tell(self._trial, float(result.value))
        else:
            self.study.tell(self._trial, state=self._optuna.trial.TrialState.FAIL)
        self._trial = None


# ---------------------------------------------------------------- one run (in a worker)
_SPACE = None


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    except ImportError:  # pragma: no cover - only reinforce needs torch
        pass


def _space():
    global _SPACE
    if _SPACE is None:
        from nasdsl import Space

        _SPACE = Space.from_file(str(SPACE_FILE))
    return _SPACE


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 7)


def run_job(strategy: str, dataset: str, seed: int, budget: int, cap: int,
            options: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Search one dataset's table to ``budget`` counted trials; return the raw trace."""
    from nasdsl.plugins import get_strategy
    from nasdsl.strategy import Result
    from nasdsl_plugins.nasbench_graph import NasBenchGraphError, load_table

    space = _space()
    table = load_table(dataset)
    t_start = time.perf_counter()
    if strategy == PEER_OPTUNA:
        strat = OptunaTPEPeer(space, seed=seed)
    else:
        strat = get_strategy(strategy)(space, seed=seed, **(options or {}))
    t_built = time.perf_counter()

    cache: dict[str, Any] = {}
    valid: list[Optional[float]] = []
    test: list[Optional[float]] = []
    keys: list[Optional[int]] = []
    proposals = cached = failed = 0
    overhead = cpu = hash_s = lookup_s = 0.0
    pc, ct = time.perf_counter, time.process_time
    while len(valid) < budget and proposals < cap:
        # each timed segment has its own perf_counter pair; the process_time calls (a system call, where
        # a loaded machine may switch away) sit outside every pair
        c0 = ct()
        t0 = pc()
        g = strat.ask()
        t1 = pc()
        c1 = ct()
        t2 = pc()
        h = strat.hash(g)
        proposals += 1
        res = cache.get(h)
        t3 = pc()
        if res is not None:
            cached += 1
        else:
            try:
                rec = table.query(g)
            except NasBenchGraphError:
                res = Result(None, {}, "failed")
                failed += 1
                valid.append(None)
                test.append(None)
                keys.append(None)
            else:
                res = Result(rec["valid_acc"], rec, "completed")
                valid.append(rec["valid_acc"])
                test.append(rec["test_acc"])
                keys.append(table.key(g))
            cache[h] = res
        t4 = pc()
        c4 = ct()
        t5 = pc()
        strat.tell(g, res)
        t6 = pc()
        c6 = ct()
        overhead += (t1 - t0) + (t6 - t5)
        cpu += (c1 - c0) + (c6 - c4)
        hash_s += t3 - t2
        lookup_s += t4 - t3
    return {
        "strategy": strategy, "dataset": dataset, "seed": seed,
        "counted": len(valid), "proposals": proposals, "cached": cached, "failed": failed,
        "cap_hit": len(valid) < budget,
        "overhead_s": overhead, "overhead_cpu_s": cpu, "hash_s": hash_s,
        "optuna_trials": len(strat.study.trials) if hasattr(strat, "study") else None, "lookup_s": lookup_s,
        "build_s": t_built - t_start, "wall_s": pc() - t_start,
        "valid": [_r(v) for v in valid], "test": [_r(v) for v in test], "keys": keys,
    }


# ---------------------------------------------------------------- analysis
def regrets(run: dict[str, Any], budget: int, ref: dict[str, float]) -> tuple[float, float]:
    """(validation regret, test regret) in percentage points after the first ``budget`` counted trials."""
    vs = run["valid"][:budget]
    ts = run["test"][:budget]
    ok = [i for i, v in enumerate(vs) if v is not None]
    if not ok:  # every trial failed: nothing found
        return 100.0 * ref["best_valid"], 100.0 * ref["best_test"]
    best = max(vs[i] for i in ok)
    first = next(i for i in ok if vs[i] == best)
    return 100.0 * (ref["best_valid"] - best), 100.0 * (ref["best_test"] - ts[first])


def mean_se(xs: list[float]) -> tuple[float, float]:
    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return m, se


def per_seed(table: dict[tuple[str, int], float], datasets: list[str], seeds: list[int]) -> list[float]:
    """Per seed, the mean over datasets."""
    return [statistics.fmean(table[(d, s)] for d in datasets) for s in seeds]


def fmt(m: float, se: float) -> str:
    return f"{m:6.2f} ± {se:4.2f}"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 datasets (cora, citeseer), 3 seeds")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds, from --first-seed on (default 20)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds start here (default 0); e.g. 100 for held-out seeds when choosing options")
    ap.add_argument("--datasets", default=None, help="comma-separated datasets (default: the 8 but proteins)")
    ap.add_argument("--strategies", default=None,
                    help=f"comma-separated, of {', '.join(STRATEGIES)} (default: all)")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="comma-separated (default 20,50,100)")
    ap.add_argument("--cap", type=int, default=CAP, help=f"proposals per run at most (default {CAP})")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--option", action="append", default=[], metavar="STRATEGY:KEY=VALUE",
                    help="a built-in strategy's option, e.g. evolution:tournament=10 (repeatable)")
    ap.add_argument("--out", default=None,
                    help=f"JSON of the raw results (default {RESULTS.relative_to(ROOT)}; with --quick, *_quick.json)")
    args = ap.parse_args(argv)

    datasets = list(DATASETS[:2] if args.quick else DATASETS)
    if args.datasets:
        datasets = [d.strip().lower() for d in args.datasets.split(",") if d.strip()]
    n_seeds = args.seeds if args.seeds is not None else (3 if args.quick else 20)
    if n_seeds < 2:
        ap.error(f"--seeds must be at least 2 (standard errors over seeds), got {n_seeds}")
    seeds = list(range(args.first_seed, args.first_seed + n_seeds))
    strategies = list(STRATEGIES)
    if args.strategies:
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        ap.error(f"unknown strategies {', '.join(bad)}; choose from {', '.join(STRATEGIES)}")
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    budget = budgets[-1]

    from nasdsl_plugins.nasbench_graph import DATASETS as ALL

    bad = [d for d in datasets if d not in ALL or d == "proteins"]
    if bad:
        ap.error(f"unknown or unsupported datasets {', '.join(bad)}; choose from {', '.join(DATASETS)}")

    from nasdsl_plugins.nasbench_graph import load_table

    refs: dict[str, dict[str, float]] = {}
    for d in datasets:
        t = load_table(d)
        refs[d] = {"best_valid": t.best_valid(), "best_test": t.best_test(),
                   "test_of_best_valid": t.test_of_best_valid(), "records": len(t)}

    options: dict[str, dict[str, Any]] = {}
    for spec in args.option:
        name, _, kv = spec.partition(":")
        key, eq, val = kv.partition("=")
        if not (name and key and eq) or name not in strategies or name == PEER_OPTUNA:
            ap.error(f"--option {spec!r}: expected STRATEGY:KEY=VALUE for a built-in strategy in this run")
        options.setdefault(name, {})[key] = val
    defaults: dict[str, Any] = {}
    from nasdsl.plugins import get_strategy

    for s in strategies:
        if s != PEER_OPTUNA:
            try:  # the strategy coerces and checks its options; show what it will run with
                defaults[s] = dict(get_strategy(s)(_space(), seed=0, **options.get(s, {})).config)
            except ValueError as e:
                ap.error(str(e))
    if PEER_OPTUNA in strategies:
        defaults[PEER_OPTUNA] = {"sampler": "optuna.samplers.TPESampler(seed=seed)", "n_startup_trials": 10}

    jobs = [(s, d, seed) for s in strategies for d in datasets for seed in seeds]
    jobs.sort(key=lambda j: _COST.get(j[0], 9))
    print(f"NAS-Bench-Graph strategy benchmark: {len(strategies)} strategies x {len(datasets)} datasets x "
          f"{len(seeds)} seeds = {len(jobs)} runs to budget {budget} (cap {args.cap} proposals), "
          f"{args.workers} worker(s); python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; optuna {_version('optuna')}, scikit-learn {_version('scikit-learn')}", flush=True)
    for name, opts in options.items():
        print(f"options of {name} (others at their defaults): "
              + ", ".join(f"{k}={defaults[name][k]}" for k in opts), flush=True)

    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    step = max(1, len(jobs) // 20)
    if args.workers <= 1:
        _worker_init()
        for i, j in enumerate(jobs, 1):
            runs.append(run_job(*j, budget, args.cap, options.get(j[0])))
            if i % step == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    else:
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx, initializer=_worker_init) as ex:
            futs = [ex.submit(run_job, *j, budget, args.cap, options.get(j[0])) for j in jobs]
            for i, f in enumerate(cf.as_completed(futs), 1):
                runs.append(f.result())
                if i % step == 0 or i == len(jobs):
                    print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0

    by = {(r["strategy"], r["dataset"], r["seed"]): r for r in runs}
    # regret[(strategy, budget, metric)][(dataset, seed)]
    reg: dict[tuple[str, int, str], dict[tuple[str, int], float]] = {}
    for s in strategies:
        for b in budgets:
            rv, rt = {}, {}
            for d in datasets:
                for seed in seeds:
                    v, t = regrets(by[(s, d, seed)], b, refs[d])
                    rv[(d, seed)], rt[(d, seed)] = v, t
            reg[(s, b, "valid")], reg[(s, b, "test")] = rv, rt

    # ------------------------------------------------------------ report
    ref_gap = statistics.fmean(100.0 * (refs[d]["best_test"] - refs[d]["test_of_best_valid"]) for d in datasets)
    print()
    print(f"datasets: {', '.join(datasets)}; seeds {seeds[0]}..{seeds[-1]}; objective told: valid_acc")
    print("regret in percentage points, mean over datasets ± SE.  SE method: per seed s, the mean over the "
          f"{len(datasets)} datasets of the per-run regret; then mean and standard error (sample std / sqrt(n)) "
          f"over the {n_seeds} seeds.")
    print("validation regret = table best valid_acc - run's best valid_acc; test regret = table best test_acc - "
          "test_acc of the run's best-by-validation trial (first trial reaching the run's best valid_acc).")
    print("duplicates (same canonical hash) are answered from the run's cache and do not count; all-skip "
          "genotypes (no record) count as failed trials.")
    print(f"reference: test regret of the table's best-by-validation architecture (a perfect search on "
          f"valid_acc), mean over datasets = {ref_gap:.2f} points")
    print()
    header = f"{'strategy':<12}" + "".join(f"{'val regret @' + str(b):>17}{'test regret @' + str(b):>17}"
                                           for b in budgets)
    header += f"{'ms/100 prop':>13}{'cpu ms':>8}{'(hash ms)':>10}{'prop/run':>10}{'cached%':>9}{'fail/run':>9}{'uniq rec':>9}{'cap hits':>9}"
    print(header)
    print("-" * len(header))
    summary: dict[str, Any] = {}
    for s in strategies:
        row = f"{s:<12}"
        srow: dict[str, Any] = {}
        for b in budgets:
            mv = mean_se(per_seed(reg[(s, b, "valid")], datasets, seeds))
            mt = mean_se(per_seed(reg[(s, b, "test")], datasets, seeds))
            row += f"{fmt(*mv):>17}{fmt(*mt):>17}"
            srow[str(b)] = {"valid_regret": mv, "test_regret": mt}
        rs = [by[(s, d, seed)] for d in datasets for seed in seeds]
        props = sum(r["proposals"] for r in rs)
        ms = 1e5 * sum(r["overhead_s"] for r in rs) / props
        hms = 1e5 * sum(r["hash_s"] for r in rs) / props
        cms = 1e5 * sum(r["overhead_cpu_s"] for r in rs) / props
        cached = 100.0 * sum(r["cached"] for r in rs) / props
        fails = statistics.fmean(r["failed"] for r in rs)
        uniq = statistics.fmean(len({k for k in r["keys"] if k is not None}) for r in rs)
        caps = sum(r["cap_hit"] for r in rs)
        row += (f"{ms:13.1f}{cms:8.1f}{hms:10.1f}{props / len(rs):10.1f}{cached:9.1f}{fails:9.2f}{uniq:9.1f}{caps:9d}")
        if rs[0].get("optuna_trials") is not None:
            srow["optuna_trials_per_run"] = statistics.fmean(r["optuna_trials"] for r in rs)
        srow.update({"overhead_ms_per_100": ms, "overhead_cpu_ms_per_100": cms, "harness_hash_ms_per_100": hms, "proposals_per_run": props / len(rs),
                     "cached_pct": cached, "failed_per_run": fails, "unique_records_per_run": uniq, "cap_hits": caps})
        summary[s] = srow
        print(row)
    print()
    print("ms/100 prop: wall time inside ask()+tell() per 100 proposals (cached ones included), table lookups "
          "excluded; cpu ms: the same as process CPU time (robust to other load on the machine); (hash ms): the harness's canonical-hash cache check, outside ask/tell (the built-ins have "
          "hashed inside ask, so theirs is a cache hit; for optuna-tpe it is the first hash).  uniq rec: distinct "
          f"benchmark records among the {budget} counted trials.")
    inner = {s: v["optuna_trials_per_run"] for s, v in summary.items() if "optuna_trials_per_run" in v}
    if inner:
        print("optuna trials per run (asks inside the study, duplicates included): "
              + ", ".join(f"{s} {n:.1f}" for s, n in inner.items()))
    if "grid" in strategies:
        print("note: grid enumerates in a fixed order, independent of the seed, so its SE over seeds is 0.")
    caps = [(r["strategy"], r["dataset"], r["seed"], r["counted"]) for r in runs if r["cap_hit"]]
    if caps:
        print(f"CAP HIT in {len(caps)} run(s) ({args.cap} proposals before {budget} counted trials): "
              + ", ".join(f"{s}/{d}/seed {sd} ({c} counted)" for s, d, sd, c in caps[:20])
              + (" ..." if len(caps) > 20 else ""))
    else:
        print(f"no run hit the cap of {args.cap} proposals.")

    print()
    bmax = budget
    print(f"validation regret at budget {bmax} per dataset (mean over seeds), points:")
    print(f"{'strategy':<12}" + "".join(f"{d:>10}" for d in datasets))
    for s in strategies:
        print(f"{s:<12}" + "".join(f"{statistics.fmean(reg[(s, bmax, 'valid')][(d, sd)] for sd in seeds):10.2f}"
                                   for d in datasets))
    print(f"{'table ref':<12}" + "".join(f"{100 * (refs[d]['best_test'] - refs[d]['test_of_best_valid']):10.2f}"
                                       for d in datasets) + "   (test regret of best-by-validation)")

    # ------------------------------------------------------------ verdict
    print()
    target = (f"at budget {bmax}, evolution and at least one other built-in have a lower mean validation regret "
              f"than optuna TPE and random search by more than two standard errors")
    print(f"target: {target}")
    print("paired by seed: per seed, the mean over datasets of regret(peer) - regret(strategy); mean ± SE over seeds; "
          "a pair passes when mean > 2 SE.")
    peers = [p for p in (PEER_OPTUNA, PEER_RANDOM) if p in strategies]
    cands = [s for s in strategies if s in BUILTINS and s != PEER_RANDOM]
    pairs: dict[str, dict[str, Any]] = {}
    for s in cands:
        for p in peers:
            rs_, rp = reg[(s, bmax, "valid")], reg[(p, bmax, "valid")]
            diffs = [statistics.fmean(rp[(d, sd)] - rs_[(d, sd)] for d in datasets) for sd in seeds]
            m, se = mean_se(diffs)
            ok = m > 2 * se if not math.isnan(se) else False
            pairs[f"{s} vs {p}"] = {"mean": m, "se": se, "pass": ok}
            print(f"  {s:<10} vs {p:<11} peer - strategy = {m:+6.2f} ± {se:4.2f}  ->  "
                  f"{'PASS' if ok else 'fail'}")
    beats_both = [s for s in cands if all(pairs[f"{s} vs {p}"]["pass"] for p in peers)]
    complete = "evolution" in strategies and set(peers) == {PEER_OPTUNA, PEER_RANDOM}
    met = complete and "evolution" in beats_both and any(s != "evolution" for s in beats_both)
    passing = [k for k, v in pairs.items() if v["pass"]]
    print(f"pairs that pass: {', '.join(passing) if passing else 'none'}")
    print(f"built-ins beating both peers: {', '.join(beats_both) if beats_both else 'none'}")
    if not complete:
        verdict = "VERDICT: not decidable (needs evolution, random and optuna-tpe in the run)"
    elif met:
        others = [s for s in beats_both if s != "evolution"]
        verdict = f"VERDICT: target MET (evolution and {', '.join(others)} beat optuna-tpe and random by > 2 SE)"
    else:
        why = ("evolution does not beat both peers by > 2 SE" if "evolution" not in beats_both
               else "no built-in other than evolution beats both peers by > 2 SE")
        verdict = f"VERDICT: target NOT met ({why})"
    print(verdict)
    print(f"\nwall time {wall:.0f}s for {len(runs)} runs ({args.workers} workers)")

    out = Path(args.out) if args.out else (RESULTS.with_name(RESULTS.stem + "_quick.json") if args.quick else RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "nasbench_graph strategies", "space": str(SPACE_FILE.relative_to(ROOT)),
        "datasets": datasets, "seeds": seeds, "strategies": strategies, "budgets": budgets, "cap": args.cap,
        "strategy_options": defaults, "tables": refs, "reference_test_regret_points": ref_gap,
        "se_method": "per seed: mean over datasets of per-run regret; mean and SE (stdev/sqrt(n)) over seeds",
        "summary": summary, "pairs": pairs, "verdict": verdict, "target": target,
        "wall_s": wall, "workers": args.workers, "python": platform.python_version(),
        "optuna": _version("optuna"), "scikit-learn": _version("scikit-learn"),
        "runs": sorted(runs, key=lambda r: (strategies.index(r["strategy"]), datasets.index(r["dataset"]), r["seed"])),
    }
    out.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
