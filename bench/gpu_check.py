"""The GPU check of the PyTorch backend, as one prepared script for a machine with CUDA.

1. Trains the digits DARTS_V2 network (C = 8, 3 cells) for a few hundred steps on
   the CPU and on CUDA (mixed precision) from the same seed, and compares the loss
   trend (mean loss over the first and last 50 steps) and the final accuracies.
2. Times forward + backward of the DARTS_V2 CIFAR network (C = 36, 20 cells,
   3,349,342 parameters) at batch 96 on CUDA, eager and with AMP.
3. The supernet: one DARTS, GDAS and PC-DARTS search step (α step, then weight step)
   of the darts.nas supernet (C = 16, 8 cells, batch 32, 3x32x32): the same first
   steps on the CPU and on CUDA from one seed (the architecture logits after them
   compared, amp off), then the median step time and the peak CUDA memory of each method,
   in float32 and with the weights' step in fp16 (``-S amp=fp16``, what ``auto`` takes on CUDA).

Run: ``.venv/bin/python bench/gpu_check.py [--steps 300]``.  Without a GPU it runs
the CPU half and says so.  The tests never need a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nasdsl import Space  # noqa: E402
from nasdsl.adapters import from_darts  # noqa: E402
from nasdsl.datasets import load_dataset  # noqa: E402
from nasdsl.plugins import get_backend  # noqa: E402
from nasdsl_plugins.torch_backend.train import evaluate  # noqa: E402

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def train_steps(device: str, steps: int, amp: bool) -> dict[str, float]:
    data = load_dataset("digits")
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 3}, input_shape=data.input_shape)
    backend = get_backend("torch")()
    torch.manual_seed(0)
    model = backend.build(space.realize(from_darts(space, DARTS_V2))).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=3e-4)
    x = torch.as_tensor(data.x_train)
    y = torch.as_tensor(data.y_train)
    gen = torch.Generator().manual_seed(0)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(y), (64,), generator=gen)
        xb, yb = x[idx].to(device), y[idx].to(device)
        with torch.autocast(device_type=device.split(":")[0], enabled=amp):
            loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    _, test_acc = evaluate(model, data.x_test, data.y_test, device=device)
    return {"first50": statistics.mean(losses[:50]), "last50": statistics.mean(losses[-50:]), "test_acc": test_acc,
            "seconds": secs}


def time_cifar(device: str, amp: bool, batch: int = 96, reps: int = 20) -> float:
    space = Space.from_file(ROOT / "spaces/darts.nas")
    backend = get_backend("torch")()
    model = backend.build(space.realize(from_darts(space, DARTS_V2))).to(device)
    assert backend.count_params(model) == 3_349_342
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    times = []
    for i in range(reps + 5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast(device_type="cuda", enabled=amp):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def supernet_steps(device: str, method: str, steps: int, seed: int = 0, amp: str = "off") -> dict[str, float]:
    """``steps`` search steps of ``method`` on the darts.nas supernet; the step times and the logits after."""
    import numpy as np

    from nasdsl.datasets import Dataset
    from nasdsl_plugins.oneshot.config import DartsConfig, GdasConfig, PcdartsConfig
    from nasdsl_plugins.oneshot.darts import METHODS

    configs = {"darts": DartsConfig, "gdas": GdasConfig, "pcdarts": PcdartsConfig}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((256, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 256).astype(np.int64)
    space = Space.from_file(ROOT / "spaces" / "darts.nas", params={"C": 16, "layers": 8})
    search = METHODS[method](space, Dataset("synthetic", x, y, x[:32], y[:32], x[:32], y[:32]),
                             configs[method](batch_size=32, epochs=1, warmup=0, seed=seed, amp=amp), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for s in range(steps):
        torch.manual_seed(seed + s)  # the same samples on both devices for the sampling methods' first draw
        b = slice(32 * (s % 4), 32 * (s % 4 + 1))
        t = time.perf_counter()
        search.step(search.w_x[b], search.w_y[b], search.a_x[b], search.a_y[b])
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    alphas = torch.cat([a.detach().float().cpu().flatten() for a in search.alphas])
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else float("nan")
    return {"ms": 1000 * statistics.median(times[1:]), "alphas": alphas, "peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    cpu = train_steps("cpu", args.steps, amp=False)
    print(f"cpu : loss first50 {cpu['first50']:.4f} -> last50 {cpu['last50']:.4f}, test_acc {cpu['test_acc']:.4f}, "
          f"{cpu['seconds']:.1f}s for {args.steps} steps")
    if not torch.cuda.is_available():
        print("no GPU here: the CUDA half is skipped")
        return
    print(f"device: {torch.cuda.get_device_name(0)}")
    gpu = train_steps("cuda", args.steps, amp=True)
    print(f"cuda: loss first50 {gpu['first50']:.4f} -> last50 {gpu['last50']:.4f}, test_acc {gpu['test_acc']:.4f}, "
          f"{gpu['seconds']:.1f}s for {args.steps} steps")
    same_trend = gpu["last50"] < 0.5 * gpu["first50"] and cpu["last50"] < 0.5 * cpu["first50"]
    print(f"loss trend matches (both fall by more than half): {same_trend}; "
          f"|last50 cpu - cuda| = {abs(cpu['last50'] - gpu['last50']):.4f}")
    print(f"DARTS_V2 CIFAR (3,349,342 params) fwd+bwd, batch 96: fp32 {time_cifar('cuda', False):.1f} ms, "
          f"amp {time_cifar('cuda', True):.1f} ms")
    cpu_d = supernet_steps("cpu", "darts", 3)
    gpu_d = supernet_steps("cuda", "darts", 3)
    diff = float((cpu_d["alphas"] - gpu_d["alphas"]).abs().max())
    print(f"DARTS supernet (darts.nas C=16, 8 cells, batch 32): alpha after 3 steps, max |cpu - cuda| = {diff:.2e}; "
          f"step cpu {cpu_d['ms']:.0f} ms, cuda {gpu_d['ms']:.1f} ms")
    for method in ("darts", "gdas", "pcdarts"):
        r, h = supernet_steps("cuda", method, 12), supernet_steps("cuda", method, 12, amp="fp16")
        print(f"  {method:8s} cuda step fp32 {r['ms']:.1f} ms / amp fp16 {h['ms']:.1f} ms, peak memory "
              f"{r['peak_mb']:.0f} / {h['peak_mb']:.0f} MB, alpha max |fp32 - fp16| "
              f"{float((r['alphas'] - h['alphas']).abs().max()):.2e}")


if __name__ == "__main__":
    main()
