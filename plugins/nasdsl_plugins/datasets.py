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
    """Every split scaled by the training split's mean and deviation: per channel for images of several
    channels, else one pair (digits and mnist1d, one channel, as they always were)."""
    x = ds.x_train
    if x.ndim == 4 and x.shape[1] > 1:
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        std = x.std(axis=(0, 2, 3), keepdims=True)
        std = np.where(std > 0, std, 1.0)
    else:
        mean, std = float(x.mean()), float(x.std()) or 1.0
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


NPZ_SPLITS = ("train", "valid", "test")


def _labels(y: np.ndarray, key: str, where: Path) -> np.ndarray:
    """``y`` as int64 class numbers, or a DataError that says what is wrong with it."""
    if y.ndim != 1:
        raise DataError(f"'{where}': {key} must be one label per example, shape (N,); got shape {list(y.shape)}")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"'{where}': {key} must hold integer class numbers; got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.complexfloating):
        bad = ~np.isfinite(y) | (y != np.round(y.real))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"'{where}': {key} must hold integer class numbers; {key}[{i}] is {y[i].item()!r} "
                            "(labels are not rounded or cut for you)")
        y = y.real
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise DataError(f"'{where}': {key} must hold class numbers 0, 1, 2, ...; {key}[{i}] is {y[i].item()!r}")
    return y.astype(np.int64)


def _inputs(x: np.ndarray, key: str, where: Path) -> np.ndarray:
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"'{where}': {key} must hold real numbers; got dtype {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"'{where}': {key} must be (N, features), (N, T, D) or (N, C, H, W): one row per example; "
                        f"got shape {list(x.shape)}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"'{where}': {key} holds NaN or infinite values")
    return x


_CHANNELS = (1, 2, 3, 4)  # what the channels of an image usually number (grey, grey+alpha, RGB, RGBA)


def _channels_first(data: dict[str, tuple[np.ndarray, np.ndarray]], where: Path) -> list[str]:
    """Images stored channels-last, (N, H, W, C) as numpy, PIL and TensorFlow keep them, are made (N, C, H, W);
    the notes say so.  Only a layout that cannot be channels-first is turned: C of 1-4 last, not second."""
    x = data["train"][0]
    if x.ndim != 4 or x.shape[3] not in _CHANNELS or x.shape[1] in _CHANNELS:
        return []
    for s, (xs, ys) in data.items():
        data[s] = (np.ascontiguousarray(xs.transpose(0, 3, 1, 2)), ys)
    n, h, w, c = x.shape
    return [f"'{where}': images of shape [{h}, {w}, {c}] read as channels-last (N, H, W, C) and turned to "
            f"[{c}, {h}, {w}] (save them as (N, C, H, W) to skip this)"]


def load_npz(path: str | Path, seed: int = 0) -> Dataset:
    """Arrays from an .npz file: x_train, y_train, x_test, y_test and optionally x_valid, y_valid
    (else 20 % of train, stratified).  Read with allow_pickle=False: no code runs.

    Every array is checked as it is read, each with a message that names it: inputs of real numbers, one
    row per example ((N, features) becomes [1, 1, features]), the same example shape in every split;
    labels that are whole class numbers from 0 (float labels are refused unless whole, never cut),
    as many as the examples; no split empty; every class of valid and test present in train; and,
    when valid is split off train, at least two training examples of each class.

    Images in (N, H, W, C) with 1-4 channels last are turned to (N, C, H, W) (a note says so); every split
    is standardized with the training split's mean and deviation (per channel for images), as digits is.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no such .npz file '{p}'")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"cannot read '{p}' as .npz arrays: {e}") from None
    for k in ("x_train", "y_train", "x_test", "y_test"):
        if k not in arrays:
            raise DataError(f"'{p}' has no array '{k}' (it has: {', '.join(sorted(arrays)) or 'none'})")
    if ("x_valid" in arrays) != ("y_valid" in arrays):
        have, missing = ("x_valid", "y_valid") if "x_valid" in arrays else ("y_valid", "x_valid")
        raise DataError(f"'{p}' has '{have}' but no '{missing}': give both, or neither (then 20 % of train is "
                        "held out for validation)")
    splits = [s for s in NPZ_SPLITS if f"x_{s}" in arrays]
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for s in splits:
        x, y = _inputs(arrays[f"x_{s}"], f"x_{s}", p), _labels(arrays[f"y_{s}"], f"y_{s}", p)
        if len(x) != len(y):
            raise DataError(f"'{p}': x_{s} has {len(x)} examples but y_{s} has {len(y)} labels")
        if not len(x):
            raise DataError(f"'{p}': the {s} split is empty (x_{s} has shape {list(arrays[f'x_{s}'].shape)})")
        if x.shape[1:] != data.get("train", (x,))[0].shape[1:]:
            raise DataError(f"'{p}': x_{s}'s examples have shape {list(x.shape[1:])} but x_train's have "
                            f"{list(data['train'][0].shape[1:])}")
        data[s] = (x, y)
    known = set(np.unique(data["train"][1]).tolist())
    for s in splits[1:]:
        unseen = sorted(set(np.unique(data[s][1]).tolist()) - known)
        if unseen:
            raise DataError(f"'{p}': y_{s} has class {unseen[0]}, which no training example has")
    if "valid" not in data:
        y = data["train"][1]
        counts = np.bincount(y)
        few = [c for c in np.flatnonzero(counts) if counts[c] < 2]
        if few:
            raise DataError(f"'{p}': class {int(few[0])} has {int(counts[few[0]])} training example; holding out a "
                            "stratified 20 % for validation needs at least 2 of each class (or give x_valid, y_valid)")
        n_classes = int(np.count_nonzero(counts))
        if int(np.ceil(0.2 * len(y))) < n_classes or len(y) - int(np.ceil(0.2 * len(y))) < n_classes:
            raise DataError(f"'{p}': {len(y)} training examples are too few to hold out a stratified 20 % for "
                            f"validation with {n_classes} classes (give x_valid, y_valid, or more examples)")
        x_train, y_train, x_valid, y_valid = _split(*data["train"], 0.2, seed)
        data["train"], data["valid"] = (x_train, y_train), (x_valid, y_valid)
    notes = _channels_first(data, p)
    ds = _standardize(Dataset(p.stem, *data["train"], *data["valid"], *data["test"], notes=notes))
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
