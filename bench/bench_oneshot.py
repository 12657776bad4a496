"""One-shot search on the CPU: nasdsl's DARTS step against a hand-written DARTS search network.

    python bench/bench_oneshot.py              # timing (interleaved) + peak memory (one subprocess per method)
    python bench/bench_oneshot.py --quick      # a smoke run: batch 8, 1 warm-up + 3 timed steps, 1 memory step
    python bench/bench_oneshot.py --steps 7    # timed steps per method (default 4, after 1 warm-up)
    python bench/bench_oneshot.py --threads 2  # torch.set_num_threads (default 1, the same for every run)
    python bench/bench_oneshot.py --no-memory  # timing only
    python bench/bench_oneshot.py --ranking    # Kendall tau of every weight-sharing method (bench/ranking.py)
    python bench/bench_oneshot.py --hardware   # ProxylessNAS/FBNet against random search under their latency
                                               # bound, OFA inherited against retrained (bench/bench_hardware.py)
    python bench/bench_oneshot.py --hardware --hardware-args "--epochs 30 --retrain 20 --random 10 --seeds 0,1"
    python bench/bench_oneshot.py --no-timing --methods "DARTS (nasdsl)" "SPOS (nasdsl)" "FairNAS (nasdsl)"
                                               # peak memory per step of the sampling methods against DARTS

Both sides run the DARTS search network of ``spaces/darts.nas`` at C = 16, 8 cells, ``none`` added,
batch 32 of 3x32x32 inputs, 10 classes:

* ``DARTS (nasdsl)``: ``nasdsl_plugins.oneshot.darts.DartsSearch`` on nasdsl's supernet;
* ``DARTS (reference)``: ``bench/darts_search_reference.py`` (a plain PyTorch search network, the same
  network: same weight count, same function) driven by the same first-order step written by hand.

One step (the order of DartsSearch.step and of the DARTS release): the architecture step, a forward of
the alpha-batch and the gradient of its loss with respect to the alphas only, then Adam (3e-4, betas
(0.5, 0.999), weight decay 1e-3); then the weight step, a forward and backward of the weight-batch,
gradient norm clipped at 5, SGD (0.025, momentum 0.9, weight decay 3e-4).  That is the work of
DartsSearch.step at its defaults (order 1, no warm-up epochs, no architecture penalty): two forwards,
two backwards (the first one to the alphas only), one Adam and one SGD step; the reference does the
same and nothing more.

The data are random (float32 inputs, int64 labels 0..9): this is a timing benchmark, nothing is learnt.
The two searches are timed in one process, interleaved step by step (ABAB...) after warm-up steps, with
the same torch.set_num_threads for both; medians are reported, with nasdsl / reference (target <= 1.10).
One thread by default: a DARTS step runs tens of thousands of small kernels, and on a 2-core machine
shared with anything else two OpenMP threads per process spend much of each step spin-waiting for a
core (steps several times slower and erratic).  A step at batch 32 takes roughly 25-30 s on one core,
so the default (1 warm-up + 4 timed steps per method, 1 step per memory process) takes about 5-6
minutes; ``--steps 7`` gives steadier medians in about 9.

Peak memory: each method runs in a fresh subprocess (this file with ``--child NAME``), which builds its
search object, reads ``ru_maxrss``, runs a step (``--mem-steps``) and reads it again; the increase is
the step's peak memory over everything built before it (also shown: the peak over the resident set
right after the build, which a transient peak while building cannot hide).  This part runs before the
timing, while this process is small (Linux carries ru_maxrss over fork + exec), and its processes run
side by side when the cores allow (ru_maxrss is per process; only their step times suffer).  The
table is keyed by method name: another one-shot method is one more line in ``METHODS`` (a name and a
callable ``(space, dataset, batch_size) -> search`` whose search has ``.step(xt, yt, xv, yv)``);
``RATIOS`` names the pairs to compare.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from darts_search_reference import SearchNetwork  # noqa: E402

C, LAYERS, CLASSES = 16, 8, 10
INPUT = (3, 32, 32)
TARGET_RATIO = 1.10

Batch = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


# ----------------------------------------------------------------------------- data and space


def make_space():
    from nasdsl import Space

    return Space.from_file(str(ROOT / "spaces" / "darts.nas"), params={"C": C, "layers": LAYERS, "classes": CLASSES})


def synthetic_dataset(batch_size: int, seed: int = 0):
    """Random inputs and labels (a timing bench): two batches of training data (DartsSearch halves it), one of each other split."""
    from nasdsl.datasets import Dataset

    rng = np.random.default_rng(seed)

    def split(n: int):
        return rng.standard_normal((n, *INPUT)).astype(np.float32), rng.integers(0, CLASSES, n).astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = split(2 * batch_size), split(batch_size), split(batch_size)
    return Dataset("synthetic", xt, yt, xv, yv, xs, ys)


def make_batches(batch_size: int, n: int = 4, seed: int = 1) -> List[Batch]:
    """``n`` (x_train, y_train, x_alpha, y_alpha) batches, given to every method in the same order."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        xt = torch.randn(batch_size, *INPUT, generator=g)
        yt = torch.randint(0, CLASSES, (batch_size,), generator=g)
        xv = torch.randn(batch_size, *INPUT, generator=g)
        yv = torch.randint(0, CLASSES, (batch_size,), generator=g)
        out.append((xt, yt, xv, yv))
    return out


