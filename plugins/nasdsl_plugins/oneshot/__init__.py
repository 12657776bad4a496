"""One-shot search: strategies that train one supernet holding the whole space.

``darts``  DARTS (first or second order) on the supernet of any space the builder can relax
``snas``   SNAS: single-level, relaxed Gumbel-softmax, resource penalty
``gdas``   GDAS: one op sampled per decision (hard Gumbel-softmax), only it computed
``drnas``  DrNAS: Dirichlet-distributed mixing weights
``pcdarts`` PC-DARTS: partial channels and edge normalisation
``pdarts`` P-DARTS: stages of growing depth with shrinking candidate sets

DARTS+ early stopping (``-S early_stop=N``) is an option of every one of them.
"""

from __future__ import annotations

from nasdsl import hookimpl

from .strategies import Darts, Drnas, Gdas, Pcdarts, Pdarts, Snas


@hookimpl
def register_strategies(register) -> None:
    for cls in (Darts, Snas, Gdas, Drnas, Pcdarts, Pdarts):
        register(cls.name, cls)


__all__ = ["Darts", "Drnas", "Gdas", "Pcdarts", "Pdarts", "Snas"]
