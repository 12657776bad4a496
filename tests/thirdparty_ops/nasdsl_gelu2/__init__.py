"""nasdsl-gelu2: the tanh-approximated GELU as a nasdsl op, shipped as a third-party plugin.

``register_primitives`` declares ``gelu2`` to the language (no arguments, shape
kept); ``register_ops`` implements it for the ``torch`` backend.  This module
imports no torch, so compiling a ``.nas`` file that uses ``gelu2`` stays
torch-free; the implementation is imported only when a model is built.
"""

from __future__ import annotations

from nasdsl import hookimpl

__version__ = "0.2.0"


@hookimpl
def register_primitives(register) -> None:
    register("gelu2", params=(), rule="keep", doc="GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))")


def make_gelu2(args, in_shape):
    """The ``torch`` factory: ``(args, in_shape) -> nn.Module``."""
    from .torch_ops import Gelu2

    return Gelu2()


@hookimpl
def register_ops(register) -> None:
    register("gelu2", make_gelu2, backend="torch")


__all__ = ["make_gelu2", "register_ops", "register_primitives"]
