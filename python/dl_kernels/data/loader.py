"""DataLoader: mini-batches of numpy arrays, seeded shuffles, a transform hook.

The notes: SGD needs its sample "really random"; so each epoch draws a fresh permutation
from the loader's own Generator, and the transform hook (augmentation, noise) draws from the
same Generator, which makes an epoch reproducible from the seed, and its state can be saved
in a checkpoint and restored (state_dict / load_state_dict).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Callable, Union

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.splits import SeedLike, Split, as_generator

if TYPE_CHECKING:
    from dl_kernels.distributed import DistributedSampler

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
        sampler: a ``dl_kernels.distributed.DistributedSampler`` (data-parallel training):
            the batches are this rank's shares of the sampler's global batches, which set the
            order and batch size instead of ``batch_size``/``shuffle``/``drop_last``. Epoch e
            calls ``sampler.set_epoch(e)``, and the transform draws from a generator seeded
            by (seed, e, rank), so an epoch depends only on the epoch count in
            ``state_dict()`` whatever the number of ranks.
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
        sampler: DistributedSampler | None = None,
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
        if int(batch_size) < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.rng = as_generator(seed)
        self.epoch = 0
        self.sampler = sampler
        if sampler is not None:
            if sampler.num_samples != len(x):
                raise DataError(f"the sampler covers {sampler.num_samples} samples but x has "
                                f"{len(x)}")
            if seed is not None and not isinstance(seed, (int, np.integer)):
                raise DataError("with a sampler, seed must be an int (it seeds each epoch's "
                                "transform generator)")
            self._seed = 0 if seed is None else int(seed)

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        if self.sampler is not None:
            return len(self.sampler)
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[Batch]:
        if self.sampler is not None:
            yield from self._iter_sampler()
            return
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

    def _iter_sampler(self) -> Iterator[Batch]:
        sampler = self.sampler
        sampler.set_epoch(self.epoch)
        rng = np.random.default_rng([self._seed, self.epoch, sampler.rank])
        self.epoch += 1
        for idx in sampler:
            xb = self.x[idx]
            yb = None if self.y is None else self.y[idx]
            if self.transform is not None and len(idx):
                xb = self.transform(xb, rng)
            yield xb if yb is None else (xb, yb)

    def state_dict(self) -> dict:
        """The Generator state and epoch count, for exact resumption from a checkpoint."""
        return {"rng": self.rng.bit_generator.state, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
