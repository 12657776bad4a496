"""``TorchBackend``: build, measure and export models from the Architecture IR."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import torch
from torch import nn

from nasdsl import plugins
from nasdsl.architecture import Architecture
from nasdsl.files import write_atomic

from .builder import BuildError, _no_implementation, build, set_drop_path


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextlib.contextmanager
def forward_hooks(pairs: Iterable[tuple[nn.Module, Callable[..., Any]]]) -> Iterator[None]:
    """Each ``(module, hook)`` registered as a forward hook inside the block, and removed after it (an error too)."""
    handles = [m.register_forward_hook(h) for m, h in pairs]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _multiply_adds(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of ``model(x)`` for one example: every Conv2d and Linear (DARTS' auxiliary head left out)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, out) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    pairs = []
    for name, m in model.named_modules():
        if name == "aux" or name.startswith("aux."):
            continue  # DARTS' auxiliary head is a training aid, not part of the network (as in count_params)
        if isinstance(m, nn.Conv2d):
            pairs.append((m, conv_hook))
        elif isinstance(m, nn.Linear):
            pairs.append((m, linear_hook))
    with forward_hooks(pairs), torch.no_grad():
        model(x)
    return int(total)


class _Unbuildable(Exception):
    """The torch backend has no implementation of an op."""


@functools.lru_cache(maxsize=4096)
def _op_cost(base: str, args_json: str, in_shape: tuple[int, ...]) -> tuple[int, int]:
    """(trainable parameters, multiply-adds) of one op, built and run on the meta device."""
    factory = plugins.ops.get_op(base, "torch")
    if factory is None:
        raise _Unbuildable(base)
    args = json.loads(args_json)
    try:
        with torch.device("meta"):
            module = factory(args, in_shape)
        x = torch.zeros(1, *in_shape, device="meta")
    except NotImplementedError:  # a plugin's op that cannot be made on the meta device: make it for real
        module, x = factory(args, in_shape), torch.zeros(1, *in_shape)
    module.eval()
    params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    try:
        flops = _multiply_adds(module, x)
    except NotImplementedError:  # an op with no meta kernel: its parameters are known, run it on the CPU
        if x.device.type != "meta":
            raise
        real = factory(args, in_shape).eval()
        flops = _multiply_adds(real, torch.zeros(1, *in_shape))
    return int(params), flops


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchBackend:
    """The PyTorch backend: ``build(arch) -> nn.Module`` plus params, FLOPs and export."""

    name = "torch"

    def build(self, arch: Architecture, *, auxiliary: bool = False, drop_path: bool = True) -> nn.Module:
        """Build ``arch`` into a module whose forward is generated straight-line code."""
        return build(arch, lambda op: plugins.ops.get_op(op, "torch"), drop_path=drop_path, auxiliary=auxiliary)

    def train(self, arch: Architecture, data, recipe=None, *, progress: bool = False, checkpoint=None,
              resume: bool = False, save=None, on_epoch=None):
        """Build ``arch`` and train it on ``data``: returns a FitResult (metrics incl. params and flops, history).

        The recipe is the defaults, then the architecture's ``hp`` values, then ``recipe``
        (a Recipe, or a dict of field overrides).
        """
        from .train import Recipe, fit

        base = Recipe().from_hyperparameters(arch.hyperparameters)
        if isinstance(recipe, Recipe):
            base = recipe
        elif recipe:
            base = base.updated(**recipe)
        torch.manual_seed(base.seed)  # the initial weights depend on the seed too
        model = self.build(arch, auxiliary=base.auxiliary_weight > 0)
        params = self.count_params(model)
        flops = self.flops(model, arch.input_shape)
        result = fit(model, data, base, progress=progress, checkpoint=checkpoint, resume=resume, on_epoch=on_epoch)
        result.metrics.update(params=float(params), flops=float(flops))
        if save:
            export = self.build(arch)
            export.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("aux.")})
            self.export_torchscript(export, save)
        result.model = model
        return result

    @staticmethod
    def count_params(model: nn.Module, trainable_only: bool = True, exclude_aux: bool = True) -> int:
        total = 0
        for name, p in model.named_parameters():
            if exclude_aux and name.startswith("aux."):
                continue
            if p.requires_grad or not trainable_only:
                total += p.numel()
        return total

    @staticmethod
    def flops(model: nn.Module, input_shape: Sequence[int]) -> int:
        """Multiply-adds of one forward pass on one example (convolutions and linear layers)."""
        was = model.training
        model.eval()
        try:
            return _multiply_adds(model, torch.zeros(1, *input_shape, device=_device_of(model)))
        finally:
            model.train(was)

    @staticmethod
    def cost(arch: Architecture) -> dict[str, float]:
        """``params`` and ``flops`` of the model ``build(arch)`` would make, without making it.

        Each op of the IR is built on PyTorch's ``meta`` device from its arguments and its input's
        shape (tensors with a shape and no storage) and run there once, so a 12,000-channel conv costs
        no memory; an op's figures are cached by (op, arguments, input shape), so the repeated cells of
        a network and later architectures of the same space cost a dictionary lookup.  The counts are
        those of :meth:`count_params` and :meth:`flops` on the built model (a test checks it for every
        reference space).
        """
        g = arch.graph
        params = flops = 0
        for n in arch.ops():
            a = g.nodes[n]
            base = a.get("base") or a["op"]
            in_shape = tuple(int(v) for v in g.nodes[arch.inputs_of(n)[0]]["shape"])
            args = dict(a.get("args") or {})
            try:
                p, f = _op_cost(base, json.dumps(args, sort_keys=True, default=str), in_shape)
            except _Unbuildable:
                raise BuildError(_no_implementation(a["op"], base, a.get("span", "?"))) from None
            except (ValueError, TypeError) as e:
                raise BuildError(f"op '{a['op']}' (at {a.get('span', '?')}): {e}") from None
            params += p
            flops += f
        return {"params": float(params), "flops": float(flops)}

    @staticmethod
    def latency_table(space: Any, input_shape: Optional[Sequence[int]] = None, **options: Any) -> dict[str, Any]:
        """Every candidate op of ``space`` timed at its place on a device: :func:`.latency.measure_table`."""
        from .latency import measure_table

        return measure_table(space, input_shape, **options)

    @staticmethod
    def latency(model: nn.Module, input_shape: Sequence[int], **options: Any) -> tuple[float, float]:
        """(median, interquartile range) in ms of the model's forward: :func:`.latency.measure_model`."""
        from .latency import measure_model

        return measure_model(model, input_shape, **options)

    @staticmethod
    def output_shape(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, ...]:
        was = model.training
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape, device=_device_of(model)))
        model.train(was)
        if isinstance(out, tuple):
            out = out[0]
        return tuple(out.shape[1:])

    @staticmethod
    def export_torchscript(model: nn.Module, path: str | Path) -> Path:
        """A TorchScript file that loads with ``torch.jit.load`` where nasdsl is not installed."""
        model = model.eval()
        with warnings.catch_warnings():
            # raised by torch.fx's own GraphModule.__init__, not by the model: nothing to act on
            warnings.filterwarnings("ignore", message="The TorchScript type system doesn't support instance-level")
            scripted = torch.jit.script(model)
        buf = io.BytesIO()
        torch.jit.save(scripted, buf)  # in memory first: torch's file writer aborts the process on a full disk
        return write_atomic(path, buf.getvalue(), "TorchScript file")

    @staticmethod
    def export_onnx(model: nn.Module, path: str | Path, input_shape: Sequence[int]) -> Path:
        """An ONNX file with a dynamic batch dimension."""
        model = model.eval()
        path = Path(path)
        example = torch.randn(2, *input_shape)
        with warnings.catch_warnings():
            # the TorchScript-based exporter warns that it is deprecated and about constant folding of
            # strided slices (FactorizedReduce's shift); the output is checked against PyTorch in the tests
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message="Constant folding")
            buf = io.BytesIO()
            torch.onnx.export(model, (example,), buf, input_names=["x"], output_names=["logits"],
                              dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        return write_atomic(path, buf.getvalue(), "ONNX file")


__all__ = ["TorchBackend", "BuildError", "set_drop_path", "default_device", "forward_hooks"]

