"""Built-in datasets: scikit-learn digits (the default), MNIST-1D (generated offline) as signals or as
token sequences, .npz arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasdsl import hookimpl
from nasdsl.datasets import Dataset
from nasdsl.errors import NasdslError


class DataError(NasdslError):
    """A dataset that cannot be loaded (missing file, bad arrays)."""


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """A stratified split: (x_a, y_a, x_b, y_b) with ``fraction`` of each class in b."""
    from sklearn.model_selection import train_test_split

    xa, xb, ya, yb = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)
    return xa, ya, xb, yb


def _standardize(ds: Dataset) -> Dataset:
    mean, std = float(ds.x_train.mean()), float(ds.x_train.std()) or 1.0
    for split in ("x_train", "x_valid", "x_test"):
        setattr(ds, split, ((getattr(ds, split) - mean) / std).astype(np.float32))
    return ds


def load_digits(seed: int = 0) -> Dataset:
    """1,797 real 8x8 handwritten digits shipped inside scikit-learn: 1,149 train / 288 valid / 360 test."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    x_rest, y_rest, x_test, y_test = _split(x, y, 0.2, seed)
    x_train, y_train, x_valid, y_valid = _split(x_rest, y_rest, 0.2, seed)
    return _standardize(Dataset("digits", x_train, y_train, x_valid, y_valid, x_test, y_test))


def load_mnist1d(seed: int = 0, num_samples: int = 5000) -> Dataset:
    """MNIST-1D generated offline with ``make_dataset`` (never its download path); examples are [1, 1, 40]."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError("mnist1d is not installed (pip install mnist1d)") from None
    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    data = make_dataset(args)
    x = np.asarray(data["x"], dtype=np.float32)[:, None, None, :]
    y = np.asarray(data["y"], dtype=np.int64)
    x_test = np.asarray(data["x_test"], dtype=np.float32)[:, None, None, :]
    y_test = np.asarray(data["y_test"], dtype=np.int64)
    x_train, y_train, x_valid, y_valid = _split(x, y, 0.2, seed)
    return _standardize(Dataset("mnist1d", x_train, y_train, x_valid, y_valid, x_test, y_test))


def load_mnist1d_seq(seed: int = 0, num_samples: int = 5000, tokens: int = 8) -> Dataset:
    """MNIST-1D as sequences for token models: each 40-sample signal cut into ``tokens`` consecutive
    pieces of 40 / tokens samples, so an example is [tokens, 40 / tokens] ([8, 5] by default: token t
    holds samples 5t .. 5t + 4).  Same examples, splits and standardization as ``mnist1d``; offline."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1 or 40 % tokens:
        raise DataError(f"mnist1d-seq cuts the 40-sample signals into equal tokens: tokens must divide 40; got {tokens!r}")
    ds = load_mnist1d(seed=seed, num_samples=num_samples)
    for split in ("x_train", "x_valid", "x_test"):
        x = getattr(ds, split)
        setattr(ds, split, np.ascontiguousarray(x.reshape(len(x), tokens, x.shape[-1] // tokens)))
    ds.name = "mnist1d-seq"
    return ds


def load_npz(path: str | Path, seed: int = 0) -> Dataset:
    """Arrays from an .npz file: x_train, y_train, x_test, y_test and optionally x_valid, y_valid
    (else 20 % of train, stratified).  Read with allow_pickle=False: no code runs."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no such .npz file '{p}'")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as e:
        raise DataError(f"cannot read '{p}' as .npz arrays: {e}") from None
    for k in ("x_train", "y_train", "x_test", "y_test"):
        if k not in arrays:
            raise DataError(f"'{p}' has no array '{k}' (it has: {', '.join(sorted(arrays)) or 'none'})")
    x_train, y_train = arrays["x_train"].astype(np.float32), arrays["y_train"].astype(np.int64)
    if "x_valid" in arrays and "y_valid" in arrays:
        x_valid, y_valid = arrays["x_valid"].astype(np.float32), arrays["y_valid"].astype(np.int64)
    else:
        x_train, y_train, x_valid, y_valid = _split(x_train, y_train, 0.2, seed)
    ds = Dataset(p.stem, x_train, y_train, x_valid, y_valid, arrays["x_test"].astype(np.float32),
                 arrays["y_test"].astype(np.int64))
    if ds.x_train.ndim == 2:  # flat features: one channel row
        for split in ("x_train", "x_valid", "x_test"):
            setattr(ds, split, getattr(ds, split)[:, None, None, :])
    return ds


@hookimpl
def register_datasets(register):
    register("digits", load_digits)
    register("mnist1d", load_mnist1d)
    register("mnist1d-seq", load_mnist1d_seq)
    register("npz", load_npz)
