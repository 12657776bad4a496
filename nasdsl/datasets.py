"""Data for training: a small container of numpy arrays, and ``load_dataset(name)``.

The loaders themselves are plugins (``register_datasets``); the built-ins are
``digits`` (scikit-learn's 8x8 digits, the embedded default), ``mnist1d``
(generated offline) and ``npz`` (your own arrays).  Nothing downloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """Fixed train / valid / test splits; ``x`` is float32 (N, *input_shape), ``y`` int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    notes: list[str] = field(default_factory=list)  # what the loader did that the user should know (printed)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_valid.max(), self.y_test.max())) + 1

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "valid": len(self.y_valid), "test": len(self.y_test)}

    def subset(self, fraction: float, seed: int = 0) -> "Dataset":
        """The same splits with only a fraction of the training examples (a lower fidelity)."""
        rng = np.random.default_rng(seed)
        n = max(1, int(round(len(self.y_train) * fraction)))
        idx = np.sort(rng.permutation(len(self.y_train))[:n])
        return Dataset(f"{self.name}[{fraction:g}]", self.x_train[idx], self.y_train[idx], self.x_valid,
                       self.y_valid, self.x_test, self.y_test, list(self.notes))


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """Load a registered dataset by name (``digits``, ``mnist1d``, ``npz`` with ``path=``);
    ``npz:PATH``, or a name ending in ``.npz``, is that file, read by the ``npz`` loader."""
    from .plugins import get_dataset

    if name.startswith("npz:"):
        return get_dataset("npz")(path=name[4:], **kwargs)
    if name.endswith(".npz"):
        return get_dataset("npz")(path=name, **kwargs)
    return get_dataset(name)(**kwargs)
