"""Benchmark of the PyTorch backend against a hand-written DARTS network, side by side.

In one run, on the CPU:

1. builds nasdsl's DARTS_V2 CIFAR-10 model (``spaces/darts.nas`` + the
   genotype, ``space.realize`` + ``backend.build``) and the plain PyTorch
   reference of ``bench/darts_reference.py`` with the same seed; prints both
   parameter counts (they must be equal: 3,349,342) and checks that the two
   compute the same function (same weights -> same logits, loss and gradients);
2. times forward + backward of one batch (32 x 3 x 32 x 32, train mode,
   cross-entropy, ``loss.backward()``, gradients zeroed between batches, no
   optimizer step) for both models, interleaving their timing rounds
   (A B, B A, A B, ...) so that a load change on the machine hits both alike;
   reports the median (and min) ms per batch and the nasdsl / reference ratio
   (target <= 1.05);
3. times the build, genotype -> module (``from_darts`` + ``space.realize`` +
   ``backend.build``), median over several runs, next to constructing the
   hand-written reference;
4. measures the ``torch.compile`` speed-up of the nasdsl model (in a child
   process with a time limit: compile, warm up, then eager and compiled
   fwd+bwd interleaved); a failure or a timeout is reported, not raised.

Run: ``.venv/bin/python bench/bench_torch.py`` (about 3-5 minutes on an idle
2-core machine; the first ``torch.compile`` fills Inductor's cache, later runs
compile faster), or ``--quick`` for a short version (no torch.compile unless
``--compile``).  ``--no-compile`` skips step 4.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from darts_reference import DARTS_V2_PARAMS, DARTS_V2_STR, NetworkCIFAR, count_params, darts_v2_cifar, parse_genotype  # noqa: E402

BATCH = 32
SEED = 0

# per mode: warmup iterations per model; timing rounds; iterations per model per round; time cap of
# the timed rounds (s); build repeats; compile child limit (s); compile child rounds; compile child cap (s)
SETTINGS = {
    "default": dict(warmup=3, rounds=20, per_round=1, cap_s=120.0, build_runs=7,
                    compile_timeout=240, compile_rounds=6, compile_cap_s=40.0),
    "quick": dict(warmup=1, rounds=5, per_round=1, cap_s=25.0, build_runs=3,
                  compile_timeout=120, compile_rounds=3, compile_cap_s=15.0),
}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def load() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def build_nasdsl(space, genotype_str: str):
    from nasdsl.adapters import from_darts
    from nasdsl.plugins import get_backend

    arch = space.realize(from_darts(space, genotype_str))
    backend = get_backend("torch")()
    return backend, backend.build(arch)


def load_space():
    from nasdsl import Space

    return Space.from_file(ROOT / "spaces" / "darts.nas")


def batch():
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randn(BATCH, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)
    return x, y


def step(model, x, y) -> float:
    """One forward + backward in train mode; returns seconds."""
    t = time.perf_counter()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return time.perf_counter() - t


def interleaved(models: dict, x, y, rounds: int, per_round: int, cap_s: float, min_rounds: int = 3):
    """Time ``models`` (name -> module, two of them) in alternating rounds: A B, B A, A B, ...

    Each round runs ``per_round`` batches of one model, then of the other.  Stops after ``rounds``
    rounds, or earlier once ``cap_s`` seconds are spent (never before ``min_rounds``).
    Returns (per-batch times by name, per-round paired ratio A/B).
    """
    names = list(models)
    times: dict[str, list[float]] = {n: [] for n in names}
    paired: list[float] = []
    t0 = time.perf_counter()
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        mean = {}
        for n in order:
            ts = [step(models[n], x, y) for _ in range(per_round)]
            times[n] += ts
            mean[n] = sum(ts) / len(ts)
        paired.append(mean[names[0]] / mean[names[1]])
        if r + 1 >= min_rounds and time.perf_counter() - t0 > cap_s:
            break
    return times, paired


def check_equivalence(nas, ref) -> None:
    """Same weights -> same function: copy the reference's tensors into copies of both models (in
    registration order), in float64 so that summation-order rounding cannot hide a real difference,
    and compare eval logits, the train-mode loss and every gradient."""
    nas, ref = copy.deepcopy(nas).double(), copy.deepcopy(ref).double()
    nas.load_state_dict(dict(zip(nas.state_dict().keys(), ref.state_dict().values())))
    x, y = batch()
    x = x[:8].double()
    y = y[:8]
    nas.eval()
    ref.eval()
    with torch.no_grad():
        d_eval = (nas(x) - ref(x)).abs().max().item()
    nas.train()
    ref.train()
    l_nas, l_ref = F.cross_entropy(nas(x), y), F.cross_entropy(ref(x), y)
    l_nas.backward()
    l_ref.backward()
    d_grad = max(((a.grad - b.grad).abs().max() / b.grad.abs().max().clamp_min(1e-30)).item()
                 for a, b in zip(nas.parameters(), ref.parameters()))
    ok = d_eval < 1e-9 and abs(l_nas.item() - l_ref.item()) < 1e-9 and d_grad < 1e-6
    print(f"    same weights (float64, batch 8) -> max |logit diff| eval {d_eval:.1e}; train loss "
          f"{l_nas.item():.9f} vs {l_ref.item():.9f}; max relative grad diff {d_grad:.1e}: "
          f"{'same function' if ok else 'DIFFERENT'}")


def count_aten_ops(model, x, y) -> int:
    """Number of ATen ops one fwd+bwd dispatches (a load-independent measure of the work)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Counter.n += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        step(model, x, y)
    return Counter.n


