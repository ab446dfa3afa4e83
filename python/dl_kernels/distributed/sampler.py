"""DistributedSampler: each rank's disjoint share of every global mini-batch.

PyTorch's DistributedSampler deals whole-epoch shards; here each *global* batch (the batch a
one-process run would take) is cut into ``num_replicas`` contiguous pieces and rank r takes
piece r, so whatever the world size the ranks together see exactly the one-process run's
batches, in the same order. With gradients averaged by sample count (see
``DistributedDataParallel``), N ranks then take the same optimisation steps as one process:
same global batch, same curve. The order is a permutation drawn from ``(seed, epoch)``, so
every rank draws the same one without talking, and it is reshuffled per epoch
(``set_epoch``, which our DataLoader calls).

Needs no MPI: ``num_replicas`` and ``rank`` default to the initialised job's (1 and 0 without).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def shard_range(n: int, rank: int, num_replicas: int) -> tuple[int, int]:
    """[lo, hi) of rank's contiguous piece of n items: sizes differ by at most one, the first
    ``n % num_replicas`` ranks take the extra item."""
    base, extra = divmod(int(n), int(num_replicas))
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class DistributedSampler:
    """Index batches for one rank.

    Args:
        num_samples: data set size.
        batch_size: the *global* batch (all ranks together), as a one-process run's.
        num_replicas, rank: the job's world size and this rank (default: from
            ``dl_kernels.distributed``, which must then be initialised for more than one).
        shuffle: a fresh permutation per epoch from ``(seed, epoch)``.
        seed: the same on every rank.
        drop_last: drop the final incomplete global batch.

    Iterating yields this rank's index array for each global batch (possibly empty when a
    final global batch has fewer samples than ranks); ``global_size(i)`` is batch i's global
    size, for weighting a rank's mean loss.
    """

    def __init__(self, num_samples: int, batch_size: int, *, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from dl_kernels.distributed import _mpi

            num_replicas = _mpi.get_world_size() if num_replicas is None else num_replicas
            rank = _mpi.get_rank() if rank is None else rank
        if int(num_replicas) < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= int(rank) < int(num_replicas):
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        if int(batch_size) < int(num_replicas):
            raise ValueError(f"the global batch size {batch_size} is smaller than the "
                             f"{num_replicas} ranks: every rank needs a sample")
        if int(num_samples) < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch's permutation (call before iterating, with the same value on
        every rank)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self) -> np.ndarray:
        """The epoch's global sample order (identical on every rank)."""
        if not self.shuffle:
            return np.arange(self.num_samples)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples)

    def global_size(self, i: int) -> int:
        b = self.batch_size
        return max(0, min(b, self.num_samples - i * b))

    def global_batches(self) -> Iterator[np.ndarray]:
        order, b = self.order(), self.batch_size
        for i in range(len(self)):
            yield order[i * b:(i + 1) * b]

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self.global_batches():
            lo, hi = shard_range(len(batch), self.rank, self.num_replicas)
            yield batch[lo:hi]
