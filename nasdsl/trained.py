"""A stored trial as a model: its architecture rebuilt from the store's meta, with the weights it trained.

``nasdsl export STORE --trial N`` and the report's ``best_model.pt`` both come from here.  Weights are
read with ``torch.load(weights_only=True)``: a weights file cannot execute code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .errors import NasdslError
from .space import Space
from .store import Store, TrialRecord, trial_dir

TRAINING_ESTIMATORS = ("train", "sha", "hyperband")


def input_shape(meta: dict[str, Any]) -> Optional[tuple[int, ...]]:
    """The input the search's estimator trained on (its data's shape), or None (the space's own)."""
    if meta.get("estimator") in TRAINING_ESTIMATORS:
        from .datasets import load_dataset

        return load_dataset(meta.get("data") or "digits").input_shape
    return None


def architecture(store: Store, trial: TrialRecord) -> Any:
    """The trial's Architecture IR, realized as the search realized it."""
    meta = store.meta()
    space = Space.from_file(meta["space"], network=meta.get("network"), params=meta.get("params") or None)
    return space.realize(trial.genotype, input_shape=input_shape(meta))


def weights_file(store: Store, trial: TrialRecord) -> Optional[Path]:
    """The ``model.pt`` the trial saved (``-E save_model=true``, the default of ``train``), or None."""
    key = store.meta().get("trial_key")
    folders = [trial_dir(store.path, trial.hash, key)] + ([trial_dir(store.path, trial.hash)] if key else [])
    return next((f / "model.pt" for f in folders if (f / "model.pt").is_file()), None)  # or an older layout


def load_weights(model: Any, path: str | Path) -> None:
    """Load a weights file (``{"model": state_dict}`` as trials save them, or a bare state dict) into
    ``model``; a file for another architecture is refused naming what does not fit."""
    import torch

    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NasdslError(f"no such weights file '{path}'") from None
    except Exception as e:  # a damaged file, or one holding anything but tensors (weights_only refuses it)
        raise NasdslError(f"cannot read weights from '{path}': {type(e).__name__}: {str(e).splitlines()[0]}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise NasdslError(f"'{path}' holds no state dict of weights")
    state = {k: v for k, v in state.items() if not str(k).startswith("aux.")}
    want = {k: v.shape for k, v in model.state_dict().items()}
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    wrong = sorted(k for k in set(want) & set(state) if tuple(getattr(state[k], "shape", ())) != tuple(want[k]))
    if missing or extra or wrong:
        parts = [f"{what} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", extra), ("of another shape", wrong)) if keys]
        raise NasdslError(f"the weights in '{path}' are not this architecture's: " + "; ".join(parts))
    model.load_state_dict(state)


def trained_model(store: Store, trial: TrialRecord, arch: Any) -> tuple[Any, bool]:
    """The trial's model built from ``arch``, with its trained weights loaded when it saved them;
    (model, whether it is trained)."""
    from .plugins import get_backend

    model = get_backend("torch")().build(arch)
    weights = weights_file(store, trial)
    if weights is None:
        return model, False
    load_weights(model, weights)
    return model, True
