"""Helpers for plugin authors' tests (pytest fixtures and a context manager).

    from nasdsl.testing import registered

    def test_my_strategy(tmp_path, synthetic_estimator):
        with registered(MyPlugin()):
            search = Search("spaces/nasbench201.nas", strategy="mine", estimator=synthetic_estimator,
                            budget=20, store=tmp_path / "s.db", executor="inprocess")
            result = search.run()

Use it in conftest.py: ``pytest_plugins = ["nasdsl.testing"]`` gives the
fixtures ``nasdsl_plugins`` (the plugin manager, registries reset around the
test), ``synthetic_estimator`` (a fast, deterministic estimator for checking
strategies) and ``reference_space`` (loads a file of ``spaces/`` by name).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from . import hookimpl, plugins
from .compiler import packaged_spaces_dir
from .estimator import Estimator, TrialSpec
from .space import Space


@contextlib.contextmanager
def registered(*objs: Any, name: str | None = None) -> Iterator[Any]:
    """Register plugin objects for the duration of a ``with`` block; unregister in ``finally``.

    Every registry is refilled on next use, the language's vocabulary included: ops a plugin
    declares with ``register_primitives`` can be used in ``Space.from_text`` inside the block
    and are unknown again after it.
    """
    pm = plugins.plugin_manager()
    names = []
    try:
        for i, obj in enumerate(objs):
            names.append(pm.register(obj, name=name if name and len(objs) == 1 else (f"{name}-{i}" if name else None)))
        for r in plugins.REGISTRIES:
            r.reset()
        yield pm
    finally:
        for n in names:
            if n is not None:
                pm.unregister(name=n)
        for r in plugins.REGISTRIES:
            r.reset()


class SyntheticEstimator(Estimator):
    """A fast deterministic stand-in for training: a score from the genotype's canonical hash and its ops.

    The score rewards convolution ops (so strategies have something to climb) plus a hash-derived
    tie-breaker; it is for testing strategies and the search loop, never for results.
    """

    name = "synthetic"
    objective = "valid_acc"

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        ops = [a.get("base", "") for _, a in trial.arch.graph.nodes(data=True) if a["kind"] == "op"]
        conv = sum(1 for o in ops if "conv" in o) / max(1, len(ops))
        h = int(hashlib.sha256(trial.arch.canonical_hash().encode()).hexdigest()[:8], 16) / 16 ** 8
        return {"valid_acc": 0.8 * conv + 0.2 * h, "test_acc": 0.8 * conv + 0.2 * (1 - h), "nodes_seen": float(len(ops))}


class _SyntheticPlugin:
    @hookimpl
    def register_estimators(self, register):
        register("synthetic", SyntheticEstimator)


@pytest.fixture
def nasdsl_plugins():
    plugins.reset()
    yield plugins.plugin_manager()
    plugins.reset()


@pytest.fixture
def synthetic_estimator():
    with registered(_SyntheticPlugin(), name="nasdsl-testing-synthetic"):
        yield "synthetic"


@pytest.fixture
def reference_space():
    def load(name: str, **kw: Any) -> Space:
        return Space.from_file(Path(packaged_spaces_dir()) / name, **kw)

    return load
