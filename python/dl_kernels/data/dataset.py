"""Data sets as PyTorch defines them: classes to subclass, and the usual helpers.

A *map-style* data set (:class:`Dataset`) has ``__getitem__(i)`` and ``__len__()``: sample
``i`` of ``len(ds)``. An *iterable-style* one (:class:`IterableDataset`) has ``__iter__()``
and streams its samples. :class:`~dl_kernels.data.DataLoader` batches either.

>>> import numpy as np
>>> from dl_kernels.data import TensorDataset, random_split
>>> ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 1]))
>>> x, y = ds[1]
>>> len(ds), x.tolist(), int(y)
(5, [2.0, 3.0], 1)
>>> train, val = random_split(ds, [4, 1], seed=0)
>>> len(train), len(val)
(4, 1)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.splits import SeedLike, as_generator

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map-style data set: subclass it and define ``__getitem__`` and ``__len__``.

    ``ds[i]`` returns sample ``i`` (any object: an array, a tuple ``(x, y)``, a dict);
    ``len(ds)`` is the number of samples. ``ds1 + ds2`` concatenates.

    Example:
        >>> import numpy as np
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return float(i), float(i * i)
        >>> len(Squares()), Squares()[3]
        (4, (3.0, 9.0))
    """

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Generic[T_co]):
    """An iterable-style data set: subclass it and define ``__iter__`` (a stream of samples).

    Use it for data that is read sequentially (a file, a generator). With
    ``DataLoader(num_workers=k)`` every worker runs its own copy of ``__iter__``; split the
    work with :func:`get_worker_info` or each sample is produced ``k`` times, as in PyTorch.

    Example:
        >>> class Count(IterableDataset):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter(range(self.n))
        >>> list(Count(3))
        [0, 1, 2]
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays or Tensors: ``ds[i] = (a[i], b[i], ...)``.

    Args:
        *tensors: arrays or Tensors, all with the same first dimension (the samples).

    Example:
        >>> import numpy as np
        >>> ds = TensorDataset(np.zeros((3, 2), np.float32), np.array([1, 2, 3]))
        >>> len(ds), int(ds[2][1])
        (3, 3)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise DataError("TensorDataset needs at least one array or Tensor")
        sizes = [len(t) for t in tensors]
        if any(s != sizes[0] for s in sizes):
            raise DataError(f"TensorDataset arrays must have the same first dimension, got {sizes}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``sub[i] = dataset[indices[i]]``.

    Example:
        >>> import numpy as np
        >>> sub = Subset(TensorDataset(np.arange(5)), [4, 0])
        >>> [int(sub[i][0]) for i in range(len(sub))]
        [4, 0]
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style data sets one after the other.

    Example:
        >>> import numpy as np
        >>> both = TensorDataset(np.arange(2)) + TensorDataset(np.arange(3))
        >>> len(both), int(both[2][0])
        (5, 0)
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise DataError("ConcatDataset needs at least one data set")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise DataError("ConcatDataset does not take an IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for a data set of {n} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][index - start]


def random_split(
    dataset: Dataset, lengths: Sequence[int | float], seed: SeedLike = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    Args:
        dataset: a map-style data set.
        lengths: sample counts summing to ``len(dataset)``, or fractions summing to 1 (the
            remainder of the rounding down goes round-robin to the first subsets, as PyTorch).
        seed: int, numpy Generator or None (the role of PyTorch's ``generator``).

    Example:
        >>> import numpy as np
        >>> a, b, c = random_split(TensorDataset(np.arange(10)), [0.5, 0.3, 0.2], seed=1)
        >>> len(a), len(b), len(c)
        (5, 3, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0):
        if any(not 0.0 <= x <= 1.0 for x in lengths):
            raise DataError(f"fractions must be in [0, 1], got {lengths}")
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
        if any(c < 0 for c in counts) or sum(counts) != n:
            raise DataError(
                f"lengths must be non-negative and sum to the data set's {n} samples "
                f"(or be fractions summing to 1), got {lengths}"
            )
    order = as_generator(seed).permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, order[start : start + c].tolist()))
        start += c
    return out
