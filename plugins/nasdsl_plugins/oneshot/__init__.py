"""One-shot search: strategies that train one supernet holding the whole space.

``darts``  DARTS (first or second order) on the supernet of any space the builder can relax
"""

from __future__ import annotations

from nasdsl import hookimpl

from .strategies import Darts


@hookimpl
def register_strategies(register) -> None:
    register("darts", Darts)


__all__ = ["Darts"]
