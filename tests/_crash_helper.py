"""A trial runner whose worker process dies on some architectures (for the worker-crash test).

It lives in a module of its own so a spawned pool worker can import it by name.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from nasdsl.search import run_trial


def kills_its_worker(workdir: str) -> bool:
    """About half of the architectures, fixed by their hash (the trial folder's name)."""
    return int(Path(workdir).name[:2], 16) % 2 == 0


def crash_some(payload: dict) -> dict:
    if kills_its_worker(payload["workdir"]):
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would, every time
    return run_trial(payload)


def fail_some(payload: dict) -> dict:
    """The same half of the architectures fails inside the trial: its estimator cannot be built."""
    if kills_its_worker(payload["workdir"]):
        payload = {**payload, "estimator_options": {**payload["estimator_options"],
                                                    "latency_table": "/nonexistent/nasdsl-table.json"}}
    return run_trial(payload)


def raises(payload: dict) -> dict:
    """Not a trial's failure: the runner itself raises (as an executor whose cluster went away would)."""
    if payload["number"] >= 2:
        raise RuntimeError("the runner is gone")
    return run_trial(payload)
