"""Shared fixtures: the reference spaces, compiled once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from nasdsl import Space

ROOT = Path(__file__).resolve().parent.parent
SPACES_DIR = ROOT / "spaces"
SPACE_FILES = sorted(SPACES_DIR.glob("*.nas"))

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def refused_alike(space: Space, values: dict) -> str:
    """Realize ``values`` both ways — walking the language and selecting in the supernet IR — and check
    that both refuse it with one message (its place, line and caret included); that message."""
    from nasdsl.errors import NasError

    with pytest.raises(NasError) as walk:
        space.realize_walk(values)
    with pytest.raises(NasError) as fast:
        space.realize(values)
    assert str(fast.value) == str(walk.value)
    return str(fast.value)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.fixture(autouse=True)
def _same_threads_for_every_test():
    """Each test starts with the process's thread settings as the session began: the thread variables that
    subprocesses inherit, and torch's own thread count (a test or a library that changes them, as
    dask.distributed's Nanny does in the spawning process, would change every later test's numerics)."""
    import os
    import sys

    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads if threads is not None else _SESSION_THREADS)


_SESSION_THREADS = __import__("os").cpu_count() or 1


@functools.cache
def load(name: str) -> Space:
    return Space.from_file(SPACES_DIR / name)


@pytest.fixture(params=[p.name for p in SPACE_FILES], ids=[p.stem for p in SPACE_FILES])
def space(request) -> Space:
    return load(request.param)
