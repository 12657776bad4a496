"""The GPU check of the PyTorch backend, as one prepared script for a machine with CUDA.

1. Trains the digits DARTS_V2 network (C = 8, 3 cells) for a few hundred steps on
   the CPU and on CUDA (mixed precision) from the same seed, and compares the loss
   trend (mean loss over the first and last 50 steps) and the final accuracies.
2. Times forward + backward of the DARTS_V2 CIFAR network (C = 36, 20 cells,
   3,349,342 parameters) at batch 96 on CUDA, eager and with AMP.

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


if __name__ == "__main__":
    main()
