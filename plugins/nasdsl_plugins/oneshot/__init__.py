"""One-shot search: strategies that train one supernet holding the whole space.

``darts``  DARTS (first or second order) on the supernet of any space the builder can relax
``snas``   SNAS: single-level, relaxed Gumbel-softmax, resource penalty
``gdas``   GDAS: one op sampled per decision (hard Gumbel-softmax), only it computed
``drnas``  DrNAS: Dirichlet-distributed mixing weights
``pcdarts`` PC-DARTS: partial channels and edge normalisation
``pdarts`` P-DARTS: stages of growing depth with shrinking candidate sets

``proxyless`` ProxylessNAS: binary gates, two paths per architecture step, the expected latency in the loss
``fbnet``  FBNet: Gumbel-softmax, the loss CE · α · log(LAT)^β
``ofa``    Once-for-All: progressive shrinking (full, kernel, depth, width) with distillation, then evolution
``oneshot`` Bender et al.'s one-shot model: the whole supernet under path dropout, random children scored
``rsws``   RS-WS: uniform single-path training, random children scored on the shared weights
``spos``   SPOS: uniform single-path training, evolution on inherited weights after BN recalibration
``fairnas`` FairNAS: every candidate trained once per step, then SPOS' evolution
``enas``   ENAS: an LSTM controller samples the children, trained by REINFORCE on their accuracy

DARTS+ early stopping (``-S early_stop=N``) is an option of every one of them.
"""

from __future__ import annotations

from nasdsl import hookimpl

from .strategies import (Darts, Drnas, Enas, Fairnas, Fbnet, Gdas, Ofa, Oneshot, Pcdarts, Pdarts, Proxyless, Rsws,
                         Snas, Spos)


@hookimpl
def register_strategies(register) -> None:
    for cls in (Darts, Snas, Gdas, Drnas, Pcdarts, Pdarts, Proxyless, Fbnet, Oneshot, Rsws, Spos, Fairnas, Ofa,
                Enas):
        register(cls.name, cls)


__all__ = ["Darts", "Drnas", "Enas", "Fairnas", "Fbnet", "Gdas", "Ofa", "Oneshot", "Pcdarts", "Pdarts", "Proxyless",
           "Rsws", "Snas", "Spos"]