# ----------------------------------------------------------------------------- the searches


class ReferenceDartsSearch:
    """The first-order DARTS step on the hand-written search network, with DartsConfig's default settings."""

    def __init__(self, seed: int = 0, w_lr: float = 0.025, w_momentum: float = 0.9, w_weight_decay: float = 3e-4,
                 grad_clip: float = 5.0, a_lr: float = 3e-4, a_betas: Tuple[float, float] = (0.5, 0.999),
                 a_weight_decay: float = 1e-3):
        torch.manual_seed(seed)
        self.net = SearchNetwork(C=C, layers=LAYERS, classes=CLASSES)
        self.weights = self.net.weights()
        self.alphas = self.net.arch_parameters()
        self.grad_clip = grad_clip
        self.w_opt = torch.optim.SGD(self.weights, lr=w_lr, momentum=w_momentum, weight_decay=w_weight_decay)
        self.a_opt = torch.optim.Adam(self.alphas, lr=a_lr, betas=a_betas, weight_decay=a_weight_decay)

    def step(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> float:
        self.net.train()
        # architecture step: d L_val / d alpha only (first order)
        self.a_opt.zero_grad(set_to_none=True)
        a_loss = F.cross_entropy(self.net(xv), yv)
        for p, g in zip(self.alphas, torch.autograd.grad(a_loss, self.alphas)):
            p.grad = g
        self.a_opt.step()
        # weight step
        self.w_opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.net(xt), yt)
        loss.backward()
        for p in self.alphas:
            p.grad = None
        torch.nn.utils.clip_grad_norm_(self.weights, self.grad_clip)
        self.w_opt.step()
        return float(loss.detach())


def build_nasdsl_darts(space: Any, dataset: Any, batch_size: int):
    from nasdsl_plugins.oneshot.darts import DartsConfig, DartsSearch

    return DartsSearch(space, dataset, DartsConfig(batch_size=batch_size, epochs=1))


def build_reference_darts(space: Any, dataset: Any, batch_size: int):
    return ReferenceDartsSearch()


def build_nasdsl(method: str) -> Callable[[Any, Any, int], Any]:
    """The builder of another of nasdsl's differentiable methods (its defaults, at the bench's batch size)."""

    def build(space: Any, dataset: Any, batch_size: int):
        from nasdsl_plugins.oneshot.darts import METHODS as NASDSL

        search = NASDSL[method]
        return search(space, dataset, search.config_class(batch_size=batch_size, epochs=1, warmup=0))

    return build


