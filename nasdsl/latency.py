"""Latency tables: what ``nasdsl latency`` writes, and the latency of an architecture they predict.

A table (JSON, written by the PyTorch backend's ``latency_table``: see
``nasdsl_plugins/torch_backend/latency.py``) holds, for every distinct op of a space's supernet at its input
shape (its base op, lowered arguments and input shape: :func:`op_key`), the median and interquartile range in
milliseconds of its forward on one device, with the device, torch's version, the threads and the batch.

:func:`predict` gives an architecture's latency from a table: the sum of its ops' (and sum/product merges')
medians.  Concats, the model's own Python overhead and anything between the ops are not in it: it ranks
architectures, and estimates the time rather than giving it.  An architecture whose op the table lacks
(another space, other parameters, an op whose input is narrower in that child than in the supernet, as after
a width choice) is refused naming the op and its shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .errors import NasdslError

VERSION = 1
MERGES = ("sum", "mul")  # merges a table times (a concat is a copy, and is not in a prediction)
MAX_MERGE = 8  # a table times sums and products of 2 to MAX_MERGE inputs


class LatencyError(NasdslError):
    """A latency table that is missing, damaged, or lacks an op of the architecture asked about."""


def op_key(base: str, args: dict[str, Any], in_shape: Sequence[int]) -> str:
    """The table's key of an op: its base op, lowered arguments and input shape (batch left out)."""
    return json.dumps([base, {k: args[k] for k in sorted(args)}, [int(s) for s in in_shape]], default=str)


def save_table(table: dict[str, Any], path: str | Path) -> Path:
    from .files import write_atomic

    return write_atomic(Path(path), json.dumps(table, indent=1, default=str) + "\n", "latency table")


def load_table(path: str | Path) -> dict[str, Any]:
    """A table written by :func:`save_table` (plain JSON: nothing in it runs)."""
    from .files import read_json

    p = Path(path)
    table = read_json(p, "latency table", LatencyError, f"make one with: nasdsl latency SPACE.nas -o {p}")
    if not isinstance(table, dict) or table.get("version") != VERSION or not isinstance(table.get("ops"), dict):
        raise LatencyError(f"{p} is not a nasdsl latency table (version {VERSION})")
    return table


def arch_ops(arch: Any) -> list[tuple[str, str, dict, tuple]]:
    """(node, base op, args, input shape) of every op and every sum or product of two or more inputs of a realized
    architecture (a merge's "args" are its number of inputs)."""
    g = arch.graph
    out = []
    for n in arch.topological():
        a = g.nodes[n]
        ins = arch.inputs_of(n)
        if a["kind"] == "op":
            out.append((n, a.get("base") or a["op"], dict(a.get("args") or {}), tuple(g.nodes[ins[0]]["shape"])))
        elif a["kind"] in MERGES and len(ins) > 1:
            out.append((n, a["kind"], {"inputs": len(ins)}, tuple(a["shape"])))
    return out


def predict(table: dict[str, Any], arch: Any) -> float:
    """The architecture's latency in milliseconds by the table: the sum of its ops' (and merges') medians."""
    total = 0.0
    for n, base, args, shape in arch_ops(arch):
        row = table["ops"].get(op_key(base, args, shape))
        if row is None:
            raise LatencyError(f"the latency table (of {table.get('space')}, input {table.get('input_shape')}) has no "
                               f"op {base}({', '.join(f'{k}={v}' for k, v in sorted(args.items()))}) at input "
                               f"{list(shape)} (node '{n}'); measure this space at this input: nasdsl latency")
        total += float(row["median_ms"])
    return total


__all__ = ["LatencyError", "MAX_MERGE", "MERGES", "VERSION", "arch_ops", "load_table", "op_key", "predict", "save_table"]
