"""The PyTorch backend plugin: op implementations, the model builder, training.

Registered through the ``nasdsl`` entry-point group like any third-party
plugin.  Torch is imported only when a hook runs, so loading plugins stays cheap.
"""

from __future__ import annotations

from nasdsl import hookimpl


@hookimpl
def register_ops(register):
    from .ops import register_all

    register_all(register)


@hookimpl
def register_backends(register):
    from .backend import TorchBackend

    register("torch", TorchBackend)
