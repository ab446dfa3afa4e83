"""Samplers: which sample indices a DataLoader draws, in which order (PyTorch's protocol).

A sampler is any iterable of indices with ``__len__``; :class:`DataLoader` takes one as
``sampler=`` (one index at a time, batched by the loader) or ``batch_sampler=`` (lists of
indices). A sampler whose order changes per epoch (a distributed one) exposes
``set_epoch(epoch)``, called by the user before each epoch, as in PyTorch.

>>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.splits import SeedLike, as_generator

T_co = TypeVar("T_co", covariant=True)


class Sampler(Generic[T_co]):
    """Base class: subclass it and define ``__iter__`` (indices) and ``__len__``.

    Example:
        >>> class Evens(Sampler):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter(range(0, self.n, 2))
        ...     def __len__(self):
        ...         return (self.n + 1) // 2
        >>> list(Evens(5))
        [0, 2, 4]
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1 in order.

    Example:
        >>> list(SequentialSampler([7, 8, 9]))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh random permutation of the indices every time it is iterated.

    Args:
        data_source: anything with ``len``.
        replacement: draw ``num_samples`` indices with replacement instead of a permutation.
        num_samples: how many indices per epoch (default ``len(data_source)``).
        seed: int, numpy Generator or None; the order is reproducible from an int seed.

    Example:
        >>> sorted(RandomSampler(range(4), seed=0))
        [0, 1, 2, 3]
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, seed: SeedLike = None) -> None:
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        if num_samples is not None and int(num_samples) < 0:
            raise DataError(f"num_samples must be >= 0, got {num_samples}")
        if num_samples is not None and not replacement and int(num_samples) > len(data_source):
            raise DataError(f"num_samples={num_samples} exceeds the {len(data_source)} samples; "
                            "pass replacement=True to draw more")
        self.rng = as_generator(seed)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if self.replacement:
            return iter(self.rng.integers(0, n, size=self.num_samples).tolist())
        return iter(self.rng.permutation(n)[: self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a fresh random order every epoch.

    Example:
        >>> sorted(SubsetRandomSampler([5, 1, 3], seed=0))
        [1, 3, 5]
    """

    def __init__(self, indices: Sequence[int], seed: SeedLike = None) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.rng = as_generator(seed)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[self.rng.permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``.

    Args:
        sampler: any iterable of indices (with ``len`` for ``len(batch_sampler)``).
        batch_size: indices per batch (>= 1).
        drop_last: drop the final batch when it is smaller than ``batch_size``.

    Example:
        >>> list(BatchSampler(range(5), batch_size=2, drop_last=True))
        [[0, 1], [2, 3]]
    """

    def __init__(self, sampler: Sampler | Sequence[int], batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
