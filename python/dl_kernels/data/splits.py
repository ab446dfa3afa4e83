"""Train / validation / test splits, seeded and optionally stratified.

The notes: split the data into a training set, a validation set (to tune and to stop early)
and a test set (touched once, at the end). Stratified splits keep each class's share the
same in every split (largest-remainder rounding, so the sizes are exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from dl_kernels.data._errors import DataError

SeedLike = Union[None, int, np.random.Generator]


def as_generator(seed: SeedLike) -> np.random.Generator:
    """``seed`` as a Generator: an int seeds a new one, a Generator is used as is, None
    draws fresh entropy."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise DataError(f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}")


@dataclass
class Split:
    """One split: inputs ``x`` (N, ...) and labels ``y`` (N,)."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(f"x has {len(self.x)} samples but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.x)

    def take(self, n: int | None) -> Split:
        """The first ``n`` samples (all when n is None)."""
        return self if n is None else Split(self.x[:n], self.y[:n])


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise DataError(f"{name} must be in [0, 1), got {value}")
    return value


def _stratified_pick(
    labels: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``count`` samples drawn class by class in proportion, and the rest."""
    classes, inverse = np.unique(labels, return_inverse=True)
    per_class = np.bincount(inverse, minlength=len(classes))
    ideal = per_class * (count / max(len(labels), 1))
    take = np.floor(ideal).astype(np.int64)
    remainder = ideal - take
    # Largest remainder first; ties by a random order so no class is always favoured.
    order = np.lexsort((rng.permutation(len(classes)), -remainder))
    for c in order[: count - int(take.sum())]:
        take[c] += 1
    picked, rest = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        picked.append(members[: take[c]])
        rest.append(members[take[c] :])
    return np.concatenate(picked), np.concatenate(rest)


def split_indices(
    n: int,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: SeedLike = 0,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint index arrays (train, val, test) covering range(n), each in random order.

    ``test_fraction`` and ``val_fraction`` are shares of all n samples (rounded to the
    nearest integer); pass class labels as ``stratify`` to keep class shares equal.
    """
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise DataError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    rng = as_generator(seed)
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    if stratify is None:
        perm = rng.permutation(n)
        return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]
    labels = np.asarray(stratify)
    if labels.shape != (n,):
        raise DataError(f"stratify labels must have shape ({n},), got {labels.shape}")
    test_pos, rest = _stratified_pick(labels, n_test, rng)
    val_pos, train_pos = _stratified_pick(labels[rest], n_val, rng)
    val_idx, train_idx = rest[val_pos], rest[train_pos]
    # Shuffle within each split so its first k samples are a fair subset.
    return rng.permutation(train_idx), rng.permutation(val_idx), rng.permutation(test_pos)


def train_val_test_split(
    x: np.ndarray,
    y: np.ndarray,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: SeedLike = 0,
    stratify: bool = True,
) -> tuple[Split, Split, Split]:
    """(train, val, test) Splits of (x, y); see split_indices."""
    if len(x) != len(y):
        raise DataError(f"x has {len(x)} samples but y has {len(y)}")
    tr, va, te = split_indices(len(x), val_fraction, test_fraction, seed, y if stratify else None)
    return Split(x[tr], y[tr]), Split(x[va], y[va]), Split(x[te], y[te])


def train_val_split(
    x: np.ndarray, y: np.ndarray, val_fraction: float = 0.1, seed: SeedLike = 0,
    stratify: bool = True,
) -> tuple[Split, Split]:  # fmt: skip
    """(train, val) Splits of (x, y), val_fraction of the samples going to val."""
    train, val, _ = train_val_test_split(x, y, val_fraction, 0.0, seed, stratify)
    return train, val
