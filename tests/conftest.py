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


def sigkill_then_resume(cmd: list[str], db: Path, budget: int, at_least: int = 3) -> None:
    """Run a search command, SIGKILL it once ``at_least`` trials finished, resume it with ``--resume``, and
    check that the budget is reached with no finished trial lost, changed or repeated."""
    import os
    import signal
    import sqlite3
    import subprocess
    import time

    from nasdsl.store import Store

    def finished(st):
        return [t for t in st.trials() if t.status in ("completed", "failed")]

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if db.exists():
                try:
                    with Store(db) as st:
                        if len(finished(st)) >= at_least:
                            break
                except sqlite3.OperationalError:
                    continue
        assert proc.poll() is None, "the search ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(db) as st:
        before = finished(st)
    assert at_least <= len(before) < budget
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    with Store(db) as st:
        after = finished(st)
        assert len(after) == budget  # the budget, counted across the kill
        assert len({t.hash for t in after}) == budget  # nothing trained twice
        kept = {t.number: (t.hash, t.value, t.status) for t in after}
        for t in before:  # nothing finished before the kill was lost or changed
            assert kept[t.number] == (t.hash, t.value, t.status)
        numbers = [t.number for t in st.trials()]
        assert numbers == list(range(len(numbers)))