class _WeightStep:
    """A sampling method's weight step behind the bench's ``.step(xt, yt, xv, yv)`` (it has no α batch)."""

    def __init__(self, search: Any):
        self.search = search
        self.supernet = search.supernet

    def step(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> float:
        return self.search.step(xt, yt)


def build_sampling(method: str) -> Callable[[Any, Any, int], Any]:
    """The builder of one of nasdsl's sampling methods (its defaults; the supernet without DARTS' added none)."""

    def build(space: Any, dataset: Any, batch_size: int):
        from nasdsl_plugins.oneshot.sampling import METHODS as SAMPLING

        search = SAMPLING[method]
        return _WeightStep(search(space, dataset, search.config_class(batch_size=batch_size, epochs=1)))

    return build


# name -> (space, dataset, batch_size) -> an object with .step(xt, yt, xv, yv); one line per method
METHODS: Dict[str, Callable[[Any, Any, int], Any]] = {
    "DARTS (nasdsl)": build_nasdsl_darts,
    "DARTS (reference)": build_reference_darts,
    "GDAS (nasdsl)": build_nasdsl("gdas"),
    "PC-DARTS (nasdsl)": build_nasdsl("pcdarts"),
    "SPOS (nasdsl)": build_sampling("spos"),
    "FairNAS (nasdsl)": build_sampling("fairnas"),
    "ENAS (nasdsl)": build_sampling("enas"),
    "one-shot (nasdsl)": build_sampling("oneshot"),
}

# (method, the method it is compared with): the ratio of their median step times and of their step memory
RATIOS: List[Tuple[str, str]] = [("DARTS (nasdsl)", "DARTS (reference)"), ("SPOS (nasdsl)", "DARTS (nasdsl)"),
                                 ("FairNAS (nasdsl)", "DARTS (nasdsl)"), ("ENAS (nasdsl)", "DARTS (nasdsl)"),
                                 ("one-shot (nasdsl)", "DARTS (nasdsl)")]


def weight_count(search: Any) -> int:
    if hasattr(search, "supernet"):
        return sum(p.numel() for p in search.supernet.weights())
    return sum(p.numel() for p in search.weights)


# ----------------------------------------------------------------------------- timing


def time_interleaved(names: List[str], steps: int, warmup: int, batch_size: int) -> Dict[str, Dict[str, Any]]:
    """Every method built in this process, then stepped round-robin (ABAB...): warm-up steps, then timed ones."""
    space = make_space()
    dataset = synthetic_dataset(batch_size)
    batches = make_batches(batch_size)
    searches = {}
    out: Dict[str, Dict[str, Any]] = {}
    for name in names:
        t = time.perf_counter()
        searches[name] = METHODS[name](space, dataset, batch_size)
        out[name] = {"build_s": time.perf_counter() - t, "weights": weight_count(searches[name]), "times": []}
    for i in range(warmup + steps):
        b = batches[i % len(batches)]
        for name in names:
            t = time.perf_counter()
            searches[name].step(*b)
            dt = time.perf_counter() - t
            if i >= warmup:
                out[name]["times"].append(dt)
            print(f"  {'warm-up' if i < warmup else 'step'} {i + 1 - (0 if i < warmup else warmup)}: "
                  f"{name:<20} {dt:7.2f} s", flush=True)
    for name in names:
        out[name]["median_s"] = statistics.median(out[name]["times"])
    return out


# ----------------------------------------------------------------------------- memory (one fresh process per method)


def _rss_mb() -> float:
    """The current resident set (VmRSS) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def _maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024  # bytes on macOS, KiB on Linux


def _hwm_mb() -> float:
    """The peak resident set of this process image (VmHWM; unlike ru_maxrss, not inherited over exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def child_memory(name: str, steps: int, batch_size: int, threads: int) -> Dict[str, Any]:
    inherited = _maxrss_mb()  # what ru_maxrss says before this process has done anything
    torch.set_num_threads(threads)
    space = make_space()
    dataset = synthetic_dataset(batch_size)
    batches = make_batches(batch_size)
    search = METHODS[name](space, dataset, batch_size)
    gc.collect()
    built_peak, built_rss = _maxrss_mb(), _rss_mb()
    times = []
    for i in range(steps):
        t = time.perf_counter()
        search.step(*batches[i % len(batches)])
        times.append(time.perf_counter() - t)
    peak = _maxrss_mb()
    if inherited >= built_peak:
        print(f"warning: ru_maxrss was {inherited:.0f} MB when this process started (inherited from its parent), "
              f"not below the built search's {built_peak:.0f} MB; the step figure is unreliable", file=sys.stderr)
    return {"name": name, "built_peak_mb": built_peak, "built_rss_mb": built_rss, "peak_mb": peak,
            "step_mb": peak - built_peak, "over_rss_mb": peak - built_rss, "hwm_mb": _hwm_mb(),
            "inherited_mb": inherited, "steps": steps, "median_s": statistics.median(times)}


def measure_memory(names: List[str], steps: int, batch_size: int, threads: int) -> Dict[str, Dict[str, Any]]:
    """One fresh process per method; as many at once as the cores hold at ``threads`` each (ru_maxrss is
    per process, so running them side by side changes nothing in what is measured but the step times)."""
    at_once = max(1, (os.cpu_count() or 1) // threads)
    out: Dict[str, Dict[str, Any]] = {}
    pending = list(names)
    running: List[Tuple[str, subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < at_once:
            name = pending.pop(0)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--mem-steps", str(steps),
                   "--batch", str(batch_size), "--threads", str(threads)]
            running.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        name, proc = running.pop(0)
        stdout, stderr = proc.communicate()
        if stderr.strip() and proc.returncode == 0:
            print(stderr.strip(), file=sys.stderr)
        if proc.returncode != 0:
            print(stdout + stderr, file=sys.stderr)
            raise SystemExit(f"the memory run of {name!r} failed (exit {proc.returncode})")
        out[name] = json.loads(stdout.strip().splitlines()[-1])
        print(f"  {name:<20} step peak {out[name]['step_mb']:7.1f} MB over the built search "
              f"({out[name]['peak_mb']:.0f} MB peak RSS)", flush=True)
    return {n: out[n] for n in names}


# ----------------------------------------------------------------------------- report


def _table(title: str, header: List[str], rows: List[List[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print(f"\n{title}")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return
    t = Table(title=title)
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*r)
    Console().print(t)


def report(timing: Dict[str, Dict[str, Any]], memory: Dict[str, Dict[str, Any]], args: argparse.Namespace) -> bool:
    ok = True
    if timing:
        rows = []
        for name, r in timing.items():
            ts = r["times"]
            rows.append([name, f"{r['weights']:,}", f"{r['build_s']:.1f}", f"{r['median_s']:.2f}",
                         f"{min(ts):.2f}", f"{max(ts):.2f}", str(len(ts))])
        _table(f"DARTS search step (first order), batch {args.batch}, {args.threads} threads, interleaved",
               ["method", "weights", "build s", "median s", "min s", "max s", "steps"], rows)
    if memory:
        rows = [[name, f"{m['built_peak_mb']:.0f}", f"{m['peak_mb']:.0f}", f"{m['step_mb']:.1f}",
                 f"{m['over_rss_mb']:.1f}", f"{m['median_s']:.2f}", str(m["steps"])] for name, m in memory.items()]
        _table("Peak memory of a search step (a fresh process per method; ru_maxrss, MB)",
               ["method", "built", "after steps", "step peak", "over built RSS", "step s", "steps"], rows)
        print("built: ru_maxrss once the search is built; after steps: ru_maxrss after the steps; step peak: their "
              "difference;\nover built RSS: after steps minus the resident set right after the build.")
    for a, b in RATIOS:
        if a in timing and b in timing:
            ratio = timing[a]["median_s"] / timing[b]["median_s"]
            paired = statistics.median(x / y for x, y in zip(timing[a]["times"], timing[b]["times"]))
            gated = b == "DARTS (reference)"  # the target is for nasdsl against the hand-written search only
            verdict = ("ok" if ratio <= TARGET_RATIO else f"ABOVE the target {TARGET_RATIO:.2f}") if gated else "(no target)"
            ok = ok and (ratio <= TARGET_RATIO or not gated)
            print(f"{a} / {b}: median step {ratio:.3f} (median of paired ratios {paired:.3f}) -- {verdict}")
        if a in memory and b in memory:
            print(f"{a} / {b}: step peak memory {memory[a]['step_mb']:.1f} MB vs {memory[b]['step_mb']:.1f} MB "
                  f"({memory[a]['step_mb'] / max(memory[b]['step_mb'], 1e-9):.2f}x)")
    return ok


def main(argv: List[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4, help="timed steps per method (default 4)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per method first (default 1)")
    p.add_argument("--mem-steps", type=int, default=1, help="steps in each memory subprocess (default 1)")
    p.add_argument("--batch", type=int, default=None, help="batch size of both batches of a step (default 32; 8 with --quick)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads for every run (default 1: on a small shared machine two OpenMP "
                        "threads next to any other process spend most of a step spin-waiting)")
    p.add_argument("--quick", action="store_true", help="a smoke run: batch 8, 3 timed steps, 1 warm-up, 1 memory step")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--no-timing", action="store_true", help="skip the interleaved timing")
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS), metavar="NAME",
                   help=f"the methods to run (default all: {', '.join(METHODS)})")
    p.add_argument("--ranking", action="store_true",
                   help="instead: Kendall tau of each method's supernet against bench/nb201_mnist1d_standalone.json "
                        "(bench/ranking.py)")
    p.add_argument("--hardware", action="store_true",
                   help="instead: hardware-aware and elastic search against their baselines (bench/bench_hardware.py)")
    p.add_argument("--hardware-args", default="", help="bench_hardware.py's own options, as one string")
    p.add_argument("--ranking-epochs", type=int, default=30, help="supernet epochs of each method for --ranking")
    p.add_argument("--ranking-methods", default=None, help="comma-separated methods for --ranking (default all)")
    p.add_argument("--child", choices=list(METHODS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ranking:
        import ranking

        return ranking.main(["--epochs", str(args.ranking_epochs), "--threads", str(args.threads)]
                            + (["--methods", args.ranking_methods] if args.ranking_methods else []))
    if args.hardware:
        import shlex

        import bench_hardware

        return bench_hardware.main(["--threads", str(args.threads)] + shlex.split(args.hardware_args))
    if args.quick:
        args.steps, args.warmup, args.mem_steps = 3, 1, 1
    if args.batch is None:
        args.batch = 8 if args.quick else 32
    if min(args.steps, args.mem_steps, args.batch, args.threads) < 1 or args.warmup < 0:
        p.error("--steps, --mem-steps, --batch and --threads must be at least 1, --warmup at least 0")

    if args.child:
        print(json.dumps(child_memory(args.child, args.mem_steps, args.batch, args.threads)))
        return 0

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, DARTS C={C} layers={LAYERS}, batch {args.batch}; "
          "random data (timing only)")
    t0 = time.perf_counter()
    timing: Dict[str, Dict[str, Any]] = {}
    memory: Dict[str, Dict[str, Any]] = {}
    # memory first: Linux carries ru_maxrss across fork + exec, so a child started after this process has
    # grown (the timing builds every search) would start from this process's peak
    if not args.no_memory:
        print(f"memory: {args.mem_steps} step(s) per method, each in a fresh process")
        memory = measure_memory(args.methods, args.mem_steps, args.batch, args.threads)
    if not args.no_timing:
        print(f"timing: {args.warmup} warm-up + {args.steps} timed steps per method, interleaved")
        timing = time_interleaved(args.methods, args.steps, args.warmup, args.batch)
    ok = report(timing, memory, args)
    print(f"total {time.perf_counter() - t0:.0f} s" + ("" if ok else "  (a ratio is above its target)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
