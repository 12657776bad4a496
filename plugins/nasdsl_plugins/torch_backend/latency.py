"""Latency, measured on this device: the table ``nasdsl latency SPACE.nas`` writes (see :mod:`nasdsl.latency`).

:func:`measure_table` walks the space's supernet: every op node (fixed ops, each option of an op choice,
each candidate edge's ops) at its input shape, for an op with value choices on its arguments
(``mbconv(k = {3, 5, 7}, e = {3, 4, 6})``) every combination of their values, and every sum or product merge
at its shape for 2 to ``MAX_MERGE`` inputs.  Each distinct op is built alone with the PyTorch backend's factory,
in eval mode on the chosen device, and its forward timed on a batch of ``batch`` random inputs: ``warmup``
untimed runs, then ``repeats`` timed ones (CUDA synchronised around each), taken in ``ROUNDS`` rounds through
all the ops, kept as the median and the spread (the interquartile range) in milliseconds.  :func:`measure_model` times a whole built model the same way.
"""

from __future__ import annotations

import functools
import operator
import platform
import statistics
import time
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from nasdsl.latency import MAX_MERGE, MERGES, VERSION, LatencyError, op_key



def space_ops(sup: Any) -> dict[str, tuple]:
    """Every distinct op of a supernet (built with or without weights): key -> (base, args, input shape), fixed
    and candidate ops and every combination of an op's value choices."""
    out: dict[str, tuple] = {}
    for n in sup.ir.nodes("op"):
        for base, args, shape in [sup._spec[n], *sup._variants.get(n, [])]:
            out.setdefault(op_key(base, args, shape), (base, dict(args), tuple(shape)))
    g = sup.ir.graph
    for n in sup.ir.nodes():
        a = g.nodes[n]
        if a["kind"] != "merge" or a.get("shape") is None:
            continue
        modes = [m for m in ([a["mode"]] if not a.get("decision") else sup.space.decisions[a["decision"]].options)
                 if m in MERGES]
        for mode in modes:  # a sum or product of 2 to MAX_MERGE inputs of the merge's shape
            for k in range(2, MAX_MERGE + 1):
                out.setdefault(op_key(mode, {"inputs": k}, a["shape"]), (mode, {"inputs": k}, tuple(a["shape"])))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> tuple[float, float, list]:
    """(median, interquartile range, every timing), in milliseconds, of ``fn()`` under no_grad."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            times.append((time.perf_counter() - t) * 1000.0)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return statistics.median(times), q[2] - q[0], times


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


ROUNDS = 3  # a table's timings are taken in this many rounds over all the ops


def _op_fn(base: str, args: dict, shape: tuple, batch: int, device: torch.device) -> Callable[[], Any]:
    """The forward of one op (or merge) alone on a random batch."""
    from .supernet import _get_op

    if base in MERGES:
        xs = [torch.randn(batch, *shape, device=device) for _ in range(args["inputs"])]
        return functools.partial(functools.reduce, operator.add if base == "sum" else operator.mul, xs)
    module = _get_op(base)(dict(args), shape).to(device).eval()
    return functools.partial(module, torch.randn(batch, *shape, device=device))


def measure_table(space: Any, input_shape: Optional[Sequence[int]] = None, batch: int = 1, repeats: int = 30,
                  warmup: int = 5, device: str | torch.device = "cpu",
                  progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Time every distinct op of ``space`` (see the module's docstring) and return the table."""
    from .supernet import Supernet

    if batch < 1 or repeats < 1 or warmup < 0:
        raise LatencyError(f"batch and repeats must be at least 1 and warmup at least 0; got {batch}, {repeats}, {warmup}")
    device = torch.device(device)
    sup = Supernet(space, input_shape, weights=False)
    ops = space_ops(sup)
    fns = {key: _op_fn(base, args, shape, batch, device) for key, (base, args, shape) in sorted(ops.items())}
    times: dict[str, list[float]] = {key: [] for key in fns}
    rounds = min(ROUNDS, repeats)
    done = 0
    # the repeats of each op are spread over rounds through all the ops, so a burst of load on the machine
    # lands on many ops a little, not on one op entirely (which would skew every architecture using it)
    for r in range(rounds):
        n = repeats // rounds + (1 if r < repeats % rounds else 0)
        for key, fn in fns.items():
            times[key] += time_forward(fn, device, n, warmup if r == 0 else min(warmup, 1))[2]
            done += 1
            if progress is not None:
                progress(done, rounds * len(fns))
    rows: dict[str, dict[str, Any]] = {}
    for key, (base, args, shape) in sorted(ops.items()):
        t = times[key]
        q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
        rows[key] = {"op": base, "args": args, "input_shape": list(shape), "median_ms": statistics.median(t),
                     "spread_ms": q[2] - q[0]}
    g = sup.ir.graph
    shape = next(tuple(g.nodes[n]["shape"]) for n in sup.ir.nodes() if g.nodes[n]["kind"] == "input")
    return {"version": VERSION, "device": str(device), "device_name": device_name(device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "batch": batch, "repeats": repeats, "warmup": warmup,
            "space": space.name, "params": dict(space._params_override), "input_shape": list(shape), "ops": rows}


def measure_model(model: nn.Module, input_shape: Sequence[int], batch: int = 1, repeats: int = 30, warmup: int = 5,
                  device: str | torch.device = "cpu") -> tuple[float, float]:
    """(median, interquartile range) in milliseconds of the whole model's forward, in eval mode."""
    device = torch.device(device)
    was = model.training
    model.eval()
    p = next(iter(model.parameters()), None)
    x = torch.randn(batch, *input_shape, device=device, dtype=p.dtype if p is not None else torch.float32)
    try:
        median, spread, _ = time_forward(lambda: model(x), device, repeats, warmup)
    finally:
        model.train(was)
    return median, spread


__all__ = ["LatencyError", "device_name", "measure_model", "measure_table", "space_ops", "time_forward"]
