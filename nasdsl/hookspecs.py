"""The hooks every nasdsl plugin may implement (pluggy, project name ``nasdsl``).

Each registration hook receives a ``register`` callback and calls it once per
thing it adds, e.g. ``register("evolution", RegularizedEvolution)``.  The core
owns the name -> object registries (``nasdsl.plugins.get_strategy`` ...); a
duplicate name is an error, an unknown name lists what is available.

``register_primitives`` is the one hook whose callback takes more than an
object: it declares an op to the *language* (its signature and shape rule), so
that ``.nas`` files can use it; ``register_ops`` then gives the op an
implementation for a backend.  The declaring module must not import a backend
(torch): the language loads it to compile a space.

A plugin is a module with ``@hookimpl`` functions, listed in the ``nasdsl``
entry-point group of its package (the built-ins in ``plugins/`` are loaded the
same way).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, TypeVar

import pluggy

hookspec = pluggy.HookspecMarker("nasdsl")
hookimpl = pluggy.HookimplMarker("nasdsl")

T = TypeVar("T", contravariant=True)


class Register(Protocol[T]):
    """``register(name, obj, **meta)``: add ``obj`` under ``name``."""

    def __call__(self, name: str, obj: T, **meta: Any) -> None: ...


ShapeFunction = Callable[[Mapping[str, Any], tuple[int, ...]], tuple[int, ...]]


class RegisterPrimitive(Protocol):
    """``register(name, params=(), rule=None, *, shape=None, doc="", aliases=None)``: declare op ``name``.

    ``params`` are ``(name, default)`` pairs in positional order (a bare name is required; defaults
    may be ``nasdsl.primitives.SAME``, ``REQUIRED`` or ``OPTIONAL``, keyword-only and left out of the
    resolved arguments unless given); ``rule`` is one of
    ``nasdsl.primitives.RULES``, or ``shape(args, in_shape) -> out_shape`` gives the op's own rule
    (raising ``nasdsl.primitives.ShapeError`` in words); ``aliases`` maps alias -> fixed arguments.
    """

    def __call__(self, name: str, params: Iterable[Any] = (), rule: Optional[str] = None, *,
                 shape: Optional[ShapeFunction] = None, doc: str = "",
                 aliases: Optional[Mapping[str, Mapping[str, Any]]] = None) -> None: ...


@hookspec
def register_primitives(register: RegisterPrimitive) -> None:
    """Runs when the language first meets a name outside the core ops; declares ops to it (signature, shape rule): ``register("swish", params=(("beta", 1),), rule="keep", doc="x * sigmoid(beta x)")``."""


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


HOOKS = ("register_strategies", "register_estimators", "register_backends", "register_primitives", "register_ops",
         "register_datasets", "register_executors")
