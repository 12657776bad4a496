"""Training and evaluation of a built model: the recipe, the loop, checkpoints.

Estimator-friendly: ``fit(model, data, recipe)`` returns a dict of metrics and
a per-epoch history; nothing is printed unless ``progress=True`` (a rich
progress bar).  Seeded and deterministic on the CPU; on CUDA with automatic
mixed precision.  Checkpoints are plain dicts of tensors and numbers, loaded
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasdsl.datasets import Dataset
from nasdsl.errors import NasdslError
from nasdsl.files import write_atomic
from nasdsl.plugins import convert_option

from .builder import set_drop_path


class TrainingError(NasdslError):
    """A bad recipe, or a run that diverged (NaN loss)."""


@dataclass
class Recipe:
    """How to train. Every field can come from the command line or from ``hp`` lines of the .nas file."""

    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    schedule: str = "cosine"  # cosine | constant
    grad_clip: float = 5.0  # 0: off
    label_smoothing: float = 0.0
    drop_path: float = 0.0  # DARTS: raised linearly from 0 to this over the epochs
    auxiliary_weight: float = 0.0  # > 0 trains DARTS' auxiliary head with this weight
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA
    max_steps: int = 0  # > 0: stop after this many optimizer steps (a lower fidelity)

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise TrainingError(f"unknown optimizer '{self.optimizer}'; available: sgd, adam, adamw")
        if self.schedule not in ("cosine", "constant"):
            raise TrainingError(f"unknown schedule '{self.schedule}'; available: cosine, constant")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"lr must be a positive number; got {self.lr}")
        for name in ("weight_decay", "grad_clip", "auxiliary_weight", "max_steps"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise TrainingError(f"{name} must be 0 or more; got {v}")
        for name in ("momentum", "drop_path", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise TrainingError(f"{name} must be in [0, 1); got {getattr(self, name)}")
        if not (self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise TrainingError(f"unknown device '{self.device}'; available: auto, cpu, cuda, cuda:N")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def updated(self, **changes: Any) -> "Recipe":
        """A copy with some fields changed (unknown names are an error; values are converted to the field's type)."""
        known = {f.name: f for f in fields(self)}
        out = asdict(self)
        for k, v in changes.items():
            if k not in known:
                raise TrainingError(f"unknown recipe field '{k}'; fields: {', '.join(known)}")
            out[k] = _convert(k, type(out[k]), v)
        return Recipe(**out)

    def from_hyperparameters(self, hp: dict[str, Any]) -> "Recipe":
        """Apply the ``hp`` values of an architecture whose names are recipe fields; others are ignored."""
        return self.updated(**{k: v for k, v in hp.items() if k in self.names()})


def _convert(name: str, typ: type, v: Any) -> Any:
    """A recipe value as its field's type; a value that is not one (``batch_size=abc``, ``epochs=2.5``) is an error."""
    try:
        return convert_option(typ, v)
    except ValueError as e:
        raise TrainingError(f"recipe field '{name}' {e}") from None


def device_of(recipe: Recipe) -> torch.device:
    if recipe.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if recipe.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' asked for, but no GPU is available")
    return torch.device(recipe.device)


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, gen: torch.Generator | None):
    n = len(y)
    idx = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        j = idx[i:i + batch_size]
        yield x[j], y[j]


