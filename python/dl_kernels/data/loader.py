"""DataLoader: mini-batches of numpy arrays, seeded shuffles, a transform hook.

The notes: SGD needs its sample "really random"; so each epoch draws a fresh permutation
from the loader's own Generator, and the transform hook (augmentation, noise) draws from the
same Generator, which makes an epoch reproducible from the seed, and its state can be saved
in a checkpoint and restored (state_dict / load_state_dict).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Callable, Union

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.splits import SeedLike, Split, as_generator

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Batch = Union[np.ndarray, tuple[np.ndarray, np.ndarray]]


class DataLoader:
    """Mini-batches over ``x`` (and ``y``), first axis = samples.

    Iterating yields ``(x_batch, y_batch)`` or, without ``y``, ``x_batch``. Every sample
    appears exactly once per epoch (except the dropped remainder when ``drop_last``).

    Args:
        x: inputs (N, ...), or a Split (then ``y`` comes from it).
        y: labels (N, ...) or None.
        batch_size: samples per batch (the last one may be smaller unless drop_last).
        shuffle: a fresh random order every epoch.
        seed: int, numpy Generator or None; drives the shuffles and the transform.
        drop_last: drop the final incomplete batch.
        transform: ``f(x_batch, rng) -> x_batch`` applied to each input batch (e.g.
            Compose([RandomShift(2), standardizer, GaussianNoise(0.1)]) for training).
    """

    def __init__(
        self,
        x: np.ndarray | Split,
        y: np.ndarray | None = None,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: SeedLike = None,
        drop_last: bool = False,
        transform: Transform | None = None,
    ) -> None:
        if isinstance(x, Split):
            if y is not None:
                raise DataError("pass either a Split or arrays x, y, not both")
            x, y = x.x, x.y
        x = np.asarray(x)
        if x.ndim == 0:
            raise DataError("x must have a samples axis, got a scalar")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise DataError(f"x has {len(x)} samples but y has {len(y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise DataError(f"batch_size must be >= 1 and an integer, got {batch_size!r}")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.rng = as_generator(seed)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[Batch]:
        n, b = self.num_samples, self.batch_size
        order = self.rng.permutation(n) if self.shuffle else None
        self.epoch += 1
        for i in range(len(self)):
            lo, hi = i * b, min((i + 1) * b, n)
            if order is None:
                xb = self.x[lo:hi]
                yb = None if self.y is None else self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb = self.x[idx]
                yb = None if self.y is None else self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb, self.rng)
            yield xb if yb is None else (xb, yb)

    def state_dict(self) -> dict:
        """The Generator state and epoch count, for exact resumption from a checkpoint."""
        return {"rng": self.rng.bit_generator.state, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