def ms(v: float) -> str:
    return f"{v * 1e3:9.1f}"


# ----------------------------------------------------------------------------- compile child


def compile_child(cfg: dict) -> None:
    """Runs in a child process: compile the nasdsl model, then time eager vs compiled; prints one JSON line."""
    torch.set_num_threads(cores())
    space = load_space()
    torch.manual_seed(SEED)
    _, model = build_nasdsl(space, DARTS_V2_STR)
    model.train()
    x, y = batch()
    step(model, x, y)  # eager warm-up before the clock starts on the compile
    t = time.perf_counter()
    compiled = torch.compile(model)
    first = step(compiled, x, y)
    res = {"compile_s": time.perf_counter() - t, "first_call_s": first}
    for _ in range(2):
        step(compiled, x, y)
        step(model, x, y)
    times, paired = interleaved({"compiled": compiled, "eager": model}, x, y, cfg["compile_rounds"], 1,
                                cfg["compile_cap_s"], min_rounds=2)
    res.update(times=times, paired=paired)
    print("RESULT " + json.dumps(res), flush=True)


def run_compile(cfg: dict, timeout: int, quick: bool) -> None:
    print(f"\n[4] torch.compile of the nasdsl model (child process, limit {timeout} s; "
          f"Inductor cache: {os.environ.get('TORCHINDUCTOR_CACHE_DIR', 'default, /tmp/torchinductor_<user>')})")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--compile-child"] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and its Inductor compile workers
        except ProcessLookupError:
            pass
        proc.communicate()
        print(f"    not measured: compiling + timing did not finish within {timeout} s "
              f"(a cold Inductor compile of this 20-cell fwd+bwd graph is slow on {cores()} cores; "
              f"rerun with --compile-timeout N, or once with a long limit to fill the cache)")
        return
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (err or out).strip().splitlines()[-6:]
        print(f"    torch.compile failed (exit {proc.returncode}):")
        for ln in tail:
            print(f"      {ln}")
        return
    res = json.loads(lines[-1][len("RESULT "):])
    c, e = res["times"]["compiled"], res["times"]["eager"]
    mc, me = statistics.median(c), statistics.median(e)
    print(f"    compile (first fwd+bwd call): {res['compile_s']:.1f} s   (child total {time.perf_counter() - t0:.1f} s)")
    print("    fwd+bwd ms/batch     median      min    n")
    print(f"    eager            {ms(me)} {ms(min(e))} {len(e):4d}")
    print(f"    compiled         {ms(mc)} {ms(min(c))} {len(c):4d}")
    print(f"    speed-up eager/compiled: {me / mc:.2f}x (medians), {min(e) / min(c):.2f}x (mins), "
          f"{1 / statistics.median(res['paired']):.2f}x (median of paired rounds)")


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run (fewer rounds, shorter compile limit)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="measure torch.compile (default: yes; no with --quick)")
    ap.add_argument("--compile-timeout", type=int, default=None,
                    help="seconds for the torch.compile child (default 240; 120 with --quick)")
    ap.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cfg = SETTINGS["quick" if args.quick else "default"]

    if args.compile_child:
        compile_child(cfg)
        return

    t_start = time.perf_counter()
    n_threads = cores()
    torch.set_num_threads(n_threads)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {n_threads} cores "
          f"({os.cpu_count()} logical), {platform.system()} {platform.release()}".replace("  ", " "))
    print(f"python {platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()} "
          f"(interop {torch.get_num_interop_threads()}), load average {load()}")
    print(f"mode: {'quick' if args.quick else 'default'}; batch {BATCH}x3x32x32, train mode, "
          f"fwd + cross-entropy + backward, grads zeroed between batches")

    # [1] both models, same seed --------------------------------------------------------------
    space = load_space()
    torch.manual_seed(SEED)
    backend, nas = build_nasdsl(space, DARTS_V2_STR)
    torch.manual_seed(SEED)
    ref = darts_v2_cifar()
    p_nas, p_ref = backend.count_params(nas), count_params(ref)
    print(f"\n[1] parameters: nasdsl {p_nas:,}   reference {p_ref:,}   (published {DARTS_V2_PARAMS:,})")
    assert p_nas == p_ref == DARTS_V2_PARAMS, "parameter counts differ"

    sd_nas, sd_ref = nas.state_dict(), ref.state_dict()
    shapes_match = len(sd_nas) == len(sd_ref) and all(
        a.shape == b.shape for a, b in zip(sd_nas.values(), sd_ref.values()))
    same_init = shapes_match and all(torch.equal(a, b) for a, b in zip(sd_nas.values(), sd_ref.values()))
    print(f"    same seed -> identical initial weights: {same_init}")
    if shapes_match:
        check_equivalence(nas, ref)
    else:
        print("    (state dicts do not line up tensor by tensor; equivalence not checked)")
    x, y = batch()

    # [2] fwd+bwd timing, interleaved -----------------------------------------------------------
    models = {"nasdsl": nas, "reference": ref}
    print(f"\n[2] fwd+bwd per batch: {cfg['warmup']} warm-up batches each, then up to {cfg['rounds']} rounds of "
          f"{cfg['per_round']} batch(es) per model, alternating A B / B A (cap {cfg['cap_s']:.0f} s)")
    for _ in range(cfg["warmup"]):
        for m in models.values():
            step(m, x, y)
    load_before = load()
    times, paired = interleaved(models, x, y, cfg["rounds"], cfg["per_round"], cfg["cap_s"])
    print("    ms/batch            median      min   spread(max/min)    n")
    for n, ts in times.items():
        print(f"    {n:<14}   {ms(statistics.median(ts))} {ms(min(ts))}   {max(ts) / min(ts):8.2f}      {len(ts):4d}")
    r_med = statistics.median(times["nasdsl"]) / statistics.median(times["reference"])
    r_min = min(times["nasdsl"]) / min(times["reference"])
    r_pair = statistics.median(paired)
    print(f"    ratio nasdsl/reference: {r_med:.3f} (medians)   {r_min:.3f} (mins)   "
          f"{r_pair:.3f} (median of {len(paired)} paired rounds)   target <= 1.05: "
          f"{'met' if r_pair <= 1.05 else 'NOT met'} (paired)")
    print(f"    load average before/after: {load_before} -> {load()}")
    n_nas, n_ref = count_aten_ops(nas, x[:4], y[:4]), count_aten_ops(ref, x[:4], y[:4])
    print(f"    ATen ops per fwd+bwd (load-independent): nasdsl {n_nas:,}   reference {n_ref:,}   "
          f"(+{n_nas - n_ref} for nasdsl)")

    # [3] build time --------------------------------------------------------------------------
    from nasdsl.adapters import from_darts

    stages: dict[str, list[float]] = {"from_darts": [], "realize": [], "build": [], "total": [], "reference": []}
    for _ in range(cfg["build_runs"]):
        torch.manual_seed(SEED)
        t0 = time.perf_counter()
        g = from_darts(space, DARTS_V2_STR)
        t1 = time.perf_counter()
        arch = space.realize(g)
        t2 = time.perf_counter()
        backend.build(arch)
        t3 = time.perf_counter()
        NetworkCIFAR(parse_genotype(DARTS_V2_STR))
        t4 = time.perf_counter()
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0, t4 - t3)):
            stages[k].append(v)
    med = {k: statistics.median(v) for k, v in stages.items()}
    print(f"\n[3] build, genotype -> module (median of {cfg['build_runs']}; space already compiled):")
    print(f"    nasdsl {med['total'] * 1e3:.0f} ms = from_darts {med['from_darts'] * 1e3:.1f} + realize "
          f"{med['realize'] * 1e3:.0f} + build {med['build'] * 1e3:.0f} ms;   hand-written reference "
          f"constructor {med['reference'] * 1e3:.0f} ms  (both include weight init)")
    print(f"    nasdsl total min {min(stages['total']) * 1e3:.0f} / max {max(stages['total']) * 1e3:.0f} ms "
          f"(the slow runs are the ones where Python's full garbage collection kicks in)")

    # [4] torch.compile -------------------------------------------------------------------------
    do_compile = (not args.quick) if args.compile is None else args.compile
    if not do_compile:
        print(f"\n[4] torch.compile: skipped ({'--quick; add --compile' if args.quick else '--no-compile'})")
    else:
        timeout = args.compile_timeout or cfg["compile_timeout"]
        del nas, ref, models  # free memory for the child
        run_compile(cfg, timeout, args.quick)

    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; load average at end {load()}")


if __name__ == "__main__":
    main()
