"""The hooks every nasdsl plugin may implement (pluggy, project name ``nasdsl``).

Each registration hook receives a ``register`` callback and calls it once per
thing it adds, e.g. ``register("evolution", RegularizedEvolution)``.  The core
owns the name -> object registries (``nasdsl.plugins.get_strategy`` ...); a
duplicate name is an error, an unknown name lists what is available.

A plugin is a module with ``@hookimpl`` functions, listed in the ``nasdsl``
entry-point group of its package (the built-ins in ``plugins/`` are loaded the
same way).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, TypeVar

import pluggy

hookspec = pluggy.HookspecMarker("nasdsl")
hookimpl = pluggy.HookimplMarker("nasdsl")

T = TypeVar("T", contravariant=True)


class Register(Protocol[T]):
    """``register(name, obj, **meta)``: add ``obj`` under ``name``."""

    def __call__(self, name: str, obj: T, **meta: Any) -> None: ...


@hookspec
def register_strategies(register: Register[type]) -> None:
    """Runs when strategies are first needed; adds search strategies: ``register("evolution", RegularizedEvolution)``."""


@hookspec
def register_estimators(register: Register[type]) -> None:
    """Runs when estimators are first needed; adds ways to score a genotype: ``register("train", FullTraining)``."""


@hookspec
def register_backends(register: Register[type]) -> None:
    """Runs when backends are first needed; adds builders from Architecture IR to models: ``register("torch", TorchBackend)``."""


@hookspec
def register_ops(register: Register[Callable[..., Any]]) -> None:
    """Runs when a backend builds its first model; adds op implementations:
    ``register("sep_conv", make_sep_conv, backend="torch")`` where the factory takes
    ``(args: dict, in_shape: tuple) -> module``."""


@hookspec
def register_datasets(register: Register[Callable[..., Any]]) -> None:
    """Runs when datasets are first needed; adds data sources: ``register("digits", load_digits)``."""


@hookspec
def register_executors(register: Register[type]) -> None:
    """Runs when executors are first needed; adds places trials run: ``register("local", LocalExecutor)``."""


HOOKS = ("register_strategies", "register_estimators", "register_backends", "register_ops",
         "register_datasets", "register_executors")
