"""Data parallelism: ``DistributedDataParallel`` (gradients averaged over MPI ranks)."""

from __future__ import annotations

from dl_kernels.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