def evaluate(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *,
             batch_size: int = 256, device: torch.device | str = "cpu") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y)."""
    device = torch.device(device)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    was = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in _batches(xt, yt, batch_size, None):
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            if isinstance(out, tuple):
                out = out[0]
            loss_sum += F.cross_entropy(out.float(), yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()
    model.train(was)
    n = max(1, len(yt))
    return loss_sum / n, correct / n


@dataclass
class FitResult:
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    model: Any = None


def _total_steps(recipe: Recipe, n_train: int) -> int:
    """The optimizer steps a run of ``recipe`` on ``n_train`` examples takes (``max_steps`` may cut it)."""
    total = math.ceil(n_train / recipe.batch_size) * recipe.epochs
    return min(total, recipe.max_steps) if recipe.max_steps else total


def epochs_run(recipe: Recipe, n_train: int) -> int:
    """The epochs :func:`fit` trains (``max_steps`` may end it before ``recipe.epochs``)."""
    return math.ceil(_total_steps(recipe, n_train) / math.ceil(n_train / recipe.batch_size))


def fit(model: nn.Module, data: Dataset, recipe: Recipe = Recipe(), *, progress: bool = False,
        checkpoint: str | Path | None = None, resume: bool = False, until_epoch: int | None = None,
        console: Any = None, on_epoch: Callable[[list[dict[str, float]]], bool] | None = None) -> FitResult:
    """Train ``model`` on ``data.train``; report train loss, valid and test accuracy.

    ``until_epoch`` stops after that many epochs of the recipe's schedule (the learning rate
    still follows the full ``recipe.epochs``); with a checkpoint, a later call with
    ``resume=True`` continues the same run — what successive halving needs.  ``on_epoch(history)``
    is called after each epoch with every epoch's record so far; a true return stops training there
    (learning-curve early stopping).

    Raises:
        TrainingError: when the loss becomes NaN or infinite (the run is recorded as failed by a search).
    """
    torch.manual_seed(recipe.seed)
    device = device_of(recipe)
    model.to(device)
    gen = torch.Generator().manual_seed(recipe.seed)
    xt = torch.as_tensor(data.x_train, dtype=torch.float32)
    yt = torch.as_tensor(data.y_train, dtype=torch.long)
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                                                     weight_decay=recipe.weight_decay, nesterov=recipe.momentum > 0)
    elif recipe.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    total_steps = _total_steps(recipe, len(yt))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps))
             if recipe.schedule == "cosine" else torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0))
    use_amp = recipe.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, step, history = 0, 0, []
    ckpt = Path(checkpoint) if checkpoint else None
    if resume and ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, step = int(state["epoch"]), int(state["step"])
        gen.set_state(state["generator"])
        history = [dict(h) for h in state.get("history", [])]
    t0 = time.perf_counter()
    bar = task = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                       TimeElapsedColumn(), console=console, transient=False)
        bar.start()
        task = bar.add_task("train", total=total_steps, completed=step, info="")
    model.train()
    try:
        last = recipe.epochs if until_epoch is None else min(recipe.epochs, until_epoch)
        for epoch in range(start_epoch, last):
            if step >= total_steps:
                break
            set_drop_path(model, recipe.drop_path * epoch / recipe.epochs)
            loss_sum, seen, correct = 0.0, 0, 0
            for xb, yb in _batches(xt, yt, recipe.batch_size, gen):
                if step >= total_steps:
                    break
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                with torch.autocast(device_type=device.type, enabled=use_amp):
                    out = model(xb)
                    aux = None
                    if isinstance(out, tuple):
                        out, aux = out
                    loss = F.cross_entropy(out, yb, label_smoothing=recipe.label_smoothing)
                    if aux is not None and recipe.auxiliary_weight > 0:
                        loss = loss + recipe.auxiliary_weight * F.cross_entropy(aux, yb, label_smoothing=recipe.label_smoothing)
                if not torch.isfinite(loss):
                    raise TrainingError(f"the loss became {loss.item()} at step {step} (epoch {epoch})")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if recipe.grad_clip > 0:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(params, recipe.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                step += 1
                loss_sum += loss.item() * len(yb)
                seen += len(yb)
                correct += (out.argmax(1) == yb).sum().item()
                if bar is not None:
                    bar.update(task, completed=step, info=f"epoch {epoch + 1}/{recipe.epochs} loss {loss_sum / seen:.3f}")
            valid_loss, valid_acc = evaluate(model, data.x_valid, data.y_valid, device=device)
            history.append({"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(1, seen),
                            "train_acc": correct / max(1, seen), "valid_loss": valid_loss, "valid_acc": valid_acc,
                            "lr": opt.param_groups[0]["lr"]})
            if ckpt is not None:
                save_checkpoint(ckpt, model, opt, sched, epoch + 1, step, gen, history)
            if on_epoch is not None and on_epoch(history):
                break
    finally:
        if bar is not None:
            bar.stop()
    valid_loss, valid_acc = evaluate(model, data.x_valid, data.y_valid, device=device)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test, device=device)
    metrics = {"valid_acc": valid_acc, "valid_loss": valid_loss, "test_acc": test_acc, "test_loss": test_loss,
               "train_loss": history[-1]["train_loss"] if history else float("nan"),
               "epochs": float(history[-1]["epoch"] if history else 0), "steps": float(step),
               "train_seconds": time.perf_counter() - t0}
    return FitResult(metrics, history)


def save_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, epoch: int, step: int,
                    gen: torch.Generator, history: list[dict[str, float]]) -> None:
    """Write atomically: a kill mid-write leaves the previous checkpoint intact."""
    save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "epoch": epoch, "step": step, "generator": gen.get_state(), "history": history}, path, "checkpoint")


def save_atomic(obj: Any, path: str | Path, what: str = "checkpoint") -> Path:
    """``torch.save`` into memory, then :func:`nasdsl.files.write_atomic`: a kill mid-write leaves the old
    file, and a full disk is one clear error (torch's own file writer aborts the process there)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_atomic(path, buf.getvalue(), what)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the model weights of a checkpoint (``weights_only=True``: no code runs)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"] if "model" in state else state)
    return model
